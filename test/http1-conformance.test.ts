// HTTP/1.1 conformance over raw sockets: what any production HTTP/1.1 server must do, held to
// what isopool's own HTTP/1.1 layer (src/main/http1/, README "HTTP/1.1") does, exactly. Covers
// pipelining in order, keep-alive and `Connection: close`, HTTP/1.0 (closed by default, kept with
// keep-alive), HEAD without a body, chunked bodies with extensions and trailers, `Expect:
// 100-continue`, a missing Host, obs-fold / space before the colon / bare LF, the Date header,
// draining an unread body after a 404, bad Content-Lengths, a transfer coding other than chunked
// and no requests served after `Connection: close`. Responses are parsed properly (status line,
// headers, then a body framed by Content-Length or chunked, none for HEAD and 1xx), and no stray
// bytes may follow them. Every refusal is one coded response, then the connection is closed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Conn, parseAll, withConn as withConnTo } from './raw-http.ts'
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

const withConn = <T>(fn: (c: Conn) => Promise<T>): Promise<T> => withConnTo(port, fn)

/** Send `request` on a fresh connection and collect everything until the server closes it. */
function rawExchange (request: string): Promise<{ text: string, closed: boolean }> {
  return withConn(async (c) => {
    c.write(request)
    await c.serverCloses().catch(() => {})
    return { text: c.data.toString('latin1'), closed: c.ended }
  })
}

function codeOf (body: Buffer | string): string | undefined {
  try { return JSON.parse(body.toString()).error.code } catch { return undefined }
}

/** A refused request: exactly one response, with its status and coded body, then nothing; the
 * server has closed the connection. */
function refusal (text: string, closed: boolean, method = 'GET'): { status: number, code: string | undefined } {
  expect(closed).toBe(true)
  const { responses, rest } = parseAll(Buffer.from(text, 'latin1'), [method], true)
  expect(responses).toHaveLength(1)
  expect(rest.length).toBe(0)
  expect(responses[0].headers.connection).toBe('close')
  return { status: responses[0].status, code: codeOf(responses[0].body) }
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
      // Persistent by default on HTTP/1.1: no Connection field, a hint of the idle timeout.
      expect(first.headers.connection).toBeUndefined()
      expect(first.headers['keep-alive']).toMatch(/^timeout=\d+$/)
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
      expect(res.headers.connection).toBe('close')
      await c.serverCloses()
      expect(c.rest(['GET'])).toBe('')
    })
  })

  it('after a Connection: close response, what the client still sends is read and dropped: no answer, no reset', async () => {
    await withConn(async (c) => {
      const errors: Error[] = []
      c.sock.on('error', (err) => errors.push(err))
      c.write(get('/', 'connection: close\r\n'))
      await c.responses(['GET'])
      await c.serverCloses()
      const before = c.data.length
      // A request (one the main thread would answer at once), then the client's FIN: the server
      // reads both in that order, drops the request, and closes once it has the FIN. Had it left
      // the bytes unread and closed, the connection would be reset.
      c.write(get('/healthz'))
      c.sock.end()
      await c.until(() => c.closed, 'the connection to close')
      expect(c.data.length).toBe(before)
      expect(errors).toEqual([])
    })
  })

  it('after a Connection: close request, a request pipelined behind it is not answered', async () => {
    // RFC 9112 §9.6: the first request's 200 is sent, saying close, and what follows is ignored.
    await withConn(async (c) => {
      c.write(get('/', 'connection: close\r\n') + get('/'))
      await c.serverCloses()
      const { responses, rest } = parseAll(c.data, ['GET', 'GET'], true)
      expect(responses).toHaveLength(1)
      expect(responses[0].status).toBe(200)
      expect(responses[0].body.toString()).toBe(HELLO)
      expect(responses[0].headers.connection).toBe('close')
      expect(rest.length).toBe(0)
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
      expect(res.headers.connection).toBe('close')
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
      expect(first.headers.connection).toBe('keep-alive')
      // No chunked framing towards an HTTP/1.0 client.
      expect(first.headers['transfer-encoding']).toBeUndefined()
      c.write('GET / HTTP/1.0\r\nconnection: Keep-Alive\r\n\r\n')
      const [, second] = await c.responses(['GET', 'GET'])
      expect(second.status).toBe(200)
      expect(second.body.toString()).toBe(HELLO)
      expect(second.headers.connection).toBe('keep-alive')
      expect(c.ended).toBe(false)
      // A third request without keep-alive ends it.
      c.write('GET / HTTP/1.0\r\n\r\n')
      const [, , third] = await c.responses(['GET', 'GET', 'GET'])
      expect(third.headers.connection).toBe('close')
      await c.serverCloses()
      expect(c.rest(['GET', 'GET', 'GET'])).toBe('')
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
      // The connection is kept: the server drains the unread body rather than give it up.
      expect(notFound.headers.connection).toBeUndefined()
      c.write(body.slice(5120) + get('/'))
      const [, next] = await c.responses(['POST', 'GET'])
      expect(next.status).toBe(200)
      expect(next.body.toString()).toBe(HELLO)
      expect(c.rest(['POST', 'GET'])).toBe('')
      expect(c.ended).toBe(false)
    })
  })

  it('every response carries a Date header (IMF-fixdate) within a minute of now, refusals too', async () => {
    const res = await withConn(async (c) => {
      // 200 (JSON, bytes), HEAD, 204, 404, 405: one of each, pipelined.
      const methods = ['GET', 'POST', 'HEAD', 'GET', 'GET', 'DELETE']
      c.write(get('/') + post('/echo', 'x') + 'HEAD / HTTP/1.1\r\nhost: x\r\n\r\n' + get('/nothing') + get('/nope') +
        'DELETE / HTTP/1.1\r\nhost: x\r\n\r\n')
      return c.responses(methods)
    })
    expect(res.map(r => r.status)).toEqual([200, 200, 200, 204, 404, 405])
    // A refusal of a request that could not be parsed is written by the same HTTP/1.1 layer.
    const { text } = await rawExchange('GET / HTTP/1.1\r\nhost : x\r\n\r\n')
    res.push(...parseAll(Buffer.from(text, 'latin1'), ['GET'], true).responses)
    expect(res.map(r => r.status)).toEqual([200, 200, 200, 204, 404, 405, 400])
    for (const r of res) {
      const date = r.headers.date
      expect(date, `status ${r.status}`).toMatch(/^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/)
      expect(Math.abs(Date.parse(date) - Date.now())).toBeLessThan(60_000)
    }
  })
})

