// Response compression over real sockets: the coding chosen by Accept-Encoding's q-values, bodies
// decoded with node:zlib and compared with what the handler returned, the answers that must go
// as they are, Vary, the sync and threadpool paths, typed routes, MessagePack and errors.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { brotliDecompressSync, gunzipSync, inflateSync, zstdDecompressSync } from 'node:zlib'
import { unpack } from 'msgpackr'
import { request } from 'undici'
import { createServer } from 'isopool'
import { fixtures, start } from './helpers.ts'
import type { Reply, Running } from './helpers.ts'
import { rows } from './fixtures/compression.ts'

const HANDLERS = ['json', 'small', 'huge', 'hugeLater', 'text', 'bytes', 'response', 'preEncoded', 'range', 'events', 'image', 'svg', 'noTransform', 'bigError', 'bigErrorLater', 'nothing']

let app: Running
beforeAll(async () => {
  app = await start({
    isolates: 2,
    compression: true,
    modules: ['./compression-typed'],
    routes: [{ method: 'GET', path: '/off', handler: './compression.ts#json', compression: false }]
  }, HANDLERS.map(h => ['GET', `/${h}`, `./compression.ts#${h}`]))
})
afterAll(() => app.close())

/** The body as the handler sent it, undoing the Content-Encoding. */
function decoded (r: Reply): Buffer {
  switch (r.headers['content-encoding']) {
    case undefined: return r.body
    case 'br': return brotliDecompressSync(r.body)
    case 'gzip': return gunzipSync(r.body)
    case 'zstd': return zstdDecompressSync(r.body)
    case 'deflate': return inflateSync(r.body)
    default: throw new Error(`unexpected content-encoding ${String(r.headers['content-encoding'])}`)
  }
}

const get = (path: string, acceptEncoding?: string, headers: Record<string, string> = {}): Promise<Reply> =>
  app.get(path, acceptEncoding === undefined ? headers : { 'accept-encoding': acceptEncoding, ...headers })

const JSON_BODY = JSON.stringify({ rows: rows(100) })

/** A compressed answer: its coding, its Content-Length the compressed one, Vary, the original body. */
function expectCompressed (r: Reply, coding: string, body: string): void {
  expect(r.status).toBeLessThan(500)
  expect(r.headers['content-encoding']).toBe(coding)
  expect(r.headers.vary).toMatch(/accept-encoding/i)
  expect(Number(r.headers['content-length'])).toBe(r.body.byteLength)
  expect(r.body.byteLength).toBeLessThan(Buffer.byteLength(body))
  expect(decoded(r).toString('utf8')).toBe(body)
}

/** An answer that went as it is, without Vary (it could not have been compressed). */
function expectUntouched (r: Reply): void {
  expect(r.headers['content-encoding']).toBeUndefined()
  expect(r.headers.vary ?? '').not.toMatch(/accept-encoding/i)
}

describe('negotiation', () => {
  it('picks the highest q: gzip over br when the client ranks it higher', async () => {
    expectCompressed(await get('/json', 'gzip;q=1, br;q=0.5'), 'gzip', JSON_BODY)
  })

  it('breaks ties by the server order: br, gzip, zstd, deflate', async () => {
    expectCompressed(await get('/json', 'deflate, gzip, zstd, br'), 'br', JSON_BODY)
    expectCompressed(await get('/json', 'deflate, zstd, gzip'), 'gzip', JSON_BODY)
  })

  it('uses zstd and deflate when they are what the client takes', async () => {
    expectCompressed(await get('/json', 'zstd'), 'zstd', JSON_BODY)
    expectCompressed(await get('/json', 'deflate'), 'deflate', JSON_BODY)
    expectCompressed(await get('/json', 'x-gzip'), 'gzip', JSON_BODY)
  })

  it('takes * as every coding the header does not name, at its q', async () => {
    expectCompressed(await get('/json', '*'), 'br', JSON_BODY)
    expectCompressed(await get('/json', '*;q=0.5, zstd'), 'zstd', JSON_BODY)
  })

  it('excludes codings with q=0', async () => {
    expectCompressed(await get('/json', 'br;q=0, *'), 'gzip', JSON_BODY)
    expectCompressed(await get('/json', 'br;q=0, gzip;q=0, deflate'), 'deflate', JSON_BODY)
  })

  it('sends identity, saying it varies, when the client takes no coding of ours', async () => {
    for (const header of ['identity', 'gzip;q=0, br;q=0, zstd;q=0, deflate;q=0', 'compress, lzma', 'identity;q=1, gzip;q=0.5', '']) {
      const r = await get('/json', header)
      expect(r.headers['content-encoding'], header).toBeUndefined()
      expect(r.headers.vary, header).toBe('accept-encoding')
      expect(r.text).toBe(JSON_BODY)
    }
    const none = await get('/json')
    expect(none.headers['content-encoding']).toBeUndefined()
    expect(none.headers.vary).toBe('accept-encoding')
    expect(none.text).toBe(JSON_BODY)
  })
})

