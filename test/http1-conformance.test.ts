// HTTP/1.1 conformance over raw sockets: what any production HTTP/1.1 server must do, whatever
// parses the requests (node:http today, isopool's own HTTP/1.1 layer next). Covers pipelining in
// order, keep-alive and `Connection: close`, HTTP/1.0 (closed by default, kept with keep-alive),
// HEAD without a body, chunked bodies with extensions and trailers, `Expect: 100-continue`, a
// missing Host, obs-fold / space before the colon / bare LF, the Date header, draining an unread
// body after a 404, bad Content-Lengths, an unknown Transfer-Encoding and no requests served after
// `Connection: close`. Responses are parsed properly (status line, headers, then a body framed by
// Content-Length or chunked, none for HEAD and 1xx), and no stray bytes may follow them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connect } from 'node:net'
import type { Socket } from 'node:net'
import { start } from './helpers.ts'
import type { Running } from './helpers.ts'

let app: Running
let port: number

beforeAll(async () => {
  // Two isolates: pipelined requests may be answered by different threads, out of order.
  app = await start({ isolates: 2 }, [
    ['GET', '/', './basic.ts#hello'],
    ['POST', '/echo', './basic.ts#echo'],
    ['GET', '/nothing', './basic.ts#nothing'],
    ['GET', '/slow', './slow.ts#slow']
  ])
  port = Number(new URL(app.url).port)
})
afterAll(() => app.close())

const HELLO = '{"hello":"world"}'

// ---------------------------------------------------------------------------------------------
// A raw client connection and a strict HTTP/1.1 response parser.

interface Parsed {
  status: number
  version: string
  /** Lower-case names; repeated fields joined with ', '. */
  headers: Record<string, string>
  body: Buffer
}

class IncompleteError extends Error {}

/** Parse one response at `buf[at]`; throws IncompleteError when more bytes are needed, and a
 * plain Error when the bytes are not a valid response. `noBody`: a response to HEAD. */
function parseOne (buf: Buffer, at: number, noBody: boolean, eof: boolean): { res: Parsed, end: number } {
  const headEnd = buf.indexOf('\r\n\r\n', at)
  if (headEnd < 0) throw new IncompleteError()
  const lines = buf.subarray(at, headEnd).toString('latin1').split('\r\n')
  const m = /^HTTP\/(1\.[01]) (\d{3}) [^\r\n]*$/.exec(lines[0]) ?? /^HTTP\/(1\.[01]) (\d{3})$/.exec(lines[0])
  if (m === null) throw new Error(`bad status line ${JSON.stringify(lines[0])} at byte ${at}`)
  const headers: Record<string, string> = {}
  for (const line of lines.slice(1)) {
    const h = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*$/.exec(line)
    if (h === null) throw new Error(`bad header line ${JSON.stringify(line)}`)
    const name = h[1].toLowerCase()
    headers[name] = name in headers ? `${headers[name]}, ${h[2]}` : h[2]
  }
  const status = Number(m[2])
  let pos = headEnd + 4
  let body: Buffer = Buffer.alloc(0)
  if (noBody || (status >= 100 && status < 200) || status === 204 || status === 304) {
    // no body
  } else if (headers['transfer-encoding'] !== undefined) {
    expect(headers['transfer-encoding'].toLowerCase()).toBe('chunked')
    expect(headers['content-length']).toBeUndefined()
    const parts: Buffer[] = []
    for (;;) {
      const lineEnd = buf.indexOf('\r\n', pos)
      if (lineEnd < 0) throw new IncompleteError()
      const sizeLine = buf.subarray(pos, lineEnd).toString('latin1')
      if (!/^[0-9a-fA-F]+(;.*)?$/.test(sizeLine)) throw new Error(`bad chunk size ${JSON.stringify(sizeLine)}`)
      const size = parseInt(sizeLine, 16)
      pos = lineEnd + 2
      if (size === 0) {
        const trailerEnd = buf.indexOf('\r\n', pos) === pos ? pos : buf.indexOf('\r\n\r\n', pos) + 2
        if (trailerEnd < pos) throw new IncompleteError()
        pos = trailerEnd + 2
        if (pos > buf.length) throw new IncompleteError()
        break
      }
      if (buf.length < pos + size + 2) throw new IncompleteError()
      parts.push(buf.subarray(pos, pos + size))
      if (buf.toString('latin1', pos + size, pos + size + 2) !== '\r\n') throw new Error('chunk not followed by CRLF')
      pos += size + 2
    }
    body = Buffer.concat(parts)
  } else if (headers['content-length'] !== undefined) {
    expect(headers['content-length']).toMatch(/^\d+$/)
    const length = Number(headers['content-length'])
    if (buf.length < pos + length) throw new IncompleteError()
    body = buf.subarray(pos, pos + length)
    pos += length
  } else {
    // Delimited by the end of the connection.
    if (!eof) throw new IncompleteError()
    body = buf.subarray(pos)
    pos = buf.length
  }
  return { res: { status, version: m[1], headers, body: Buffer.from(body) }, end: pos }
}

