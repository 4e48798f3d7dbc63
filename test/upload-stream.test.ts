// Streamed request bodies over real sockets: a route whose maxBodySize is above the server's runs
// its handler at the head and reads the body with req.stream() as it arrives, under credit (the
// main thread stops reading the socket while the isolate holds STREAM_WINDOW unread bytes), so a
// 1 GiB upload hashed in the isolate keeps memory bounded. Per-route limits (413), chunked and
// Content-Length bodies, a client that hangs up mid-upload, a handler that answers early, and
// req.form() giving file parts as streams. Handlers: test/fixtures/upload.ts.
import { createHash } from 'node:crypto'
import { connect } from 'node:net'
import type { Socket } from 'node:net'
import { Readable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FormData, request } from 'undici'
import { start } from './helpers.ts'
import type { Running } from './helpers.ts'
import { Signals } from './observe.ts'

const GiB = 1024 * 1024 * 1024
const SERVER_MAX = 64 * 1024
const routes = [
  { method: 'POST' as const, path: '/hash', handler: './upload.ts#hash', maxBodySize: 2 * GiB, timeout: 0 },
  { method: 'POST' as const, path: '/marker', handler: './upload.ts#marker', maxBodySize: 16 * 1024 * 1024 },
  { method: 'POST' as const, path: '/aborted', handler: './upload.ts#aborted', maxBodySize: 16 * 1024 * 1024 },
  { method: 'POST' as const, path: '/early', handler: './upload.ts#early', maxBodySize: 256 * 1024 * 1024 },
  { method: 'POST' as const, path: '/text', handler: './upload.ts#text', maxBodySize: 1024 * 1024 },
  { method: 'POST' as const, path: '/json', handler: './upload.ts#json', maxBodySize: 1024 * 1024 },
  { method: 'POST' as const, path: '/form', handler: './upload.ts#form', maxBodySize: 64 * 1024 * 1024 },
  { method: 'POST' as const, path: '/small', handler: './upload.ts#hash', maxBodySize: 1000 },
  { method: 'POST' as const, path: '/stall', handler: './upload.ts#stall', maxBodySize: 64 * 1024 * 1024, timeout: 300 },
  { method: 'POST' as const, path: '/buffered', handler: './upload.ts#buffered' },
  { method: 'POST' as const, path: '/default', handler: './upload.ts#hash' }
]

let app: Running
/** The process's RSS right after the server started: the 1 GiB upload is measured from it. */
let coldRss = 0
const signals = new Signals()
beforeAll(async () => {
  app = await start({ isolates: 2, maxBodySize: SERVER_MAX, routes, modules: ['./upload-typed'] })
  coldRss = process.memoryUsage().rss
})
afterAll(async () => {
  signals.close()
  await app?.close()
})

/** `n` bytes of a repeating pseudo-random block, as a Readable of `block`-sized chunks. */
function payload (n: number, block = 1024 * 1024): { body: () => Readable, sha256: string } {
  const bytes = Buffer.alloc(block)
  let x = 12345
  for (let i = 0; i < block; i++) {
    x = (x * 1103515245 + 12345) >>> 0
    bytes[i] = x >>> 24
  }
  const h = createHash('sha256')
  for (let left = n; left > 0; left -= block) h.update(left >= block ? bytes : bytes.subarray(0, left))
  return {
    sha256: h.digest('hex'),
    body: () => {
      let left = n
      return new Readable({
        read () {
          if (left === 0) return this.push(null)
          const k = Math.min(left, block)
          left -= k
          this.push(k === block ? bytes : bytes.subarray(0, k))
        }
      })
    }
  }
}

async function post (path: string, body: Readable | Buffer | string, headers: Record<string, string> = {}): Promise<{ status: number, json: any, text: string }> {
  const res = await request(app.url + path, { method: 'POST', body, headers, dispatcher: app.agent })
  const text = await res.body.text()
  let json: unknown
  try { json = JSON.parse(text) } catch {}
  return { status: res.statusCode, json, text }
}

