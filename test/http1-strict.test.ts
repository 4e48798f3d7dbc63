// The HTTP/1.1 layer as strict as llhttp (issue 13), over raw sockets to a running server: each
// point the differential run against node:http found, as a client sees it. What the pure
// functions decide is unit-tested in test/unit/http1-syntax.test.ts; what llhttp decides on the
// same bytes, in test/http1-differential.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AddressInfo } from 'node:net'
import { Http1Server } from '../src/main/http1.ts'
import { Conn, withConn as withConnTo } from './raw-http.ts'
import type { Parsed } from './raw-http.ts'
import { start } from './helpers.ts'
import type { Running } from './helpers.ts'
import { until } from './observe.ts'

let app: Running
let port: number

beforeAll(async () => {
  app = await start({ isolates: 1, http: { headersTimeout: 60_000, requestTimeout: 120_000 } }, [
    ['GET', '/', './basic.ts#hello'],
    ['GET', '/inspect', './basic.ts#inspect'],
    ['POST', '/echo', './basic.ts#echo'],
    ['OPTIONS', '/', './basic.ts#hello']
  ])
  port = Number(new URL(app.url).port)
})
afterAll(() => app.close())

const withConn = <T>(fn: (c: Conn) => Promise<T>): Promise<T> => withConnTo(port, fn)
const H = 'Host: x\r\n'
const chunked = (body: string, extra = ''): string => `POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n${extra}\r\n${body}`

function codeOf (r: Parsed): string | undefined {
  try { return JSON.parse(r.body.toString()).error.code } catch { return undefined }
}

/** Send `raw` whole on a fresh connection; the responses to `methods`, then whether the server
 * closed the connection and what, if anything, followed them. */
async function exchange (raw: string, methods: string[] = ['GET'], waitForClose = true): Promise<{ responses: Parsed[], closed: boolean, rest: string }> {
  return withConn(async (c) => {
    c.write(Buffer.from(raw, 'latin1'))
    const responses = await c.responses(methods)
    if (waitForClose) await c.serverCloses().catch(() => {})
    return { responses, closed: c.ended, rest: c.rest(methods) }
  })
}

/** The responses to `raw`, on a connection that stays open. */
const answers = async (raw: string, methods: string[] = ['GET']): Promise<Parsed[]> => (await exchange(raw, methods, false)).responses

/** One refused request: its status and code, the connection closed, nothing else answered. */
async function refused (raw: string, method = 'GET'): Promise<{ status: number, code: string | undefined }> {
  const { responses, closed, rest } = await exchange(raw, [method])
  expect(closed).toBe(true)
  expect(rest).toBe('')
  return { status: responses[0].status, code: codeOf(responses[0]) }
}

const BAD = { status: 400, code: 'ISOPOOL_ERR_BAD_REQUEST' }

describe('trailers', () => {
  it('refuses a trailer line that is no field line, and the request hidden behind a bare LF is never served', async () => {
    const hidden = `${chunked('3\r\nabc\r\n0\r\n\nGET /inspect HTTP/1.1\r\nHost: x\r\n\r\n')}`
    const { responses, closed, rest } = await exchange(hidden, ['POST'])
    expect([responses[0].status, codeOf(responses[0])]).toEqual([400, 'ISOPOOL_ERR_BAD_REQUEST'])
    expect(closed).toBe(true)
    expect(rest).toBe('')
    for (const trailer of ['X-T v', 'X-T: a\x00b', 'X-T: a\rb', 'X-T: a\r\n b', 'Content-Length: 5', 'Transfer-Encoding: chunked']) {
      expect(await refused(chunked(`3\r\nabc\r\n0\r\n${trailer}\r\n\r\n`), 'POST'), JSON.stringify(trailer)).toEqual(BAD)
    }
  })

  it('takes valid trailers and drops them', async () => {
    const responses = await answers(chunked('3\r\nabc\r\n0\r\nX-T: v\r\nX-U:\r\n\r\n'), ['POST'])
    expect([responses[0].status, responses[0].body.toString()]).toEqual([200, 'abc'])
  })
})

describe('chunk-size lines', () => {
  it('refuses whitespace after the size and any extension outside the grammar', async () => {
    for (const line of ['3 ', '3\t', '3 ;a', '3;a b', '3;a="b', '3;a\x01', '3;@', '3;a=']) {
      expect(await refused(chunked(`${line}\r\nabc\r\n0\r\n\r\n`), 'POST'), JSON.stringify(line)).toEqual(BAD)
    }
  })

  it('takes leading zeros and extensions of the grammar', async () => {
    const responses = await answers(chunked('000000005;a=b;c="d e"\r\nhello\r\n00;x\r\n\r\n'), ['POST'])
    expect([responses[0].status, responses[0].body.toString()]).toEqual([200, 'hello'])
  })

  it('refuses a line over 4 KiB however it arrives: whole, or a byte at a time', async () => {
    const line = `3;${'a'.repeat(4100)}`
    expect(await refused(chunked(`${line}\r\nabc\r\n0\r\n\r\n`), 'POST')).toEqual(BAD)
    const r = await withConn(async (c) => {
      c.write(chunked(''))
      c.sock.setNoDelay(true)
      for (let i = 0; i < line.length && !c.ended; i += 512) {
        c.write(line.slice(i, i + 512))
        // The shape of the input, not a wait for anything: a pause between pieces, so that they
        // tend to arrive in reads of their own (the refusal holds however they arrive).
        await new Promise(resolve => setTimeout(resolve, 1))
      }
      return c.responses(['POST'])
    })
    expect([r[0].status, codeOf(r[0])]).toEqual([400, 'ISOPOOL_ERR_BAD_REQUEST'])
  })
})

