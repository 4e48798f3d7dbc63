// Bench target: isopool through its public API, every scenario's route served from
// ./handlers.ts. Usage: node bench/targets/isopool.ts [--isolates n] [--services SET]
// (default 1 isolate; without --services, isopool's defaults). --services is the services run's:
// a set of bench/service-sets.ts (off, all, cors, cors+logger, …) turned on, every other service
// off (./isopool-services.ts).
// ISOPOOL_POLL=µs in the environment sets the `poll` option (default 'auto'), to compare;
// --placement POLICY the `placement` option.

import { parseArgs } from 'node:util'
import { createServer } from 'isopool'
import { MAX_BODY } from '../scenarios.ts'
import { parseServiceSet } from '../service-sets.ts'
import { isopoolServices } from './isopool-services.ts'
import { ready } from './lifecycle.ts'

const { values } = parseArgs({ options: { isolates: { type: 'string', default: '1' }, services: { type: 'string' }, placement: { type: 'string' } } })
const services = values.services === undefined ? null : parseServiceSet(values.services)
if (services === null && values.services !== undefined) throw new Error(`--services: not a set of services: ${values.services}`)

const server = createServer({
  isolates: Number(values.isolates),
  root: import.meta.dirname,
  maxBodySize: MAX_BODY,
  poll: process.env.ISOPOOL_POLL === undefined ? 'auto' : Number(process.env.ISOPOOL_POLL),
  // --placement spread|warm: the `placement` option (bench/run.ts's isopool-N@POLICY targets).
  ...(values.placement === undefined ? {} : { placement: values.placement as 'spread' | 'warm' }),
  routes: [
    { method: 'GET', path: '/', handler: './handlers.ts#hello' },
    { method: 'GET', path: '/async', handler: './handlers.ts#helloAsync' },
    { method: 'GET', path: '/users/:id', handler: './handlers.ts#params' },
    { method: 'POST', path: '/echo', handler: './handlers.ts#echo' },
    { method: 'GET', path: '/cpu', handler: './handlers.ts#cpu' },
    { method: 'GET', path: '/sqlite', handler: './handlers.ts#sqlite' },
    { method: 'GET', path: '/json-16k', handler: './handlers.ts#json16k' }
  ],
  // The typed scenarios: route() declarations with TypeBox schemas.
  modules: ['./typed-routes.ts'],
  ...(services === null ? {} : isopoolServices(services))
})
const { port } = await server.listen({ port: 0, host: '127.0.0.1' })
ready(port, () => server.close())
