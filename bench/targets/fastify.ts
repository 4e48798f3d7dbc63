// Bench target: Fastify 5, every scenario handled inline on its one event loop (fastify-app.ts).
// Usage: node bench/targets/fastify.ts [--services SET]: the services run's, a set of
// bench/service-sets.ts with Fastify's equivalent plugins (fastify-services.ts).

import { parseArgs } from 'node:util'
import { openSqlite } from '../scenarios.ts'
import { parseServiceSet } from '../service-sets.ts'
import { buildApp, listen } from './fastify-app.ts'
import { buildServicesApp } from './fastify-services.ts'
import { ready } from './lifecycle.ts'

const { values } = parseArgs({ options: { services: { type: 'string' } } })
const services = values.services === undefined ? null : parseServiceSet(values.services)
if (services === null && values.services !== undefined) throw new Error(`--services: not a set of services: ${values.services}`)

openSqlite()
const app = services === null ? buildApp() : await buildServicesApp(services)
ready(await listen(app), () => app.close())
