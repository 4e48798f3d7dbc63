// The differential harness of test/http1-differential.test.ts: the same raw bytes fed to
// isopool's HTTP/1.1 layer and to node:http (llhttp, strict), each over an in-memory connection,
// and what each made of them reduced to a verdict that can be compared.
//
// A verdict is the requests the server handed to its listener — method, target, version, raw
// header fields, body bytes, and whether the body was complete — and whether it then stopped (an
// error answer from the parser, or the connection ended or cut). Status codes are not compared: isopool
// answers some refusals with another code than node:http on purpose (501 for an unknown method,
// 431 against 400, …); what must agree is what was accepted, byte for byte, and that the rest was
// refused.
import { createServer } from 'node:http'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { Duplex } from 'node:stream'
import { Http1Server } from '../src/main/http1.ts'
import { forEachField, readRequestLine } from '../src/shared/head-text.ts'

export interface Seen {
  method: string
  url: string
  /** '1.0' or '1.1' (node:http's httpVersion; isopool's from its request line). */
  version: string
  /** Field names as sent, values as the parser kept them. */
  headers: string[]
  body: string
  complete: boolean
}

export interface Verdict {
  requests: Seen[]
  /** It took no more requests on the connection: it refused (an error answer from the parser),
   * or ended or cut the connection (after a Connection: close, or at an error). */
  stopped: boolean
  /** The refusal's status when one was written (for the report, not compared). */
  status: number | null
}

/** A connection in memory: what is pushed is what the server reads; what it writes is kept. */
class Pipe extends Duplex {
  readonly out: Buffer[] = []
  destroyedByServer = false
  endedByServer = false
  _read (): void {}
  _write (chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.out.push(Buffer.from(chunk))
    cb()
  }

  _final (cb: () => void): void {
    this.endedByServer = true
    cb()
  }

  _destroy (err: Error | null, cb: (err: Error | null) => void): void {
    this.destroyedByServer = true
    cb(err)
  }

  // What node:http and isopool call on a socket, as a loopback socket has them.
  setNoDelay (): this { return this }
  setKeepAlive (): this { return this }
  setTimeout (): this { return this }
}

/** Let every chunk already pushed be read, parsed and answered. */
async function settle (): Promise<void> {
  for (let i = 0; i < 6; i++) await new Promise(resolve => setImmediate(resolve))
}

const LIMITS = { maxHeaderSize: 16384, headersTimeout: 60_000, requestTimeout: 300_000, keepAliveTimeout: 5000, checkInterval: 15_000, maxDrain: 1 << 20 }

/** The status lines a server wrote on a connection, in order. */
function statuses (out: Buffer[]): number[] {
  const text = Buffer.concat(out).toString('latin1')
  return [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map(m => Number(m[1]))
}

export async function isopoolVerdict (pieces: readonly Buffer[]): Promise<Verdict> {
  const requests: Seen[] = []
  const server = new Http1Server(LIMITS, (req, res) => {
    const line = readRequestLine(req.head)
    const headers: string[] = []
    forEachField(req.head, line.fieldsAt, (n, v) => headers.push(n, v))
    const seen: Seen = { method: req.method, url: req.url, version: req.conn.http10 ? '1.0' : '1.1', headers, body: '', complete: false }
    requests.push(seen)
    const answer = (): void => {
      seen.complete = true
      res.writeHead(200, ['content-length', '2'], true)
      res.endFrom(Buffer.from('ok'), 0, 2)
    }
    if (req.bodyLength === 0) answer()
    else req.onBody(chunk => { seen.body += chunk.toString('latin1') }, answer)
  })
  const pipe = new Pipe()
  server.accept(pipe as unknown as Socket)
  for (const piece of pieces) {
    pipe.push(piece)
    await settle()
  }
  await settle()
  const refusal = statuses(pipe.out).find(s => s >= 400) ?? null
  const stopped = refusal !== null || pipe.destroyedByServer || pipe.endedByServer
  pipe.destroy()
  return { requests, stopped, status: refusal }
}

export async function nodeVerdict (pieces: readonly Buffer[]): Promise<Verdict> {
  const requests: Seen[] = []
  let refused = false
  let status: number | null = null
  let upgradedAt = 0
  const pipe = new Pipe()
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    // node:http parses on after it refused a request of a pipeline itself (a missing Host) and
    // hands the next to its listener: what comes after its own refusal is not taken.
    if (statuses(pipe.out).some(s => s >= 400)) {
      req.resume()
      return
    }
    const seen: Seen = { method: req.method ?? '', url: req.url ?? '', version: req.httpVersion, headers: [...req.rawHeaders], body: '', complete: false }
    requests.push(seen)
    if (upgrades(req.rawHeaders)) upgradedAt = requests.length
    req.on('data', (chunk: Buffer) => { seen.body += chunk.toString('latin1') })
    req.on('end', () => {
      seen.complete = true
      res.writeHead(200, { 'content-length': 2 })
      res.end('ok')
    })
  })
  server.on('clientError', (err: NodeJS.ErrnoException & { code?: string }, socket: Duplex) => {
    refused = true
    status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400
    socket.destroy()
  })
  server.emit('connection', pipe)
  for (const piece of pieces) {
    if (pipe.destroyed) break
    pipe.push(piece)
    await settle()
  }
  await settle()
  // A refusal node:http writes itself (417 for an unknown expectation), or a connection it cut
  // (a CONNECT nobody listens for).
  const answered = statuses(pipe.out)
  const written = answered.find(s => s >= 400) ?? null
  // Pipelined requests are answered in order, each taken one with its 200: those answered after
  // a refusal node:http wrote itself (a missing Host) came after it, and are not taken either.
  const firstRefusal = answered.findIndex(s => s >= 400)
  if (firstRefusal >= 0 && requests.length > firstRefusal) requests.length = firstRefusal
  // After a request that asks to switch protocols, llhttp reads no more HTTP. node:http, with no
  // 'upgrade' listener, answers the request, drops the bytes that came with it and parses those
  // that come later as requests again: what it takes after one depends on packet boundaries. So a
  // request asking to switch is taken as the last one, and what comes after it is not compared:
  // isopool closes the connection after answering it.
  if (upgradedAt > 0) requests.length = upgradedAt
  const upgraded = upgradedAt > 0 && requests[upgradedAt - 1].complete
  const stopped = refused || written !== null || pipe.destroyedByServer || pipe.endedByServer || upgraded
  pipe.destroy()
  server.close()
  return { requests, stopped, status: status ?? written }
}

