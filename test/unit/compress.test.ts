// Response compression's pure parts (src/isolate/compress.ts): Accept-Encoding negotiation, the
// compressible-type rule, which answers may be compressed, the fields a compressed answer gets;
// and the ResponseWriter applying them to frames, without sockets or threads.
import { afterEach, describe, expect, it, vi } from 'vitest'
import { randomBytes } from 'node:crypto'
import { gunzipSync } from 'node:zlib'
import { CODINGS, compressibleType, Compressor, encodedText, mayCompress, negotiate } from '../../src/isolate/compress.ts'
import { ResponseWriter } from '../../src/isolate/respond.ts'
import { ACCEPT_ENCODING } from '../../src/isolate/request.ts'
import { CT_JSON, CT_MSGPACK, CT_NONE, CT_OCTET, CT_TEXT, FLAG_END, readHead, resStatus } from '../../src/shared/frame.ts'
import { createRingBuffer, RingConsumer, RingProducer } from '../../src/shared/ring.ts'

const ALL = CODINGS

describe('negotiate', () => {
  it('answers identity without a header, with an empty one, and when nothing of ours is taken', () => {
    expect(negotiate(undefined, ALL)).toBeNull()
    expect(negotiate('', ALL)).toBeNull()
    expect(negotiate('  ,  ', ALL)).toBeNull()
    expect(negotiate('identity', ALL)).toBeNull()
    expect(negotiate('compress, lzma', ALL)).toBeNull()
    expect(negotiate('gzip', ['br'])).toBeNull()
  })

  it('picks the highest q, then the server order', () => {
    expect(negotiate('gzip;q=1, br;q=0.5', ALL)).toBe('gzip')
    expect(negotiate('gzip;q=0.5, br;q=1', ALL)).toBe('br')
    expect(negotiate('deflate, gzip, zstd, br', ALL)).toBe('br')
    expect(negotiate('deflate, zstd', ALL)).toBe('zstd')
    expect(negotiate('gzip, br', ['gzip', 'br'])).toBe('gzip')
    expect(negotiate('deflate;q=0.9, gzip;q=0.8', ALL)).toBe('deflate')
    expect(negotiate('gzip;q=0.001', ALL)).toBe('gzip')
  })

  it('reads names and q case-insensitively and around whitespace, and x-gzip as gzip', () => {
    expect(negotiate(' GZIP ; Q=0.5 ,Br;q=0.4', ALL)).toBe('gzip')
    expect(negotiate('x-gzip', ALL)).toBe('gzip')
    expect(negotiate('x-gzip;q=0.2, gzip;q=0.9, br;q=0.5', ALL)).toBe('gzip')
    expect(negotiate('gzip;level=1;q=0.3, zstd;q=0.2', ALL)).toBe('gzip')
  })

  it('takes * for every coding the header does not name', () => {
    expect(negotiate('*', ALL)).toBe('br')
    expect(negotiate('*;q=0.5, zstd', ALL)).toBe('zstd')
    expect(negotiate('zstd;q=0.4, *;q=0.5', ALL)).toBe('br')
    expect(negotiate('br;q=0, *', ALL)).toBe('gzip')
    expect(negotiate('*;q=0', ALL)).toBeNull()
    expect(negotiate('*;q=0, deflate', ALL)).toBe('deflate')
  })

  it('excludes q=0, whatever spelling', () => {
    expect(negotiate('br;q=0, gzip', ALL)).toBe('gzip')
    expect(negotiate('br;q=0.0, gzip;q=0.000, zstd;q=0., deflate', ALL)).toBe('deflate')
    expect(negotiate('gzip;q=0, br;q=0, zstd;q=0, deflate;q=0', ALL)).toBeNull()
  })

  it('prefers identity only when the client ranks it above every coding it takes', () => {
    expect(negotiate('identity;q=1, gzip;q=0.5', ALL)).toBeNull()
    expect(negotiate('identity;q=0.5, gzip;q=0.5', ALL)).toBe('gzip')
    expect(negotiate('identity;q=0, gzip;q=0.1', ALL)).toBe('gzip')
    expect(negotiate('gzip;q=0.5, *;q=1', ['gzip'])).toBeNull() // * covers identity too, at 1
    expect(negotiate('gzip;q=0.5, *;q=1, identity;q=0', ['gzip'])).toBe('gzip')
  })

  it('ignores an entry whose q is malformed, not the rest', () => {
    for (const q of ['abc', '2', '1.5', '-1', '0.1234', '', '.5', '1.001']) {
      expect(negotiate(`br;q=${q}, gzip;q=0.1`, ALL), q).toBe('gzip')
    }
    expect(negotiate('br;q=1.000, gzip', ALL)).toBe('br')
  })

  it('takes the best q of a coding listed twice', () => {
    expect(negotiate('gzip;q=0.1, br;q=0.5, gzip;q=1', ALL)).toBe('gzip')
    expect(negotiate('gzip;q=1, gzip;q=0', ALL)).toBe('gzip')
  })
})

