// The HTTP/1.1 layer's own limits and edges, over raw sockets: idle keep-alive connections are
// closed, an unread body is drained only up to maxBodySize, a 100-continue that was never
// answered closes the connection, a handler's `Connection: close` is honoured, and a request
// stream cut at any byte boundary is parsed the same as in one piece; a request listener that
// throws costs that request a coded 500, not the process.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { Http1Server } from '../src/main/http1.ts'
import { Conn, withConn as withConnTo } from './raw-http.ts'
import { start } from './helpers.ts'
import type { Running } from './helpers.ts'

let app: Running
let port: number
const LIMIT = 4096

beforeAll(async () => {
  app = await start({ isolates: 1, maxBodySize: LIMIT, http: { keepAliveTimeout: 300 } }, [
    ['GET', '/', './basic.ts#hello'],
    ['POST', '/echo', './basic.ts#echo'],
    ['GET', '/closing', './http1.ts#closing']
  ])
  port = Number(new URL(app.url).port)
})
afterAll(() => app.close())

const withConn = <T>(fn: (c: Conn) => Promise<T>): Promise<T> => withConnTo(port, fn)
const get = (path: string): string => `GET ${path} HTTP/1.1\r\nhost: x\r\n\r\n`
const HELLO = '{"hello":"world"}'

describe('keep-alive', () => {
  it('an idle connection is closed after keepAliveTimeout, and was open until then', async () => {
    await withConn(async (c) => {
      c.write(get('/'))
      const [r] = await c.responses(['GET'])
      expect(r.status).toBe(200)
      expect(c.ended).toBe(false)
      // Still usable right after the answer…
      c.write(get('/'))
      expect((await c.responses(['GET', 'GET']))[1].body.toString()).toBe(HELLO)
      // …and closed by the server once idle past the 300 ms limit (checked on a 75 ms timer).
      await c.serverCloses(5000)
    })
  })

  it("a handler's Connection: close ends the connection after its answer", async () => {
    await withConn(async (c) => {
      c.write(get('/closing') + get('/'))
      const [r] = await c.responses(['GET'])
      expect(r.headers.connection).toBe('close')
      expect(r.headers['x-kept']).toBe('yes')
      expect(r.body.toString()).toBe('bye')
      await c.serverCloses()
      expect(c.rest(['GET'])).toBe('') // the request behind it is not answered
    })
  })
})

describe('an unread body after the answer', () => {
  it('within maxBodySize: read and dropped, the connection carries the next request', async () => {
    await withConn(async (c) => {
      const body = 'x'.repeat(LIMIT - 100)
      c.write(`POST /nope HTTP/1.1\r\nhost: x\r\ncontent-length: ${body.length}\r\n\r\n${body}` + get('/'))
      const [a, b] = await c.responses(['POST', 'GET'])
      expect(a.status).toBe(404)
      expect(b.body.toString()).toBe(HELLO)
    })
  })

  it('announced past maxBodySize: not read, the connection is closed after the answer', async () => {
    await withConn(async (c) => {
      c.write(`POST /nope HTTP/1.1\r\nhost: x\r\ncontent-length: ${LIMIT * 10}\r\n\r\n${'x'.repeat(1000)}`)
      const [a] = await c.responses(['POST'])
      expect(a.status).toBe(404)
      expect(a.headers.connection).toBe('close')
      await c.serverCloses()
    })
  })

  it('chunked past maxBodySize: dropped up to the limit, then the connection is closed', async () => {
    await withConn(async (c) => {
      c.write('POST /nope HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n')
      const [a] = await c.responses(['POST'])
      expect(a.status).toBe(404)
      const chunk = `400\r\n${'y'.repeat(0x400)}\r\n`
      for (let i = 0; i < (LIMIT / 0x400) + 2 && !c.ended; i++) c.write(chunk)
      await c.serverCloses()
    })
  })

  it('chunked within maxBodySize: dropped, and the connection carries the next request', async () => {
    await withConn(async (c) => {
      c.write('POST /nope HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n')
      const [a] = await c.responses(['POST'])
      expect(a.status).toBe(404)
      c.write(`400\r\n${'y'.repeat(0x400)}\r\n0\r\n\r\n` + get('/'))
      const [, b] = await c.responses(['POST', 'GET'])
      expect(b.body.toString()).toBe(HELLO)
    })
  })

  it('Expect: 100-continue answered without a 100: the connection is closed (the body may never come)', async () => {
    await withConn(async (c) => {
      c.write('POST /nope HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\nexpect: 100-continue\r\n\r\n')
      const responses = await c.responses(['POST'])
      expect(responses.map(r => r.status)).toEqual([404])
      await c.serverCloses()
    })
  })
})