/** A request llhttp ends the HTTP/1.1 exchange after: a Connection list naming `upgrade`, and an
 * Upgrade field that is not empty. */
export function upgrades (headers: readonly string[]): boolean {
  let connection = false
  let upgrade = false
  for (let i = 0; i + 1 < headers.length; i += 2) {
    const name = headers[i].toLowerCase()
    if (name === 'connection' && /(?:^|,)[ \t]*upgrade[ \t]*(?:,|$)/i.test(headers[i + 1])) connection = true
    if (name === 'upgrade' && headers[i + 1] !== '') upgrade = true
  }
  return connection && upgrade
}

/** `bytes` cut into pieces at the given offsets (sorted, within the bytes). */
export function cut (bytes: Buffer, at: readonly number[] = []): Buffer[] {
  const points = [...new Set(at.filter(n => n > 0 && n < bytes.byteLength))].sort((a, b) => a - b)
  const pieces: Buffer[] = []
  let from = 0
  for (const p of points) {
    pieces.push(bytes.subarray(from, p))
    from = p
  }
  pieces.push(bytes.subarray(from))
  return pieces
}

/** The same request: head alike, and bodies alike — or, for the last request of a side that
 * stopped inside its body, the bytes it read before it stopped a prefix of the other's. */
function same (a: Seen, b: Seen, aStopped: boolean, bStopped: boolean): boolean {
  if (a.method !== b.method || a.url !== b.url || a.version !== b.version || JSON.stringify(a.headers) !== JSON.stringify(b.headers)) return false
  if (a.body === b.body) return true
  if (aStopped && !a.complete && b.body.startsWith(a.body)) return true
  return bStopped && !b.complete && a.body.startsWith(b.body)
}

/**
 * Where isopool's verdict departs from node:http's beyond what is allowed, or null. Allowed: the
 * same requests, byte for byte, and both stopping after them (or both not); isopool stopping
 * inside the request at which node:http stopped too (it refuses a head node:http accepted and
 * then refused the body of: no handler of isopool's ever saw it); and, for a case marked
 * `stricter`, isopool refusing what node:http took. Never allowed: isopool taking a request
 * node:http did not, or reading one differently.
 */
export function departure (iso: Verdict, node: Verdict, stricter?: string): string | null {
  const show = (): string => `isopool ${JSON.stringify(iso)}\nnode    ${JSON.stringify(node)}`
  const k = Math.min(iso.requests.length, node.requests.length)
  for (let i = 0; i < k; i++) {
    const last = i === k - 1
    if (!same(iso.requests[i], node.requests[i], last && iso.stopped, last && node.stopped)) return `request ${i} read differently\n${show()}`
  }
  if (iso.requests.length > node.requests.length) return `isopool took a request node:http did not\n${show()}`
  if (iso.requests.length < node.requests.length) {
    if (!iso.stopped) return `node:http took a request isopool is still waiting for\n${show()}`
    const refusedWithin = node.stopped && node.requests.length === k + 1 && !node.requests[k].complete
    if (refusedWithin || stricter !== undefined) return null
    return `isopool refused a request node:http took\n${show()}`
  }
  if (iso.stopped !== node.stopped && stricter === undefined) return `one stopped and the other did not\n${show()}`
  if (!iso.stopped && !node.stopped && k > 0 && iso.requests[k - 1].complete !== node.requests[k - 1].complete) return `a body complete on one side only\n${show()}`
  return null
}