describe('what is compressed', () => {
  it('leaves bodies below the threshold as they are, without Vary', async () => {
    const r = await get('/small', 'gzip, br')
    expectUntouched(r)
    expect(r.json).toEqual({ ok: true, rows: rows(2) })
  })

  it('compresses text and SVG, and a Response of a +json type, whose strong ETag turns weak and whose Vary is kept', async () => {
    expectCompressed(await get('/text', 'gzip'), 'gzip', 'all work and no play makes jack a dull boy\n'.repeat(200))
    expectCompressed(await get('/svg', 'br'), 'br', `<svg xmlns="http://www.w3.org/2000/svg">${'<rect width="1" height="1"/>'.repeat(200)}</svg>`)
    const r = await get('/response', 'gzip')
    expectCompressed(r, 'gzip', JSON.stringify(rows(100)))
    expect(r.headers['content-type']).toBe('application/problem+json')
    expect(r.headers.etag).toBe('W/"v1"')
    expect(r.headers.vary).toBe('Origin, accept-encoding')
  })

  it('leaves alone an answer the handler encoded itself', async () => {
    const r = await get('/preEncoded', 'br, gzip')
    expect(r.headers['content-encoding']).toBe('gzip')
    expect(r.headers.vary).toBeUndefined()
    expect(gunzipSync(r.body).toString()).toBe(JSON.stringify(rows(100)))
  })

  it('leaves alone ranges, event streams, images, bytes, no-transform answers and 204s', async () => {
    const range = await get('/range', 'gzip')
    expectUntouched(range)
    expect(range.status).toBe(206)
    expect(range.headers['content-range']).toBe('bytes 0-4095/10000')
    expect(range.body.byteLength).toBe(4096)
    const events = await get('/events', 'gzip')
    expectUntouched(events)
    expect(events.text).toBe('data: tick\n\n'.repeat(400))
    for (const path of ['/image', '/bytes', '/noTransform']) {
      const r = await get(path, 'gzip, br')
      expectUntouched(r)
      expect(r.body.byteLength, path).toBeGreaterThan(1024)
    }
    const nothing = await get('/nothing', 'gzip')
    expect(nothing.status).toBe(204)
    expectUntouched(nothing)
  })

  it('never compresses the answers of a route with compression: false', async () => {
    const r = await get('/off', 'gzip, br')
    expectUntouched(r)
    expect(r.text).toBe(JSON_BODY)
  })

  it('compresses a JSON answer of over 1 MiB on the threadpool, synchronous handler or not', async () => {
    const body = JSON.stringify({ rows: rows(20_000) })
    expect(body.length).toBeGreaterThan(1024 * 1024)
    expectCompressed(await get('/huge', 'gzip'), 'gzip', body)
    expectCompressed(await get('/huge', 'br'), 'br', body)
    expectCompressed(await get('/hugeLater', 'zstd'), 'zstd', body)
    // Several at once, each answer its own request's: the callbacks come back in any order.
    const many = await Promise.all(['gzip', 'br', 'identity', 'deflate'].map(e => get('/hugeLater', e)))
    expect(many.map(r => r.headers['content-encoding'])).toEqual(['gzip', 'br', undefined, 'deflate'])
    for (const r of many) expect(decoded(r).toString()).toBe(body)
  })

  it('compresses isopool error bodies like any other, thrown at once or after an await', async () => {
    for (const path of ['/bigError', '/bigErrorLater']) {
      const r = await get(path, 'gzip')
      expect(r.status).toBe(400)
      expect(r.headers['content-encoding']).toBe('gzip')
      expect(r.headers['x-content-type-options']).toBe('nosniff')
      const error = JSON.parse(decoded(r).toString()).error
      expect(error.status).toBe(400)
      expect(error.message).toMatch(/^bad input: this is wrong;/)
    }
  })

  it('answers HEAD with the GET answer\'s coding and compressed length, and no body', async () => {
    const got = await get('/json', 'gzip')
    const res = await request(app.url + '/json', { method: 'HEAD', headers: { 'accept-encoding': 'gzip' }, dispatcher: app.agent })
    expect(Buffer.from(await res.body.arrayBuffer()).byteLength).toBe(0)
    expect(res.headers['content-encoding']).toBe('gzip')
    expect(res.headers.vary).toBe('accept-encoding')
    expect(res.headers['content-length']).toBe(got.headers['content-length'])
  })
})