/** Every complete response in `buf`, in order; `methods` are the requests' methods in order (for
 * HEAD). Interim (1xx) responses come out too, without using up a method. */
function parseAll (buf: Buffer, methods: string[], eof: boolean): { responses: Parsed[], finals: number, rest: Buffer } {
  const responses: Parsed[] = []
  let at = 0
  let finals = 0
  while (at < buf.length) {
    try {
      const { res, end } = parseOne(buf, at, methods[finals] === 'HEAD', eof)
      responses.push(res)
      if (res.status >= 200) finals++
      at = end
    } catch (err) {
      if (err instanceof IncompleteError) break
      throw err
    }
  }
  return { responses, finals, rest: buf.subarray(at) }
}

class Conn {
  data: Buffer = Buffer.alloc(0)
  /** The server sent FIN (or the connection is gone). */
  ended = false
  closed = false
  private readonly waiters = new Set<() => void>()
  readonly sock: Socket

  private constructor (sock: Socket) {
    this.sock = sock
    sock.on('data', (d: Buffer) => { this.data = Buffer.concat([this.data, d]); this.wake() })
    sock.on('end', () => { this.ended = true; this.wake() })
    sock.on('close', () => { this.ended = true; this.closed = true; this.wake() })
    sock.on('error', () => {})
  }

  /** allowHalfOpen: the client can still write after the server's FIN, and sees that FIN. */
  static open (): Promise<Conn> {
    return new Promise((resolve, reject) => {
      const sock = connect({ port, host: '127.0.0.1', allowHalfOpen: true })
      sock.once('connect', () => resolve(new Conn(sock)))
      sock.once('error', reject)
    })
  }

  write (data: string | Buffer): void {
    if (!this.sock.destroyed) this.sock.write(data)
  }

  private wake (): void { for (const w of this.waiters) w() }

  /** Resolves once `pred` holds; rejects after `ms` (a generous bound, never a timing claim). */
  until (pred: () => boolean, what: string, ms = 10_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        let ok: boolean
        try { ok = pred() } catch (err) { finish(); reject(err); return }
        if (ok) { finish(); resolve() }
      }
      const timer = setTimeout(() => {
        finish()
        reject(new Error(`timed out waiting for ${what}; received ${JSON.stringify(this.data.toString('latin1'))}, ended ${this.ended}`))
      }, ms)
      const finish = (): void => { clearTimeout(timer); this.waiters.delete(check) }
      this.waiters.add(check)
      check()
    })
  }

  /** Wait for the final responses to `methods` (sent in that order) and return every response
   * received, interim ones included. Fails if the connection ends first. */
  async responses (methods: string[], ms?: number): Promise<Parsed[]> {
    let out: Parsed[] = []
    await this.until(() => {
      const r = parseAll(this.data, methods, this.ended)
      out = r.responses
      if (r.finals >= methods.length) return true
      if (this.ended) throw new Error(`connection ended after ${r.finals} of ${methods.length} responses: ${JSON.stringify(this.data.toString('latin1'))}`)
      return false
    }, `${methods.length} responses`, ms)
    return out
  }

  /** Bytes after the complete responses to `methods`. */
  rest (methods: string[]): string {
    return parseAll(this.data, methods, this.ended).rest.toString('latin1')
  }

  /** Wait for the server to end the connection. */
  serverCloses (ms?: number): Promise<void> {
    return this.until(() => this.ended, 'the server to close the connection', ms)
  }

  destroy (): void { this.sock.destroy() }
}

async function withConn<T> (fn: (c: Conn) => Promise<T>): Promise<T> {
  const c = await Conn.open()
  try { return await fn(c) } finally { c.destroy() }
}

/** Send `request` on a fresh connection and collect everything until the server closes it. */
function rawExchange (request: string): Promise<{ text: string, closed: boolean }> {
  return withConn(async (c) => {
    c.write(request)
    await c.serverCloses().catch(() => {})
    return { text: c.data.toString('latin1'), closed: c.ended }
  })
}

function statusOf (text: string): number {
  return Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0)
}