describe('compressibleType', () => {
  it('takes text, JSON, XML, JavaScript, MessagePack, SVG and the like', () => {
    for (const t of ['text/plain', 'text/html; charset=utf-8', 'TEXT/CSS', 'text/csv', 'application/json', 'application/json; charset=utf-8',
      'application/problem+json', 'application/ld+json', 'application/vnd.api+json', 'application/xml', 'application/atom+xml', 'image/svg+xml',
      'application/javascript', 'application/msgpack', 'application/x-msgpack', 'application/x-ndjson', 'application/yaml', 'font/ttf', 'image/x-icon',
      'application/wasm', ' application/json ']) {
      expect(compressibleType(t), t).toBe(true)
    }
  })

  it('refuses what is compressed already, event streams, octet-stream and anything unknown', () => {
    for (const t of ['image/png', 'image/jpeg', 'image/webp', 'video/mp4', 'audio/mpeg', 'application/zip', 'application/gzip', 'application/octet-stream',
      'text/event-stream', 'text/event-stream; charset=utf-8', 'font/woff2', 'application/pdf', '', 'json', '/json', 'text/', 'application/x-unknown']) {
      expect(compressibleType(t), t).toBe(false)
    }
  })
})

describe('mayCompress', () => {
  it('takes the coded types JSON, text and MessagePack, not bytes', () => {
    expect(mayCompress(200, CT_JSON, '')).toBe(true)
    expect(mayCompress(200, CT_TEXT, '')).toBe(true)
    expect(mayCompress(200, CT_MSGPACK, '')).toBe(true)
    expect(mayCompress(200, CT_OCTET, '')).toBe(false)
    expect(mayCompress(400, CT_JSON, 'x-content-type-options\0nosniff')).toBe(true)
  })

  it('reads a Response\'s own Content-Type, and nothing without one', () => {
    expect(mayCompress(200, CT_NONE, 'Content-Type\0text/html')).toBe(true)
    expect(mayCompress(200, CT_NONE, 'content-type\0image/png')).toBe(false)
    expect(mayCompress(200, CT_NONE, 'x-a\0b')).toBe(false)
    expect(mayCompress(200, CT_NONE, '')).toBe(false)
    // The code wins over a field (the main thread writes the code's type).
    expect(mayCompress(200, CT_OCTET, 'content-type\0text/plain')).toBe(false)
  })

  it('leaves alone 204, 304, 206, encoded answers, ranges and no-transform', () => {
    expect(mayCompress(204, CT_JSON, '')).toBe(false)
    expect(mayCompress(304, CT_JSON, '')).toBe(false)
    expect(mayCompress(206, CT_NONE, 'content-type\0text/plain')).toBe(false)
    expect(mayCompress(200, CT_NONE, 'content-type\0text/plain\0content-encoding\0gzip')).toBe(false)
    expect(mayCompress(200, CT_JSON, 'Content-Encoding\0br')).toBe(false)
    expect(mayCompress(200, CT_NONE, 'content-type\0text/plain\0content-range\0bytes 0-9/100')).toBe(false)
    expect(mayCompress(200, CT_JSON, 'cache-control\0public, No-Transform')).toBe(false)
    expect(mayCompress(200, CT_JSON, 'cache-control\0no-transformation')).toBe(true)
    expect(mayCompress(200, CT_JSON, 'cache-control\0max-age=60')).toBe(true)
  })
})