function raw (): Promise<Socket> {
  const { port, hostname } = new URL(app.url)
  return new Promise((resolve, reject) => {
    const s = connect(Number(port), hostname, () => resolve(s))
    s.on('error', reject)
  })
}

/** Resolves with what `s` has received once `ok` holds for it. */
function received (s: Socket, ok: (text: string) => boolean): Promise<string> {
  let text = ''
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer): void => {
      text += d.toString('latin1')
      if (ok(text)) {
        s.off('data', onData)
        resolve(text)
      }
    }
    s.on('data', onData)
    s.once('close', () => reject(new Error(`closed; received ${JSON.stringify(text)}`)))
  })
}

describe('req.stream()', () => {
  it('hashes a 1 GiB upload in the isolate with RSS within +64 MiB', async () => {
    const { body, sha256 } = payload(GiB)
    // From COLD: the baseline is taken right after listen, before any upload warmed the path, so
    // the dead chunks a first upload leaves on each thread until a GC count against the bound.
    const base = coldRss
    let peak = process.memoryUsage().rss
    const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss) }, 20)
    const started = performance.now()
    const cpu = process.cpuUsage()
    try {
      const res = await post('/hash', body(), { 'content-length': String(GiB) })
      expect(res.status).toBe(200)
      expect(res.json.bytes).toBe(GiB)
      expect(res.json.sha256).toBe(sha256)
      // Chunks reached the handler as they came, not as one body.
      expect(res.json.chunks).toBeGreaterThan(1000)
    } finally {
      clearInterval(sampler)
    }
    peak = Math.max(peak, process.memoryUsage().rss)
    const used = process.cpuUsage(cpu)
    console.log(`1 GiB upload: ${Math.round(performance.now() - started)} ms, CPU ${Math.round((used.user + used.system) / 1000)} ms (client, main thread and isolate), RSS +${((peak - base) / 1048576).toFixed(1)} MiB over cold`)
    expect(peak - base).toBeLessThan(64 * 1024 * 1024)
  }, 120_000)

  it('delivers chunks before the body ends: the handler answers after the first while the client holds the rest', async () => {
    const s = await raw()
    try {
      s.write('POST /marker HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n')
      const first = await received(s, t => t.includes('first 5'))
      expect(first).toMatch(/^HTTP\/1\.1 200/)
      s.write('6\r\n world\r\n0\r\n\r\n')
      await received(s, t => t.includes('total 11'))
    } finally {
      s.destroy()
    }
  })

  it('reads chunked and Content-Length bodies alike', async () => {
    const { body, sha256 } = payload(3 * 1024 * 1024 + 17, 65536)
    const chunked = await post('/hash', body())
    expect(chunked.status).toBe(200)
    expect(chunked.json).toMatchObject({ sha256, bytes: 3 * 1024 * 1024 + 17 })
    const counted = await post('/hash', body(), { 'content-length': String(3 * 1024 * 1024 + 17) })
    expect(counted.json).toMatchObject({ sha256, bytes: 3 * 1024 * 1024 + 17 })
    const empty = await post('/hash', '', { 'content-length': '0' })
    expect(empty.json).toMatchObject({ sha256: createHash('sha256').digest('hex'), bytes: 0 })
  })

  it('yields a buffered route\'s whole body once', async () => {
    const res = await post('/buffered', Buffer.alloc(5000, 1))
    expect(res.status).toBe(200)
    expect(res.json).toEqual({ sizes: [5000] })
  })

  it('gathers text() and json() on a streaming route', async () => {
    const big = 'x'.repeat(300_000)
    expect((await post('/text', big)).text).toBe('"text 300000"'.slice(1, -1))
    const res = await post('/json', JSON.stringify({ a: big }), { 'content-type': 'application/json' })
    expect(res.json.got.a.length).toBe(300_000)
    const bad = await post('/json', '{nope', { 'content-type': 'application/json' })
    expect(bad.status).toBe(400)
    expect(bad.json.error.code).toBe('ISOPOOL_ERR_INVALID_JSON')
  })
})