describe('what the layer does not support, refused by name', () => {
  it.each([
    ['an Expect other than 100-continue', 'expect: 200-ok', 417, 'ISOPOOL_ERR_EXPECTATION_FAILED'],
    ['a transfer coding other than chunked', 'transfer-encoding: gzip', 501, 'ISOPOOL_ERR_TRANSFER_CODING'],
    ['a list of transfer codings', 'transfer-encoding: gzip, chunked', 501, 'ISOPOOL_ERR_TRANSFER_CODING'],
    ['chunked twice', 'transfer-encoding: chunked\r\ntransfer-encoding: chunked', 501, 'ISOPOOL_ERR_TRANSFER_CODING']
  ])('%s: coded %i, connection closed', async (_name, header, status, code) => {
    await withConn(async (c) => {
      c.write(`POST /echo HTTP/1.1\r\nhost: x\r\n${header}\r\n\r\n`)
      const [r] = await c.responses(['POST'])
      expect(r.status).toBe(status)
      expect(JSON.parse(r.body.toString()).error.code).toBe(code)
      await c.serverCloses()
    })
  })
})

describe('a request stream cut anywhere', () => {
  const body = Buffer.from(Array.from({ length: 300 }, (_, i) => i & 0xff))
  const stream = Buffer.concat([
    Buffer.from(get('/')),
    Buffer.from(`POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`), body,
    Buffer.from('POST /echo HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n000A\r\n0123456789\r\n0\r\nx-t: 1\r\n\r\n'),
    Buffer.from('HEAD / HTTP/1.1\r\nhost: x\r\n\r\n'),
    Buffer.from(get('/'))
  ])
  const methods = ['GET', 'POST', 'POST', 'HEAD', 'GET']

  it.each([1, 2, 3, 7, 64, 1000])('in pieces of %i bytes: the same five answers', async (size) => {
    await withConn(async (c) => {
      c.sock.setNoDelay(true)
      for (let at = 0; at < stream.length; at += size) {
        c.write(stream.subarray(at, at + size))
        // A turn of the event loop between pieces, so that they leave as separate segments.
        await new Promise(resolve => setImmediate(resolve))
      }
      const r = await c.responses(methods)
      expect(r.map(x => x.status)).toEqual([200, 200, 200, 200, 200])
      expect(r[0].body.toString()).toBe(HELLO)
      expect(r[1].body.equals(body)).toBe(true)
      expect(r[2].body.toString()).toBe('abc0123456789')
      expect(r[3].headers['content-length']).toBe(String(HELLO.length))
      expect(r[3].body.byteLength).toBe(0)
      expect(r[4].body.toString()).toBe(HELLO)
      expect(c.rest(methods)).toBe('')
    })
  })
})

describe('a failure of the main thread on one request', () => {
  it('is a coded 500 and a closed connection, and the next request is served', async () => {
    const log = vi.spyOn(console, 'error').mockImplementation(() => {})
    let calls = 0
    const server = new Http1Server(
      { maxHeaderSize: 16384, headersTimeout: 60_000, requestTimeout: 300_000, keepAliveTimeout: 5000, checkInterval: 1000, maxDrain: 1024 },
      (req, res) => {
        if (++calls === 1) throw new Error('a bug')
        res.writeHead(200, ['content-length', '2'], true)
        res.end(Buffer.from('ok'))
      }
    )
    const addr = await server.listen(0, '127.0.0.1')
    try {
      await withConnTo(addr.port, async (c) => {
        c.write(get('/'))
        const [r] = await c.responses(['GET'])
        expect(r.status).toBe(500)
        expect(JSON.parse(r.body.toString()).error.code).toBe('ISOPOOL_ERR_INTERNAL')
        await c.serverCloses()
      })
      expect(log).toHaveBeenCalledWith(expect.stringContaining('failed on a request'), expect.objectContaining({ message: 'a bug' }))
      await withConnTo(addr.port, async (c) => {
        c.write(get('/'))
        expect((await c.responses(['GET']))[0].body.toString()).toBe('ok')
      })
    } finally {
      log.mockRestore()
      server.closeAllConnections()
      await server.close()
    }
  })
})