describe('encodedText', () => {
  it('adds Content-Encoding and Vary to a compressed answer, Vary alone to one that went as it is', () => {
    expect(encodedText('', 'gzip')).toBe('content-encoding\0gzip\0vary\0accept-encoding')
    expect(encodedText('', null)).toBe('vary\0accept-encoding')
    expect(encodedText('x-a\0b', 'br')).toBe('x-a\0b\0content-encoding\0br\0vary\0accept-encoding')
    expect(encodedText('x-a\0b', null)).toBe('x-a\0b\0vary\0accept-encoding')
  })

  it('adds to the answer\'s own Vary, unless it names Accept-Encoding or is *', () => {
    expect(encodedText('Vary\0Origin', 'br')).toBe('Vary\0Origin, accept-encoding\0content-encoding\0br')
    expect(encodedText('vary\0Accept-Encoding, Origin', null)).toBe('vary\0Accept-Encoding, Origin')
    expect(encodedText('vary\0*', 'gzip')).toBe('vary\0*\0content-encoding\0gzip')
    expect(encodedText('vary\0x-accept-encoding', null)).toBe('vary\0x-accept-encoding, accept-encoding')
  })

  it('makes a strong ETag weak when the body is compressed, and only then', () => {
    expect(encodedText('etag\0"v1"', 'gzip')).toBe('etag\0W/"v1"\0content-encoding\0gzip\0vary\0accept-encoding')
    expect(encodedText('ETag\0W/"v1"', 'gzip')).toBe('ETag\0W/"v1"\0content-encoding\0gzip\0vary\0accept-encoding')
    expect(encodedText('etag\0"v1"', null)).toBe('etag\0"v1"\0vary\0accept-encoding')
  })
})

describe('Compressor', () => {
  it('chooses among the configured encodings only, in the configured order', () => {
    const c = new Compressor({ threshold: 10, encodings: ['gzip', 'br'] })
    expect(c.threshold).toBe(10)
    expect(c.choose('br, gzip')).toBe('gzip')
    expect(c.choose('zstd')).toBeNull()
    expect(c.choose(undefined)).toBeNull()
  })

  it('remembers a bounded number of header values, and chooses the same after forgetting', () => {
    const c = new Compressor({ threshold: 10, encodings: [...CODINGS] })
    for (let i = 0; i < 200; i++) expect(c.choose(`gzip;q=0.${i % 10 + 1}, x-${i}`)).toBe('gzip')
    expect((c as unknown as { choices: Map<string, unknown> }).choices.size).toBeLessThanOrEqual(64)
    expect(c.choose('br;q=0, deflate')).toBe('deflate')
    expect(c.choose('br;q=0, deflate')).toBe('deflate')
  })

  it('moves large bodies to the threadpool: from 64 KiB, zstd\'s from 256 KiB', () => {
    const c = new Compressor({ threshold: 10, encodings: [...CODINGS] })
    for (const coding of ['br', 'gzip', 'deflate']) {
      expect(c.offThread(coding, 64 * 1024 - 1), coding).toBe(false)
      expect(c.offThread(coding, 64 * 1024), coding).toBe(true)
    }
    expect(c.offThread('zstd', 256 * 1024 - 1)).toBe(false)
    expect(c.offThread('zstd', 256 * 1024)).toBe(true)
  })

  it('compresses so that node:zlib decodes it back', async () => {
    const c = new Compressor({ threshold: 10, encodings: [...CODINGS] })
    const body = Buffer.from('hello compression '.repeat(100))
    expect(gunzipSync(c.compressSync('gzip', body)).equals(body)).toBe(true)
    const out = await new Promise<Buffer>((resolve, reject) => c.compress('gzip', body, (err, b) => { if (err !== null) reject(err); else resolve(b) }))
    expect(gunzipSync(out).equals(body)).toBe(true)
  })
})

