// Streaming bench target: Fastify 5 (bench/streaming.ts), the same logic as the isopool one
// (../streaming-scenarios.ts) written the way Fastify's users do: SSE by writing to reply.raw
// (one ticker for the process), the download as a Readable stream reply.
// Usage: node bench/targets/streaming-fastify.ts

import { Readable } from 'node:stream'
import Fastify from 'fastify'
import { chunks, downloadMb, reportAbort, Ticker } from '../streaming-scenarios.ts'
import { listen } from './fastify-app.ts'
import { ready } from './lifecycle.ts'

const app = Fastify({ logger: false })
const ticker = new Ticker()

app.get('/sse', (_req, reply) => {
  reply.hijack()
  const raw = reply.raw
  raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
  // An empty first chunk sends the head now, as isopool's does.
  raw.write('')
  const unsubscribe = ticker.subscribe(event => raw.write(event))
  // The response's close, not the request's: that one comes once the request is read.
  raw.once('close', unsubscribe)
})

app.get<{ Querystring: { mb?: string } }>('/download', (req, reply) => {
  reply.type('application/octet-stream').send(Readable.from(chunks(downloadMb(req.query.mb)), { objectMode: false }))
})

app.get<{ Querystring: { key?: string } }>('/endless', (req, reply) => {
  const key = String(req.query.key)
  const ac = new AbortController()
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) reportAbort(key)
    ac.abort()
  })
  reply.type('text/plain').send(Readable.from((async function * () {
    for (let i = 0; !ac.signal.aborted; i++) {
      yield `tick ${i};`
      await new Promise(resolve => setTimeout(resolve, 20))
    }
  })()))
})

ready(await listen(app), () => app.close())