describe('requests that must be rejected', () => {
  it('HTTP/1.1 without a Host header: a coded 400, connection closed', async () => {
    const { text, closed } = await rawExchange('GET / HTTP/1.1\r\n\r\n')
    expect(refusal(text, closed)).toEqual({ status: 400, code: 'ISOPOOL_ERR_BAD_REQUEST' })
    await servedAfterwards()
  })

  it.each([
    ['obsolete line folding', 'GET / HTTP/1.1\r\nhost: x\r\nx-folded: a\r\n  b\r\n\r\n', 'GET'],
    ['whitespace between a header name and the colon', 'GET / HTTP/1.1\r\nhost : x\r\n\r\n', 'GET'],
    ['a non-numeric Content-Length', 'POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 5x\r\n\r\nhello', 'POST'],
    ['a negative Content-Length', 'POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: -5\r\n\r\nhello', 'POST'],
    // Lines end in CRLF: a bare LF is refused, never read as a line end.
    ['bare LF line endings throughout', 'GET / HTTP/1.1\nhost: x\n\n', 'GET'],
    ['a bare LF inside the header section', 'GET / HTTP/1.1\r\nhost: x\nx-a: 1\r\n\r\n', 'GET']
  ])('%s: a coded 400, connection closed', async (_name, request, method) => {
    const { text, closed } = await rawExchange(request)
    expect(refusal(text, closed, method)).toEqual({ status: 400, code: 'ISOPOOL_ERR_BAD_REQUEST' })
    await servedAfterwards()
  })

  it.each([
    ['gzip', 'POST /echo HTTP/1.1\r\nhost: x\r\ntransfer-encoding: gzip\r\n\r\nhello'],
    // isopool decodes no coding but chunked, and never hands a handler a body still coded.
    ['gzip, chunked', 'POST /echo HTTP/1.1\r\nhost: x\r\ntransfer-encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n']
  ])('Transfer-Encoding: %s: a coded 501 (RFC 9112 §6.1), connection closed', async (_name, request) => {
    const { text, closed } = await rawExchange(request)
    expect(refusal(text, closed, 'POST')).toEqual({ status: 501, code: 'ISOPOOL_ERR_TRANSFER_CODING' })
    await servedAfterwards()
  })
})