describe('per-route maxBodySize', () => {
  it('refuses past the route\'s own limit, and past the server\'s on other routes', async () => {
    const over = await post('/small', Buffer.alloc(1001), { 'content-length': '1001' })
    expect(over.status).toBe(413)
    expect(over.json.error).toMatchObject({ code: 'ISOPOOL_ERR_BODY_TOO_LARGE', message: 'Request body exceeds the limit of 1000 bytes' })
    // Chunked: counted as it comes.
    const chunked = await post('/small', Readable.from([Buffer.alloc(600), Buffer.alloc(600)]))
    expect(chunked.status).toBe(413)
    expect(chunked.json.error.message).toContain('1000 bytes')
    expect((await post('/small', Buffer.alloc(1000))).json.bytes).toBe(1000)
    // The server's default still holds where a route sets none.
    const dflt = await post('/default', Buffer.alloc(SERVER_MAX + 1))
    expect(dflt.status).toBe(413)
    expect(dflt.json.error.message).toContain(`${SERVER_MAX} bytes`)
    // A streaming route takes past the server's limit, and refuses past its own.
    expect((await post('/text', Buffer.alloc(SERVER_MAX * 4, 97))).text).toBe(`text ${SERVER_MAX * 4}`)
    const tooBig = await post('/text', Readable.from([Buffer.alloc(700_000), Buffer.alloc(700_000)]))
    expect(tooBig.status).toBe(413)
    expect(tooBig.json.error.message).toContain(`${1024 * 1024} bytes`)
  })

  it('refuses a bad maxBodySize at route()', () => {
    expect(() => app.server.route('POST', '/x', './upload.ts#hash', { maxBodySize: -1 })).toThrow(/maxBodySize|listen/)
  })
})

describe('route() declarations', () => {
  it('take maxBodySize: a streamed body without a schema, a gathered one with', async () => {
    const { body, sha256 } = payload(3 * 1024 * 1024, 65536)
    expect((await post('/typed/hash', body())).json).toEqual({ sha256, bytes: 3 * 1024 * 1024 })
    const over = await post('/typed/hash', payload(9 * 1024 * 1024).body())
    expect(over.status).toBe(413)
    expect(over.json.error.message).toContain(`${8 * 1024 * 1024} bytes`)
    const json = await post('/typed/json', JSON.stringify({ text: 'y'.repeat(200_000) }), { 'content-type': 'application/json' })
    expect(json.status).toBe(200)
    expect(json.json).toEqual({ length: 200_000 })
    const invalid = await post('/typed/json', JSON.stringify({ pad: 'z'.repeat(100_000) }), { 'content-type': 'application/json' })
    expect(invalid.status).toBe(422)
    const fd = new FormData()
    fd.append('a', '1')
    fd.append('doc', new Blob([Buffer.alloc(3_000_000, 5)]), 'doc.bin')
    fd.append('b', '2')
    const files = await request(app.url + '/typed/files', { method: 'POST', body: fd, dispatcher: app.agent })
    expect(files.statusCode).toBe(200)
    expect(await files.body.json()).toEqual({ fields: { a: '1', b: '2' }, sizes: [3_000_000] })
  })
})

describe('Expect: 100-continue', () => {
  it('is answered 100 Continue on a streaming route, then the body streams', async () => {
    const s = await raw()
    try {
      s.write('POST /hash HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\nexpect: 100-continue\r\n\r\n')
      await received(s, t => t.startsWith('HTTP/1.1 100 Continue\r\n\r\n'))
      s.write('abc')
      const res = await received(s, t => t.includes('"bytes":3'))
      expect(res).toContain(createHash('sha256').update('abc').digest('hex'))
    } finally {
      s.destroy()
    }
  })
})

