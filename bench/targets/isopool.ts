// Bench target: isopool, through its public API, serving GET / from ./handlers.ts#hello.
// Usage: node bench/targets/isopool.ts [--isolates n]   (default 1)

import { parseArgs } from 'node:util'
import { createServer } from 'isopool'
import { ready } from './lifecycle.ts'

const { values } = parseArgs({ options: { isolates: { type: 'string', default: '1' } } })

const server = createServer({
  isolates: Number(values.isolates),
  root: import.meta.dirname,
  routes: [{ method: 'GET', path: '/', handler: './handlers.ts#hello' }]
})
const { port } = await server.listen({ port: 0, host: '127.0.0.1' })
ready(port, () => server.close())
