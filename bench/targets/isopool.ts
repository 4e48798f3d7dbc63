// Bench target: isopool through its public API, every scenario's route served from
// ./handlers.ts. Usage: node bench/targets/isopool.ts [--isolates n]   (default 1)
// ISOPOOL_POLL=µs in the environment sets the `poll` option (default 'auto'), to compare.

import { parseArgs } from 'node:util'
import { createServer } from 'isopool'
import { MAX_BODY } from '../scenarios.ts'
import { ready } from './lifecycle.ts'

const { values } = parseArgs({ options: { isolates: { type: 'string', default: '1' } } })

const server = createServer({
  isolates: Number(values.isolates),
  root: import.meta.dirname,
  maxBodySize: MAX_BODY,
  poll: process.env.ISOPOOL_POLL === undefined ? 'auto' : Number(process.env.ISOPOOL_POLL),
  routes: [
    { method: 'GET', path: '/', handler: './handlers.ts#hello' },
    { method: 'GET', path: '/async', handler: './handlers.ts#helloAsync' },
    { method: 'GET', path: '/users/:id', handler: './handlers.ts#params' },
    { method: 'POST', path: '/echo', handler: './handlers.ts#echo' },
    { method: 'GET', path: '/cpu', handler: './handlers.ts#cpu' },
    { method: 'GET', path: '/sqlite', handler: './handlers.ts#sqlite' }
  ],
  // The typed scenarios: route() declarations with TypeBox schemas.
  modules: ['./typed-routes.ts']
})
const { port } = await server.listen({ port: 0, host: '127.0.0.1' })
ready(port, () => server.close())
