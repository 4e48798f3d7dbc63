// Gaps the mutation run of issue 19 found in the HTTP/1.1 layer's limits, over raw sockets:
// a trailer section that never ends is refused once it passes http.maxHeaderSize (431, the
// connection closed), long before the request timeout, whether it grows as one unfinished line or
// as many complete ones; and an idle keep-alive connection is kept for keepAliveTimeout, no less,
// and closed after it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Conn, withConn as withConnTo } from './raw-http.ts'
import { start } from './helpers.ts'
import type { Running } from './helpers.ts'

const KEEP_ALIVE_MS = 3000
const MAX_HEADER = 16_384

let app: Running
let port: number

beforeAll(async () => {
  // The request timeout stays node:http's 300 s: a refusal that only came from it would never
  // arrive within these tests' bounds.
  app = await start({ isolates: 1, http: { maxHeaderSize: MAX_HEADER, keepAliveTimeout: KEEP_ALIVE_MS, headersTimeout: 60_000, requestTimeout: 300_000 } }, [
    ['GET', '/', './gaps/handlers.ts#hello'],
    ['POST', '/echo', './gaps/handlers.ts#echo']
  ])
  port = Number(new URL(app.url).port)
})
afterAll(() => app.close())

const withConn = <T>(fn: (c: Conn) => Promise<T>): Promise<T> => withConnTo(port, fn)
const get = (path: string): string => `GET ${path} HTTP/1.1\r\nhost: x\r\n\r\n`
const tick = (): Promise<void> => new Promise(resolve => setTimeout(resolve, 1))

/**
 * Send a chunked POST whose body ends and whose trailer section then keeps growing by `piece`,
 * one piece per event-loop turn (the server runs in this process: it reads each piece before the
 * next is written), until the server answers or `cap` trailer bytes went out. Returns how many
 * trailer bytes had been sent when the first response byte came: the most the server can have
 * held of them.
 */
async function growTrailers (c: Conn, first: string, piece: string, cap: number): Promise<number> {
  c.write('POST /echo HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n' + first)
  let sent = first.length
  while (sent < cap && c.data.byteLength === 0 && !c.ended) {
    c.write(piece)
    sent += piece.length
    await tick()
  }
  return sent
}

describe('a trailer section that never ends', () => {
  it('as one line without CRLF: 431 once it passes maxHeaderSize, the connection closed, not at the request timeout', async () => {
    await withConn(async (c) => {
      const sent = await growTrailers(c, 'x-grows: ', 'a'.repeat(4096), 4 << 20)
      const [r] = await c.responses(['POST'], 10_000)
      expect(r.status).toBe(431)
      expect(JSON.parse(r.body.toString()).error.code).toBe('ISOPOOL_ERR_HEADERS_TOO_LARGE')
      await c.serverCloses(10_000)
      // Answered as soon as the unfinished line passed the limit: the server held at most that
      // much of it (plus the pieces in flight), never megabytes.
      expect(sent).toBeGreaterThan(MAX_HEADER)
      expect(sent).toBeLessThan(MAX_HEADER + 256 * 1024)
    })
  })

  it('as many complete field lines: 431 once they add up past maxHeaderSize, the connection closed', async () => {
    await withConn(async (c) => {
      const line = `x-more: ${'b'.repeat(100)}\r\n`
      const sent = await growTrailers(c, line, line.repeat(10), 4 << 20)
      const [r] = await c.responses(['POST'], 10_000)
      expect(r.status).toBe(431)
      expect(JSON.parse(r.body.toString()).error.code).toBe('ISOPOOL_ERR_HEADERS_TOO_LARGE')
      await c.serverCloses(10_000)
      expect(sent).toBeGreaterThan(MAX_HEADER)
      expect(sent).toBeLessThan(MAX_HEADER + 256 * 1024)
    })
  })

  it('a trailer section within the limit is still taken (the limit is not a refusal of trailers)', async () => {
    await withConn(async (c) => {
      c.write('POST /echo HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n' +
        `x-one: ${'c'.repeat(8000)}\r\nx-two: ${'d'.repeat(7000)}\r\n\r\n` + get('/'))
      const [echoed, hello] = await c.responses(['POST', 'GET'])
      expect(echoed.status).toBe(200)
      expect(echoed.body.toString()).toBe('abc')
      expect(hello.status).toBe(200)
    })
  })
})

describe('an idle keep-alive connection', () => {
  it('is kept for keepAliveTimeout (the same socket answers after a second of idleness) and closed after it', async () => {
    await withConn(async (c) => {
      c.write(get('/'))
      const [first] = await c.responses(['GET'])
      expect(first.status).toBe(200)
      expect(first.headers['keep-alive']).toBe(`timeout=${KEEP_ALIVE_MS / 1000}`)
      // A third of the timeout idle: the connection is still there, and carries the next request.
      await new Promise(resolve => setTimeout(resolve, 1000))
      expect(c.ended).toBe(false)
      c.write(get('/'))
      const both = await c.responses(['GET', 'GET'])
      expect(both[1].status).toBe(200)
      expect(both[1].body.toString()).toBe('{"hello":"world"}')
      const answered = Date.now()
      // Then idle for good: closed once the timeout has passed — not before (a lower bound, which
      // load can only make later) and within a generous bound after it.
      await c.serverCloses(KEEP_ALIVE_MS + 10_000)
      expect(Date.now() - answered).toBeGreaterThanOrEqual(KEEP_ALIVE_MS - 500)
      expect(c.rest(['GET', 'GET'])).toBe('')
    })
  })
})