describe('typed routes and MessagePack', () => {
  it('compresses a typed route\'s encoded answer, and as MessagePack when the client asks for it', async () => {
    const json = await get('/typed/rows', 'br', { 'x-trace': 't' })
    expectCompressed(json, 'br', JSON.stringify(rows(100)))
    const packed = await get('/typed/rows', 'gzip', { accept: 'application/msgpack' })
    expect(packed.headers['content-type']).toBe('application/msgpack')
    expect(packed.headers['content-encoding']).toBe('gzip')
    expect(Number(packed.headers['content-length'])).toBe(packed.body.byteLength)
    expect(unpack(decoded(packed))).toEqual(rows(100))
  })

  it('compresses a plain handler\'s MessagePack answer', async () => {
    const r = await get('/json', 'zstd', { accept: 'application/msgpack' })
    expect(r.headers['content-type']).toBe('application/msgpack')
    expect(r.headers['content-encoding']).toBe('zstd')
    expect(unpack(decoded(r))).toEqual({ rows: rows(100) })
  })

  it('never compresses a typed route declared with compression: false', async () => {
    const r = await get('/typed/plain', 'gzip, br')
    expectUntouched(r)
    expect(r.json).toEqual(rows(100))
  })
})

describe('the option', () => {
  it('takes a threshold and the server\'s encodings in its order', async () => {
    const own = await start({ isolates: 1, compression: { threshold: 100, encodings: ['gzip', 'br'] } }, [['GET', '/small', './compression.ts#small']])
    try {
      const small = JSON.stringify({ ok: true, rows: rows(2) })
      const both = await own.get('/small', { 'accept-encoding': 'br, gzip' })
      expect(both.headers['content-encoding']).toBe('gzip')
      expect(gunzipSync(both.body).toString()).toBe(small)
      const zstd = await own.get('/small', { 'accept-encoding': 'zstd' })
      expect(zstd.headers['content-encoding']).toBeUndefined()
      expect(zstd.headers.vary).toBe('accept-encoding')
    } finally {
      await own.close()
    }
  })

  it('fails createServer() on a bad value', () => {
    const bad: unknown[] = ['yes', { threshold: -1 }, { threshold: 1.5 }, { encodings: [] }, { encodings: ['lzma'] }, { encodings: ['gzip', 'gzip'] }, { level: 4 }]
    for (const compression of bad) {
      expect(() => createServer({ root: fixtures, compression: compression as true }), JSON.stringify(compression)).toThrow(expect.objectContaining({ code: 'ISOPOOL_ERR_INVALID_OPTION' }))
    }
    expect(() => createServer({ root: fixtures, compression: { encodings: ['lzma' as 'br'] } })).toThrow('Invalid option compression.encodings: "lzma" is not one of br, gzip, zstd, deflate')
    expect(() => createServer({ root: fixtures, routes: [{ method: 'GET', path: '/x', handler: './compression.ts#json', compression: 'no' as unknown as boolean }] }))
      .toThrow(expect.objectContaining({ code: 'ISOPOOL_ERR_INVALID_ROUTE' }))
  })
})
