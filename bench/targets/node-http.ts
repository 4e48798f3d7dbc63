// Bench target: bare node:http, the floor every framework adds to. GET / → {"hello":"world"},
// serialized per request like the others; anything else → 404.

import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { ready } from './lifecycle.ts'

const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/') {
    const body = JSON.stringify({ hello: 'world' })
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) })
    res.end(body)
  } else {
    res.writeHead(404).end()
  }
})
await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
ready((server.address() as AddressInfo).port, () => new Promise<void>((resolve) => {
  server.close(() => resolve())
  server.closeAllConnections()
}))
