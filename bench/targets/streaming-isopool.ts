// Streaming bench target: isopool through its public API (bench/streaming.ts).
// Usage: node bench/targets/streaming-isopool.ts [--isolates n]
// ISOPOOL_RING_SIZE=bytes in the environment sets the `ringSize` option (default 256 KiB), to compare.

import { parseArgs } from 'node:util'
import { createServer } from 'isopool'
import { ready } from './lifecycle.ts'

const { values } = parseArgs({ options: { isolates: { type: 'string', default: '1' } } })
const server = createServer({
  isolates: Number(values.isolates),
  root: import.meta.dirname,
  // A bench client is one process with thousands of connections: no per-request id or log.
  requestId: false,
  ...(process.env.ISOPOOL_RING_SIZE === undefined ? {} : { ringSize: Number(process.env.ISOPOOL_RING_SIZE) }),
  routes: [
    { method: 'GET', path: '/sse', handler: './streaming-handlers.ts#sseEvents' },
    { method: 'GET', path: '/download', handler: './streaming-handlers.ts#download' },
    { method: 'GET', path: '/endless', handler: './streaming-handlers.ts#endless' }
  ]
})
const { port } = await server.listen({ port: 0, host: '127.0.0.1' })
ready(port, () => server.close())
