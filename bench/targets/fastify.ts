// Bench target: Fastify 5, every scenario handled inline on its one event loop (fastify-app.ts).

import { openSqlite } from '../scenarios.ts'
import { buildApp, listen } from './fastify-app.ts'
import { ready } from './lifecycle.ts'

openSqlite()
const app = buildApp()
ready(await listen(app), () => app.close())