describe('Content-Length', () => {
  it('takes a long zero-padded value', async () => {
    const responses = await answers(`POST /echo HTTP/1.1\r\n${H}Content-Length: ${'0'.repeat(30)}3\r\n\r\nabc`, ['POST'])
    expect([responses[0].status, responses[0].body.toString()]).toEqual([200, 'abc'])
  })

  it('refuses two Content-Length fields, even when they agree', async () => {
    expect(await refused(`POST /echo HTTP/1.1\r\n${H}Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc`, 'POST')).toEqual(BAD)
  })
})

describe('methods and targets', () => {
  it('answers a method it does not implement 501, and CONNECT, PRI and lowercase methods too', async () => {
    for (const line of ['FOO / HTTP/1.1', 'get / HTTP/1.1', 'CONNECT example.com:443 HTTP/1.1', 'PRI * HTTP/1.1', 'TRACE / HTTP/1.1']) {
      expect(await refused(`${line}\r\n${H}\r\n`), line).toEqual({ status: 501, code: 'ISOPOOL_ERR_METHOD_NOT_IMPLEMENTED' })
    }
  })

  it('refuses a method line as soon as its first bytes show it, not after the headers timeout', async () => {
    for (const start of ['FOO', 'CONNECT ', 'PRI * ']) {
      const r = await withConn(async (c) => { c.write(start); return c.responses(['GET']) })
      expect(r[0].status, start).toBe(501)
    }
    for (const start of ['\x16\x03\x01\x02\x00', 'GET /a b', 'GET / HTTP/2', 'PRI * HTTP/2.0\r\n']) {
      const r = await withConn(async (c) => { c.write(Buffer.from(start, 'latin1')); return c.responses(['GET']) })
      expect([r[0].status, codeOf(r[0])], JSON.stringify(start)).toEqual([400, 'ISOPOOL_ERR_BAD_REQUEST'])
    }
  })

  it('refuses raw non-ASCII bytes in the target rather than hand them on latin1-decoded', async () => {
    expect(await refused(`GET /caf\xe9 HTTP/1.1\r\n${H}\r\n`)).toEqual(BAD)
    const responses = await answers(`GET /inspect?q=caf%C3%A9 HTTP/1.1\r\n${H}\r\n`)
    expect(JSON.parse(responses[0].body.toString()).query).toEqual({ q: 'café' })
  })

  it('refuses authority-form on GET, asterisk-form other than OPTIONS, and absolute-form with a bad authority', async () => {
    for (const line of ['GET example.com:80 HTTP/1.1', 'GET * HTTP/1.1', 'OPTIONS *x HTTP/1.1', 'GET http://ex"ample.com/ HTTP/1.1']) {
      expect(await refused(`${line}\r\n${H}\r\n`), line).toEqual(BAD)
    }
    const responses = await answers(`OPTIONS * HTTP/1.1\r\n${H}\r\n`, ['OPTIONS'])
    expect(responses[0].status).not.toBe(400)
  })
})

describe('Expect and HTTP/1.0', () => {
  it('sends no 100 Continue to an HTTP/1.0 client, and serves it', async () => {
    const r = await withConn(async (c) => {
      c.write('POST /echo HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n')
      // Placed on its isolate: its body is asked for now, where an HTTP/1.1 request that expects
      // 100-continue gets its 100 Continue (the next test). Any interim answer would come on
      // this connection before the final one.
      await until('the request to be placed', () => app.server.inFlight === 1)
      c.write('abc')
      return { responses: await c.responses(['POST']) }
    })
    expect(r.responses.map(x => x.status)).toEqual([200])
    expect(r.responses[0].body.toString()).toBe('abc')
  })

  it('sends 100 Continue to an HTTP/1.1 client that asks', async () => {
    const r = await withConn(async (c) => {
      c.write(`POST /echo HTTP/1.1\r\n${H}Expect: 100-continue\r\nContent-Length: 3\r\n\r\n`)
      await c.until(() => c.data.includes('100 Continue'), '100 Continue')
      c.write('abc')
      return c.responses(['POST'])
    })
    expect(r.map(x => x.status)).toEqual([100, 200])
  })

  it('ignores an expectation on HTTP/1.0 that it refuses with 417 on HTTP/1.1', async () => {
    const { responses } = await exchange('GET / HTTP/1.0\r\nExpect: something\r\n\r\n')
    expect(responses[0].status).toBe(200)
    expect(await refused(`GET / HTTP/1.1\r\n${H}Expect: something\r\n\r\n`)).toEqual({ status: 417, code: 'ISOPOOL_ERR_EXPECTATION_FAILED' })
  })
})

