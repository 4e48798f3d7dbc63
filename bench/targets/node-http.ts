// Bench target: bare node:http, the floor every framework adds to; routing by hand, bodies read
// and JSON.parse'd by hand, as node:http's own docs show. Serves every scenario of
// bench/scenarios.ts with its shared handler logic; anything else → 404.

import { createServer } from 'node:http'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { cpu, hello, helloAsync, json16k, MAX_BODY, openSqlite, params, sqlite } from '../scenarios.ts'
import { ready } from './lifecycle.ts'

openSqlite()

function send (res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value)
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) })
  res.end(body)
}

function readBody (req: IncomingMessage): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > MAX_BODY) {
        resolve(null)
        req.destroy()
      } else {
        chunks.push(chunk)
      }
    })
    req.on('end', () => resolve(Buffer.concat(chunks, size)))
    req.on('error', reject)
  })
}

async function echo (req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await readBody(req)
  if (body === null) return send(res, 413, { error: 'body too large' })
  let value: unknown
  try {
    value = JSON.parse(body.toString('utf8'))
  } catch {
    return send(res, 400, { error: 'invalid JSON' })
  }
  send(res, 200, value)
}

const server = createServer((req, res) => {
  const url = req.url ?? '/'
  const q = url.indexOf('?')
  const path = q < 0 ? url : url.slice(0, q)
  if (req.method === 'GET') {
    if (path === '/') return send(res, 200, hello())
    if (path === '/async') {
      helloAsync().then(v => send(res, 200, v), () => send(res, 500, { error: 'failed' }))
      return
    }
    if (path === '/cpu') return send(res, 200, cpu())
    if (path === '/sqlite') return send(res, 200, sqlite())
    if (path === '/json-16k') return send(res, 200, json16k())
    if (path.startsWith('/users/')) {
      const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1))
      const fields = query.getAll('fields')
      const value = params(decodeURIComponent(path.slice(7)), fields.length === 0 ? undefined : fields)
      return value === null ? send(res, 400, { error: 'id must be an integer' }) : send(res, 200, value)
    }
  } else if (req.method === 'POST' && path === '/echo') {
    echo(req, res).catch(() => res.destroy())
    return
  }
  res.writeHead(404).end()
})
await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
ready((server.address() as AddressInfo).port, () => new Promise<void>((resolve) => {
  server.close(() => resolve())
  server.closeAllConnections()
}))