function codeOf (body: Buffer | string): string | undefined {
  try { return JSON.parse(body.toString()).error.code } catch { return undefined }
}

const get = (path: string, extra = ''): string => `GET ${path} HTTP/1.1\r\nhost: x\r\n${extra}\r\n`
const post = (path: string, body: string, extra = ''): string =>
  `POST ${path} HTTP/1.1\r\nhost: x\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`

/** The server still serves new connections. */
async function servedAfterwards (): Promise<void> {
  const r = await app.get('/')
  expect(r.status).toBe(200)
}

// ---------------------------------------------------------------------------------------------

describe('persistent connections', () => {
  it('pipelining: three requests in one write get three responses, in order, on that connection', async () => {
    await withConn(async (c) => {
      c.write(get('/') + post('/echo', 'pipelined body') + get('/'))
      const [a, b, d] = await c.responses(['GET', 'POST', 'GET'])
      expect(a.status).toBe(200)
      expect(a.body.toString()).toBe(HELLO)
      expect(b.status).toBe(200)
      expect(b.body.toString()).toBe('pipelined body')
      expect(d.status).toBe(200)
      expect(d.body.toString()).toBe(HELLO)
      expect(c.rest(['GET', 'POST', 'GET'])).toBe('')
      expect(c.ended).toBe(false)
    })
  })

  it('pipelining: responses keep request order when a later request finishes first', async () => {
    await withConn(async (c) => {
      const waits = [300, 0, 150, 0]
      c.write(waits.map((ms, i) => get(`/slow?ms=${ms}&id=${i}`)).join(''))
      const res = await c.responses(waits.map(() => 'GET'))
      expect(res.map(r => r.status)).toEqual([200, 200, 200, 200])
      expect(res.map(r => JSON.parse(r.body.toString()).id)).toEqual(['0', '1', '2', '3'])
    })
  })

  it('keep-alive: two requests one after the other on one socket are both answered', async () => {
    await withConn(async (c) => {
      c.write(get('/'))
      const [first] = await c.responses(['GET'])
      expect(first.status).toBe(200)
      expect(first.body.toString()).toBe(HELLO)
      expect(first.headers.connection?.toLowerCase()).not.toBe('close')
      c.write(post('/echo', 'second'))
      const [, second] = await c.responses(['GET', 'POST'])
      expect(second.status).toBe(200)
      expect(second.body.toString()).toBe('second')
      expect(c.ended).toBe(false)
    })
  })

  it('Connection: close from the client: the response says close and the server closes after it', async () => {
    await withConn(async (c) => {
      c.write(get('/', 'connection: close\r\n'))
      const [res] = await c.responses(['GET'])
      expect(res.status).toBe(200)
      expect(res.body.toString()).toBe(HELLO)
      expect(res.headers.connection?.toLowerCase()).toBe('close')
      await c.serverCloses()
      expect(c.rest(['GET'])).toBe('')
    })
  })

  it('after a Connection: close request, a request written once the server has half-closed is not answered', async () => {
    await withConn(async (c) => {
      c.write(get('/', 'connection: close\r\n'))
      await c.responses(['GET'])
      await c.serverCloses()
      const before = c.data.length
      c.write(get('/'))
      await new Promise(resolve => setTimeout(resolve, 500))
      expect(c.data.length).toBe(before)
    })
  })

  it('after a Connection: close request, a request pipelined behind it is not answered', async () => {
    // Reference behaviour, node:http: llhttp rejects the bytes after a `Connection: close`
    // message (HPE_CLOSED_CONNECTION) and the clientError handler answers 400 at once, so the
    // first request's own 200 is lost. RFC 9112 §9.6 wants that 200 sent and the rest ignored:
    // a node quirk, so this test only holds the common ground — at most one response, never one
    // for the second request, and the connection closed.
    await withConn(async (c) => {
      c.write(get('/', 'connection: close\r\n') + get('/'))
      await c.serverCloses()
      const { responses, rest } = parseAll(c.data, ['GET', 'GET'], true)
      expect(responses.length).toBeLessThanOrEqual(1)
      expect(rest.length).toBe(0)
      if (responses.length === 1 && responses[0].status === 200) {
        expect(responses[0].headers.connection?.toLowerCase()).toBe('close')
      }
    })
  })
})

