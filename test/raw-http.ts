// A raw HTTP/1.1 client for tests that need what undici hides: pipelining by hand, half-closes,
// interim responses, and a strict parse of every response byte (status line, headers, then a body
// framed by Content-Length or chunked, none for HEAD and 1xx).
import { expect } from 'vitest'
import { connect } from 'node:net'
import type { Socket } from 'node:net'

export interface Parsed {
  status: number
  version: string
  /** Lower-case names; repeated fields joined with ', '. */
  headers: Record<string, string>
  body: Buffer
}

class IncompleteError extends Error {}

/** Parse one response at `buf[at]`; throws IncompleteError when more bytes are needed, and a
 * plain Error when the bytes are not a valid response. `noBody`: a response to HEAD. */
export function parseOne (buf: Buffer, at: number, noBody: boolean, eof: boolean): { res: Parsed, end: number } {
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
export function parseAll (buf: Buffer, methods: string[], eof: boolean): { responses: Parsed[], finals: number, rest: Buffer } {
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

export class Conn {
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
  static open (port: number): Promise<Conn> {
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

export async function withConn<T> (port: number, fn: (c: Conn) => Promise<T>): Promise<T> {
  const c = await Conn.open(port)
  try { return await fn(c) } finally { c.destroy() }
}
