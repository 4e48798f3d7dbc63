// Bench target: Fastify 5 with its defaults (no logger, no response schema: JSON.stringify, as
// in Fastify's own getting-started example). GET / → {"hello":"world"}.

import Fastify from 'fastify'
import { ready } from './lifecycle.ts'

const app = Fastify({ logger: false })
app.get('/', async () => ({ hello: 'world' }))
await app.listen({ port: 0, host: '127.0.0.1' })
const address = app.server.address()
if (address === null || typeof address === 'string') throw new Error('fastify: no TCP address')
ready(address.port, () => app.close())