describe('HTTP/1.0', () => {
  it('without a Connection header: answered, then the server closes the connection', async () => {
    await withConn(async (c) => {
      c.write('GET / HTTP/1.0\r\n\r\n')
      const [res] = await c.responses(['GET'])
      expect(res.status).toBe(200)
      expect(res.body.toString()).toBe(HELLO)
      await c.serverCloses()
      expect(c.rest(['GET'])).toBe('')
    })
  })

  it('with Connection: keep-alive: the response says keep-alive and the connection stays open', async () => {
    await withConn(async (c) => {
      c.write('GET / HTTP/1.0\r\nconnection: keep-alive\r\n\r\n')
      const [first] = await c.responses(['GET'])
      expect(first.status).toBe(200)
      expect(first.body.toString()).toBe(HELLO)
      expect(first.headers.connection?.toLowerCase()).toBe('keep-alive')
      // No chunked framing towards an HTTP/1.0 client.
      expect(first.headers['transfer-encoding']).toBeUndefined()
      c.write('GET / HTTP/1.0\r\nconnection: Keep-Alive\r\n\r\n')
      const [, second] = await c.responses(['GET', 'GET'])
      expect(second.status).toBe(200)
      expect(second.body.toString()).toBe(HELLO)
      expect(second.headers.connection?.toLowerCase()).toBe('keep-alive')
      expect(c.ended).toBe(false)
      // A third request without keep-alive ends it.
      c.write('GET / HTTP/1.0\r\n\r\n')
      await c.responses(['GET', 'GET', 'GET'])
      await c.serverCloses()
    })
  })
})

describe('message framing', () => {
  it('HEAD on a GET route: 200, the GET body\'s content-length, and no body bytes', async () => {
    await withConn(async (c) => {
      // The GET pipelined behind it must parse right after the HEAD's head.
      c.write(`HEAD / HTTP/1.1\r\nhost: x\r\n\r\n${get('/')}`)
      const [head, body] = await c.responses(['HEAD', 'GET'])
      expect(head.status).toBe(200)
      expect(head.body.length).toBe(0)
      expect(head.headers['content-length']).toBe(String(Buffer.byteLength(HELLO)))
      expect(body.status).toBe(200)
      expect(body.body.toString()).toBe(HELLO)
      expect(body.headers['content-length']).toBe(head.headers['content-length'])
      expect(c.rest(['HEAD', 'GET'])).toBe('')
    })
  })

  it('a chunked request body with chunk extensions and a trailer section is echoed exactly', async () => {
    await withConn(async (c) => {
      c.write('POST /echo HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n' +
        '5;foo=bar\r\nhello\r\n' + '7;a;b="q"\r\n, world\r\n' + 'A\r\n (chunked)\r\n' +
        '0\r\nx-trailer: 1\r\n\r\n' + get('/'))
      const [res, next] = await c.responses(['POST', 'GET'])
      expect(res.status).toBe(200)
      expect(res.body.toString()).toBe('hello, world (chunked)')
      // The trailer ended the message: the next request on the connection is parsed cleanly.
      expect(next.status).toBe(200)
      expect(next.body.toString()).toBe(HELLO)
      expect(c.rest(['POST', 'GET'])).toBe('')
    })
  })

  it('Expect: 100-continue: 100 Continue comes before the body is sent, then the echo', async () => {
    await withConn(async (c) => {
      c.write('POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 11\r\nexpect: 100-continue\r\n\r\n')
      // Wait for the interim response before sending a single body byte.
      await c.until(() => parseAll(c.data, ['POST'], false).responses.length >= 1, 'the 100 Continue')
      const [interim] = parseAll(c.data, ['POST'], false).responses
      expect(interim.status).toBe(100)
      expect(interim.body.length).toBe(0)
      c.write('hello world')
      const res = await c.responses(['POST'])
      expect(res.map(r => r.status)).toEqual([100, 200])
      expect(res[1].body.toString()).toBe('hello world')
      expect(c.rest(['POST'])).toBe('')
    })
  })

  it('a body sent to a route that does not exist: 404, and the body is drained so the connection still works', async () => {
    await withConn(async (c) => {
      const body = 'b'.repeat(10 * 1024)
      // Half of the body with the head; the rest only after the 404 is out.
      c.write(`POST /nope HTTP/1.1\r\nhost: x\r\ncontent-length: ${body.length}\r\n\r\n${body.slice(0, 5120)}`)
      const [notFound] = await c.responses(['POST'])
      expect(notFound.status).toBe(404)
      expect(codeOf(notFound.body)).toBe('ISOPOOL_ERR_NOT_FOUND')
      if (notFound.headers.connection?.toLowerCase() === 'close') throw new Error('the server gave up the connection instead of draining the body')
      c.write(body.slice(5120) + get('/'))
      const [, next] = await c.responses(['POST', 'GET'])
      expect(next.status).toBe(200)
      expect(next.body.toString()).toBe(HELLO)
      expect(c.rest(['POST', 'GET'])).toBe('')
      expect(c.ended).toBe(false)
    })
  })

  it('every response carries a Date header (IMF-fixdate) within a minute of now', async () => {
    await withConn(async (c) => {
      // 200 (JSON, bytes), HEAD, 204, 404, 405: one of each, pipelined.
      const methods = ['GET', 'POST', 'HEAD', 'GET', 'GET', 'DELETE']
      c.write(get('/') + post('/echo', 'x') + 'HEAD / HTTP/1.1\r\nhost: x\r\n\r\n' + get('/nothing') + get('/nope') +
        'DELETE / HTTP/1.1\r\nhost: x\r\n\r\n')
      const res = await c.responses(methods)
      expect(res.map(r => r.status)).toEqual([200, 200, 200, 204, 404, 405])
      for (const r of res) {
        const date = r.headers.date
        expect(date, `status ${r.status}`).toMatch(/^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/)
        expect(Math.abs(Date.parse(date) - Date.now())).toBeLessThan(60_000)
      }
    })
    // Note: the coded 400/431/408 answers to unparseable requests are written by isopool's
    // clientError handler without a Date header today, so they are not held to this here.
  })
})