describe('small points', () => {
  it('does not read U+00A0 as whitespace: "Connection: \\xa0close" keeps the connection', async () => {
    const { responses } = await withConn(async (c) => {
      c.write(Buffer.from(`GET / HTTP/1.1\r\n${H}Connection: \xa0close\r\n\r\nGET / HTTP/1.1\r\n${H}\r\n`, 'latin1'))
      return { responses: await c.responses(['GET', 'GET']) }
    })
    expect(responses.map(r => r.status)).toEqual([200, 200])
  })

  it('refuses a bare LF or CR in a head as soon as it arrives', async () => {
    for (const partial of [`GET / HTTP/1.1\r\n${H}X-A: b\nc`, `GET / HTTP/1.1\r\n${H}X-A: b\rc`]) {
      const r = await withConn(async (c) => { c.write(partial); return c.responses(['GET']) })
      expect([r[0].status, codeOf(r[0])], JSON.stringify(partial)).toEqual([400, 'ISOPOOL_ERR_BAD_REQUEST'])
    }
  })

  it('skips empty lines before a request line, bare LF ones too', async () => {
    const { responses } = await exchange(`\r\n\n\r\nGET / HTTP/1.1\r\n${H}Connection: close\r\n\r\n`)
    expect(responses[0].status).toBe(200)
  })

  it('keeps the first of a repeated singleton header, as node:http does, and joins the others', async () => {
    const { responses } = await exchange(`GET /inspect HTTP/1.1\r\n${H}Authorization: first\r\nAuthorization: second\r\nUser-Agent: a\r\nUser-Agent: b\r\n` +
      'Content-Type: text/plain\r\nContent-Type: text/html\r\nX-List: 1\r\nX-List: 2\r\nCookie: a=1\r\nCookie: b=2\r\nConnection: close\r\n\r\n')
    const headers = JSON.parse(responses[0].body.toString()).headers
    expect(headers).toMatchObject({ authorization: 'first', 'user-agent': 'a', 'content-type': 'text/plain', 'x-list': '1, 2', cookie: 'a=1; b=2' })
  })

  it('answers a request asking to switch protocols and closes: what follows is not read as HTTP', async () => {
    const { responses, closed, rest } = await exchange(`GET / HTTP/1.1\r\n${H}Connection: Upgrade\r\nUpgrade: h2c\r\n\r\nGET /inspect HTTP/1.1\r\n${H}\r\n`)
    expect(responses[0].status).toBe(200)
    expect(responses[0].headers.connection).toBe('close')
    expect(closed).toBe(true)
    expect(rest).toBe('')
  })

  it('caps a head at 500 fields with 431', async () => {
    const fields = Array.from({ length: 500 }, (_, i) => `X-${i}: ${i}\r\n`).join('')
    expect(await refused(`GET / HTTP/1.1\r\n${H}${fields}\r\n`)).toEqual({ status: 431, code: 'ISOPOOL_ERR_HEADERS_TOO_LARGE' })
  })
})

describe('the HTTP/1.1 layer alone', () => {
  it('serves nothing after a Connection: close request answered from its body\'s end, however the next bytes arrive', async () => {
    const seen: string[] = []
    let bodyBytes = 0
    const server = new Http1Server({ maxHeaderSize: 16384, headersTimeout: 60_000, requestTimeout: 120_000, keepAliveTimeout: 5000, checkInterval: 15_000, maxDrain: 1 << 20 }, (req, res) => {
      seen.push(req.url)
      const answer = (): void => {
        res.writeHead(200, ['content-length', '2'], true)
        res.endFrom(Buffer.from('ok'), 0, 2)
      }
      if (req.bodyLength === 0) answer()
      else req.onBody((chunk) => { bodyBytes += chunk.byteLength }, answer)
    })
    const { port: p } = await server.listen(0, '127.0.0.1') as AddressInfo
    try {
      await withConnTo(p, async (c) => {
        c.write(`POST /1 HTTP/1.1\r\n${H}Connection: close\r\nContent-Length: 3\r\n\r\nab`)
        // The body's end comes in a read of its own, once the handler has the rest.
        await until('the first two body bytes to reach the handler', () => bodyBytes === 2)
        c.write('c')
        await c.responses(['POST'])
        // The next request, then the client's FIN: the server reads both, in that order, and
        // closes; a server that read the request would have served it before.
        c.write(`GET /2 HTTP/1.1\r\n${H}\r\n`)
        c.sock.end()
        await c.until(() => c.closed, 'the connection to close')
      })
      expect(seen).toEqual(['/1'])
    } finally {
      await server.close()
    }
  })
})
