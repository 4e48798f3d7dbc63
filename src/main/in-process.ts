// server.request(): a client in the process, in the Web standard shape (a Request in, a Response
// out, as Hono's app.request), for tests. The request goes through everything a socket request
// goes through — the HTTP/1.1 layer, its limits, the router, the dispatcher, the isolates, their
// validators and encoders — because it *is* a socket request, on a socket in memory:
//
//   request()  ── HTTP/1.1 bytes ──▶  InMemorySocket  ──▶  Http1Server.accept (as a TCP socket)
//      ▲                                   │
//      └──── parseResponse(bytes) ◀────────┘  what the server writes, until it ends the socket
//
// The request says `connection: close`, so the server ends the socket after its answer: the
// response is whole when the socket is.

import { Duplex } from 'node:stream'
import { parseChunkLine } from './http1/syntax.ts'

/**
 * A socket whose far end is this process: `push()`ed bytes are what the server reads, and what
 * the server writes is collected. The client never ends its side first (to the HTTP layer a FIN
 * means the client has gone), so nothing ends it but the server.
 */
export class InMemorySocket extends Duplex {
  private readonly written: Buffer[] = []
  readonly done: Promise<Buffer>
  private finish!: (bytes: Buffer) => void

  constructor () {
    super({ allowHalfOpen: true })
    this.done = new Promise(resolve => { this.finish = resolve })
    // The server ends or destroys the socket once it has answered (or refused) the request.
    this.on('finish', () => this.settle())
    this.on('close', () => this.settle())
  }

  override _read (): void {}

  // Copied, as the kernel copies what a TCP socket is written: the HTTP layer reuses the buffer
  // it builds a response in once a write has been taken whole.
  override _write (chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.written.push(Buffer.from(chunk))
    callback()
  }

  override _writev (chunks: { chunk: Buffer }[], callback: (err?: Error | null) => void): void {
    for (const c of chunks) this.written.push(Buffer.from(c.chunk))
    callback()
  }

  private settle (): void {
    this.finish(Buffer.concat(this.written))
  }
}

/** Request headers the in-memory client sets itself: the framing and the connection's life. */
const OWN = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'host', 'expect'])

/** The HTTP/1.1 bytes of `request`, its body read whole. */
export async function requestBytes (request: Request): Promise<Buffer> {
  const url = new URL(request.url)
  const body = request.body === null ? null : Buffer.from(await request.arrayBuffer())
  let head = `${request.method} ${url.pathname}${url.search} HTTP/1.1\r\nhost: ${url.host}\r\n`
  for (const [name, value] of request.headers) {
    if (!OWN.has(name)) head += `${name}: ${value}\r\n`
  }
  if (body !== null) head += `content-length: ${body.byteLength}\r\n`
  head += 'connection: close\r\n\r\n'
  const bytes = Buffer.from(head, 'latin1')
  return body === null ? bytes : Buffer.concat([bytes, body])
}

/** A Web Response from the bytes of an HTTP/1.1 response (1xx interim responses skipped). A
 * response to HEAD, a 204 and a 304 have no body. */
export function parseResponse (bytes: Buffer, method: string): Response {
  let at = 0
  for (;;) {
    const end = bytes.indexOf('\r\n\r\n', at, 'latin1')
    if (end === -1) throw new Error('the server closed the connection without a complete response')
    const lines = bytes.toString('latin1', at, end).split('\r\n')
    const status = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(lines[0])
    if (status === null) throw new Error(`not an HTTP/1.1 status line: ${JSON.stringify(lines[0])}`)
    const code = Number(status[1])
    at = end + 4
    if (code < 200) continue // 100 Continue and other interim responses
    const headers = new Headers()
    let length = -1
    let chunked = false
    for (let i = 1; i < lines.length; i++) {
      const colon = lines[i].indexOf(':')
      const name = lines[i].slice(0, colon).toLowerCase()
      const value = lines[i].slice(colon + 1).trim()
      headers.append(name, value)
      if (name === 'content-length') length = Number(value)
      else if (name === 'transfer-encoding') chunked = value.toLowerCase() === 'chunked'
    }
    const empty = method === 'HEAD' || code === 204 || code === 304
    const body = empty ? null : chunked ? dechunk(bytes.subarray(at)) : length >= 0 ? bytes.subarray(at, at + length) : bytes.subarray(at)
    return new Response(body === null ? null : new Uint8Array(body), { status: code, statusText: status[2] ?? '', headers })
  }
}

/** The data of a chunked body (trailers dropped). */
function dechunk (bytes: Buffer): Buffer {
  const parts: Buffer[] = []
  let at = 0
  for (;;) {
    const eol = bytes.indexOf('\r\n', at, 'latin1')
    if (eol === -1) throw new Error('a chunked response ended early')
    const size = parseChunkLine(bytes.toString('latin1', at, eol))
    if (size < 0) throw new Error('a chunked response has a bad chunk-size line')
    if (size === 0) return Buffer.concat(parts)
    parts.push(bytes.subarray(eol + 2, eol + 2 + size))
    at = eol + 2 + size + 2
  }
}