describe('a client that goes away, a handler that stops reading', () => {
  it('throws ISOPOOL_ERR_BODY_ABORTED in the reader and fires req.signal; the server keeps serving', async () => {
    const s = await raw()
    s.write(`POST /aborted?signal=${signals.name} HTTP/1.1\r\nhost: x\r\ncontent-length: 1000000\r\n\r\n`)
    s.write(Buffer.alloc(1000, 1))
    await signals.wait('reading', seen => seen.includes('reading'))
    s.destroy()
    await signals.wait('the abort', seen => seen.includes('threw ISOPOOL_ERR_BODY_ABORTED') && seen.includes('signal'))
    expect(signals.seen).not.toContain('ended')
    expect((await post('/hash', 'abc')).json.bytes).toBe(3)
  })

  it('answers a malformed chunk mid-upload 400, and the reader hears the abort', async () => {
    const bad = new Signals()
    const s = await raw()
    try {
      s.write(`POST /aborted?signal=${bad.name} HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n400\r\n${'a'.repeat(1024)}\r\n`)
      await bad.wait('reading', seen => seen.includes('reading'))
      s.write('zz-not-a-size\r\n')
      expect(await received(s, t => t.includes('ISOPOOL_ERR_BAD_REQUEST'))).toMatch(/^HTTP\/1\.1 400/)
      await bad.wait('the abort', seen => seen.includes('threw ISOPOOL_ERR_BODY_ABORTED') && seen.includes('signal'))
    } finally {
      s.destroy()
      bad.close()
    }
    expect((await post('/hash', 'abc')).json.bytes).toBe(3)
  })

  it('times out an upload that stalls: a handler that does not read holds the client back, then 504', async () => {
    const res = await post('/stall', payload(8 * 1024 * 1024).body())
    expect(res.status).toBe(504)
    expect(res.json.error.code).toBe('ISOPOOL_ERR_TIMEOUT')
    expect((await post('/hash', 'abc')).json.bytes).toBe(3)
  })

  it('answers a handler that answers early, and drains or closes the rest', async () => {
    // Small rest: drained, the connection kept.
    const small = await post('/early', Buffer.alloc(SERVER_MAX / 2, 1))
    expect(small.status).toBe(200)
    expect(small.text).toBe('read true')
    // A large rest (past what the server drains): the answer comes, the connection closes.
    const { body } = payload(64 * 1024 * 1024)
    const res = await request(app.url + '/early', { method: 'POST', body: body(), headers: { 'content-length': String(64 * 1024 * 1024) }, dispatcher: app.agent }).catch((err: Error) => err)
    if (!(res instanceof Error)) {
      expect(res.statusCode).toBe(200)
      expect(await res.body.text()).toBe('read true')
    }
    expect((await post('/hash', 'abc')).json.bytes).toBe(3)
  })
})

describe('req.form() on a streaming route', () => {
  it('gives file parts as streams and fields as strings', async () => {
    const { sha256 } = payload(5 * 1024 * 1024)
    const file = Buffer.concat(Array.from({ length: 5 }, () => Buffer.from(payload(1024 * 1024).body().read() as Buffer)))
    expect(createHash('sha256').update(file).digest('hex')).toBe(sha256)
    const fd = new FormData()
    fd.append('title', 'holiday')
    fd.append('photo', new Blob([file], { type: 'image/jpeg' }), 'beach.jpg')
    fd.append('note', 'after')
    const res = await request(app.url + '/form', { method: 'POST', body: fd, dispatcher: app.agent })
    const json = await res.body.json() as any
    expect(res.statusCode).toBe(200)
    expect(json.fields).toEqual({ title: 'holiday', note: 'after' })
    expect(json.files).toEqual([{ name: 'photo', filename: 'beach.jpg', type: 'image/jpeg', size: file.byteLength, sha256 }])
  })

  it('answers a malformed form 400 and one of the wrong type 415, and keeps serving', async () => {
    const bad = await post('/form', '--b\r\ncontent-disposition: form-data; name="a"\r\n\r\nno end', { 'content-type': 'multipart/form-data; boundary=b' })
    expect(bad.status).toBe(400)
    expect(bad.json.error.code).toBe('ISOPOOL_ERR_BAD_REQUEST')
    const wrong = await post('/form', 'x', { 'content-type': 'text/plain' })
    expect(wrong.status).toBe(415)
    expect((await post('/hash', 'abc')).json.bytes).toBe(3)
  })
})
