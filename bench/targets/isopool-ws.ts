// Bench target: isopool with one WebSocket route, /ws, echoing (./ws-handlers.ts).
// Usage: node bench/targets/isopool-ws.ts [--isolates n] (default 1)

import { parseArgs } from 'node:util'
import { createServer } from 'isopool'
import { ready } from './lifecycle.ts'

const { values } = parseArgs({ options: { isolates: { type: 'string', default: '1' } } })
const server = createServer({
  isolates: Number(values.isolates),
  root: import.meta.dirname,
  routes: [{ path: '/ws', websocket: './ws-handlers.ts#echo' }]
})
const { port } = await server.listen({ port: 0, host: '127.0.0.1' })
ready(port, () => server.close())
