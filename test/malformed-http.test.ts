// Malformed HTTP over raw sockets: each bad client gets its coded 4xx or a closed connection,
// and the next client is served.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connect } from 'node:net'
import { start } from './helpers.ts'
import type { Running } from './helpers.ts'

let app: Running
let port: number

beforeAll(async () => {
  app = await start({ isolates: 1, http: { maxHeaderSize: 2048, headersTimeout: 500, requestTimeout: 1000 } }, [
    ['GET', '/', './basic.ts#hello'],
    ['POST', '/echo', './basic.ts#echo']
  ])
  port = Number(new URL(app.url).port)
})
afterAll(() => app.close())

/** Send raw bytes (in pieces, with pauses, if given an array: the pace of a slow client) and
 * collect everything until the server closes the connection or `ms` pass; `sent`: the pieces
 * written by then. */
function raw (data: string | string[], ms = 3000, pauseMs = 0): Promise<{ text: string, closed: boolean, sent: number }> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1')
    let text = ''
    let closed = false
    let sent = 0
    const done = (): void => { clearTimeout(timer); sock.destroy(); resolve({ text, closed, sent }) }
    const timer = setTimeout(done, ms)
    sock.on('data', (d) => { text += d.toString('latin1') })
    sock.on('error', () => {})
    sock.on('close', () => { closed = true; done() })
    sock.on('connect', async () => {
      for (const piece of Array.isArray(data) ? data : [data]) {
        if (sock.destroyed) return
        sock.write(piece)
        sent++
        if (pauseMs > 0) await new Promise(resolve => setTimeout(resolve, pauseMs))
      }
    })
  })
}

function statusOf (text: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0)
}

function codeOf (text: string): string | undefined {
  const body = text.slice(text.indexOf('\r\n\r\n') + 4)
  try { return JSON.parse(body).error.code } catch { return undefined }
}

async function servedAfterwards (): Promise<void> {
  const r = await app.get('/')
  expect(r.status).toBe(200)
}

describe('malformed requests', () => {
  it.each([
    ['a garbage request line', 'HELLO THERE\r\n\r\n'],
    ['a request line with a bad version', 'GET / HTTP/9.9x\r\nhost: x\r\n\r\n'],
    ['a header without a colon', 'GET / HTTP/1.1\r\nhost x\r\n\r\n'],
    ['both Content-Length and Transfer-Encoding', 'POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'],
    ['two different Content-Lengths', 'POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello!'],
    ['an invalid chunk size', 'POST /echo HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n']
  ])('%s: 400 with a coded body, connection closed', async (_name, request) => {
    const { text, closed } = await raw(request)
    expect(statusOf(text)).toBe(400)
    expect(codeOf(text)).toBe('ISOPOOL_ERR_BAD_REQUEST')
    expect(closed).toBe(true)
    await servedAfterwards()
  })

  it('headers over maxHeaderSize: 431', async () => {
    const { text, closed } = await raw(`GET / HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(4000)}\r\n\r\n`)
    expect(statusOf(text)).toBe(431)
    expect(codeOf(text)).toBe('ISOPOOL_ERR_HEADERS_TOO_LARGE')
    expect(closed).toBe(true)
    await servedAfterwards()
  })

  it('a slow-loris client that never finishes its head is cut off with 408', async () => {
    const pieces = ['GET / HTTP/1.1\r\n', ...Array.from({ length: 30 }, (_, i) => `x-drip-${i}: 1\r\n`)]
    // A field every 100 ms: 3 s to drip them all, and the head never ends.
    const { text, closed, sent } = await raw(pieces, 10_000, 100)
    expect(closed).toBe(true)
    expect(statusOf(text)).toBe(408)
    expect(codeOf(text)).toBe('ISOPOOL_ERR_REQUEST_TIMEOUT')
    // Cut off by the limits (headersTimeout 500 ms, checked on the HTTP layer's timer) long before
    // it finished dripping: the server's timer and the client's pace share this event loop.
    expect(sent).toBeLessThan(pieces.length - 5)
    await servedAfterwards()
  })

  it('a client that announces a body and never sends it is cut off', async () => {
    const { closed } = await raw('POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\nabc', 5000)
    expect(closed).toBe(true)
    await servedAfterwards()
  })
})