describe('requests that must be rejected', () => {
  it('HTTP/1.1 without a Host header: 400, connection closed', async () => {
    const { text, closed } = await rawExchange('GET / HTTP/1.1\r\n\r\n')
    expect(statusOf(text)).toBe(400)
    expect(closed).toBe(true)
    // Reference behaviour, node:http: node itself answers 400 (requireHostHeader) with an empty
    // chunked body, before isopool sees the request, so there is no coded JSON body today —
    // against the README's promise that every error has one. Hold the shape wherever a body is
    // given: the replacement should give ISOPOOL_ERR_BAD_REQUEST.
    const [res] = parseAll(Buffer.from(text, 'latin1'), ['GET'], true).responses
    expect(res.status).toBe(400)
    if (res.body.length > 0) expect(codeOf(res.body)).toBe('ISOPOOL_ERR_BAD_REQUEST')
    await servedAfterwards()
  })

  it.each([
    ['obsolete line folding', 'GET / HTTP/1.1\r\nhost: x\r\nx-folded: a\r\n  b\r\n\r\n'],
    ['whitespace between a header name and the colon', 'GET / HTTP/1.1\r\nhost : x\r\n\r\n'],
    ['a non-numeric Content-Length', 'POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 5x\r\n\r\nhello'],
    ['a negative Content-Length', 'POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: -5\r\n\r\nhello']
  ])('%s: 400 with a coded body, connection closed', async (_name, request) => {
    const { text, closed } = await rawExchange(request)
    expect(statusOf(text)).toBe(400)
    expect(codeOf(text.slice(text.indexOf('\r\n\r\n') + 4))).toBe('ISOPOOL_ERR_BAD_REQUEST')
    expect(closed).toBe(true)
    await servedAfterwards()
  })

  it.each([
    ['bare LF line endings throughout', 'GET / HTTP/1.1\nhost: x\n\n'],
    ['a bare LF inside the header section', 'GET / HTTP/1.1\r\nhost: x\nx-a: 1\r\n\r\n']
  ])('%s: not served as a request (400, or closed without an answer)', async (_name, request) => {
    // node:http answers 400 to both; closing without a word would be acceptable too.
    const { text, closed } = await rawExchange(request)
    expect(closed).toBe(true)
    if (text !== '') {
      expect(statusOf(text)).toBe(400)
      expect(codeOf(text.slice(text.indexOf('\r\n\r\n') + 4))).toBe('ISOPOOL_ERR_BAD_REQUEST')
    }
    await servedAfterwards()
  })

  it('an unknown Transfer-Encoding: 400 or 501, connection closed', async () => {
    // node:http answers 400 (HPE_INVALID_TRANSFER_ENCODING). Note: `transfer-encoding: gzip,
    // chunked` is accepted by node, which removes the chunked framing and hands the handler the
    // still-gzip-coded bytes; RFC 9112 §6.1 suggests 501 there. Not tested here.
    const { text, closed } = await rawExchange('POST /echo HTTP/1.1\r\nhost: x\r\ntransfer-encoding: gzip\r\n\r\nhello')
    expect([400, 501]).toContain(statusOf(text))
    expect(closed).toBe(true)
    expect(codeOf(text.slice(text.indexOf('\r\n\r\n') + 4))).toMatch(/^ISOPOOL_ERR_/)
    await servedAfterwards()
  })
})