describe('ResponseWriter with compression', () => {
  interface Frame { status: number, ct: number, text: string, body: Buffer }
  function setup (threshold = 100): { writer: ResponseWriter, read: () => Frame[] } {
    const sab = createRingBuffer(64 * 1024)
    const writer = new ResponseWriter(new RingProducer(sab), false, { threshold, encodings: ['gzip'] })
    const ring = new RingConsumer(sab)
    const read = (): Frame[] => {
      const out: Frame[] = []
      let pos: number
      while ((pos = ring.peek()) >= 0) {
        const h = readHead(ring, pos)
        expect(h.flags & FLAG_END).toBe(FLAG_END)
        out.push({ status: resStatus(h.arg), ct: h.aux, text: h.text, body: Buffer.from(ring.data.subarray(h.bodyStart, h.bodyEnd)) })
        ring.release()
      }
      return out
    }
    return { writer, read }
  }
  const asking = (acceptEncoding: string | undefined): { [ACCEPT_ENCODING]: string | undefined } => ({ [ACCEPT_ENCODING]: acceptEncoding })
  const jsonReq = { prefersMsgpack: () => false }
  const value = { text: 'compress me '.repeat(50) }
  afterEach(() => { vi.restoreAllMocks() })

  it('compresses a result when the request may be, and not when the caller says it may not', () => {
    const { writer, read } = setup()
    writer.compressing = asking('gzip')
    writer.result(1, value, 'h', jsonReq)
    writer.compressing = null
    writer.result(2, value, 'h', jsonReq)
    const [zipped, plain] = read()
    expect(zipped.text).toBe('content-encoding\0gzip\0vary\0accept-encoding')
    expect(JSON.parse(gunzipSync(zipped.body).toString())).toEqual(value)
    expect(plain.text).toBe('')
    expect(JSON.parse(plain.body.toString())).toEqual(value)
  })

  it('compresses the answer of a Response read after an await with the request it started with', async () => {
    const { writer, read } = setup()
    writer.compressing = asking('gzip')
    const pending = writer.result(1, new Response(JSON.stringify(value), { headers: { 'content-type': 'application/json' } }), 'h', jsonReq)
    writer.compressing = asking('identity') // the next request's, meanwhile
    await pending
    const [f] = read()
    expect(f.text).toBe('content-type\0application/json\0content-encoding\0gzip\0vary\0accept-encoding')
    expect(JSON.parse(gunzipSync(f.body).toString())).toEqual(value)
  })

  it('sends the body as it is, and logs, when compressing fails', () => {
    const { writer, read } = setup()
    vi.spyOn(Compressor.prototype, 'compressSync').mockImplementation(() => { throw new Error('zlib broke') })
    const error = vi.spyOn(console, 'error').mockImplementation(() => {})
    writer.compressing = asking('gzip')
    writer.result(1, value, 'h', jsonReq)
    const [f] = read()
    expect(f.status).toBe(200)
    expect(f.text).toBe('vary\0accept-encoding')
    expect(JSON.parse(f.body.toString())).toEqual(value)
    expect(String(error.mock.calls[0]?.[0])).toMatch(/compressing an answer with gzip failed/)
  })

  it('sends the body as it is when compressing would not make it smaller', async () => {
    const { writer, read } = setup()
    const noise = randomBytes(400)
    writer.compressing = asking('gzip')
    await writer.result(1, new Response(noise, { headers: { 'content-type': 'text/plain' } }), 'h', jsonReq)
    const [f] = read()
    expect(f.text).toBe('content-type\0text/plain\0vary\0accept-encoding')
    expect(f.body.equals(noise)).toBe(true)
  })

  it('keeps bodies below the threshold on the fast path, untouched', () => {
    const { writer, read } = setup(10_000)
    writer.compressing = asking('gzip')
    writer.result(1, value, 'h', jsonReq)
    const [f] = read()
    expect(f.text).toBe('')
    expect(f.ct).toBe(CT_JSON)
    expect(JSON.parse(f.body.toString())).toEqual(value)
  })
})
