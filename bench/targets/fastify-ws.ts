// Bench target: Fastify 5 + @fastify/websocket, /ws echoing every message on its one event loop.
// Usage: node bench/targets/fastify-ws.ts

import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import { ready } from './lifecycle.ts'

const app = Fastify({ logger: false })
await app.register(websocket)
app.register(async (scope) => {
  scope.get('/ws', { websocket: true }, (socket) => {
    socket.on('message', (data: Buffer, isBinary: boolean) => socket.send(data, { binary: isBinary }))
  })
})
await app.listen({ port: 0, host: '127.0.0.1' })
const address = app.server.address()
ready(typeof address === 'object' && address !== null ? address.port : 0, () => app.close())
