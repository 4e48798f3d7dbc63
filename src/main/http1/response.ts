// Writing HTTP/1.1 responses: the head (status line, fields, framing, keep-alive, Date), the body
// in one or more socket writes, and the one writer of the coded errors the main thread answers
// itself — routing errors, limits, timeouts, the HTTP layer's own refusals alike.

import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import { errorBody, IsopoolError } from '../../shared/errors.ts'
import { CONTENT_TYPES, UNKNOWN_LENGTH } from '../../shared/frame.ts'
import { fieldList } from '../../shared/head-text.ts'
import { BAD_VALUE, isServerOwnedHeader, isStatus, NOSNIFF, TOKEN } from '../../shared/http-syntax.ts'
import { flat } from '../flat-string.ts'
import { CLOSE } from './syntax.ts'

/** What a response needs of its connection. */
export interface ResponseConnection {
  readonly socket: Socket
  readonly http10: boolean
  readonly server: { readonly closing: boolean, readonly keepAliveHint: string }
  /** Whether the rest of an unread body can be read and dropped to keep the connection. */
  canDrain (req: RespondedRequest): boolean
  /** The response was written whole. */
  responded (res: Http1Response): void
  destroy (): void
}

/** What a response needs of its request. */
export interface RespondedRequest {
  readonly method: string
  /** The whole body has been read. */
  readonly complete: boolean
  readonly bodyLength: number
  readonly received: number
  readonly expectContinue: boolean
  readonly continued: boolean
}

/** Responses up to this size (head and body) are built in the scratch buffer below. */
const SCRATCH_MAX = 256 * 1024
const EMPTY_SCRATCH = Buffer.alloc(0)
/** Writes of at least this many bytes learn when the socket is done with them (a write callback,
 * a tick), so a scratch buffer a socket kept comes back for reuse (`spare`) instead of a new one
 * being allocated: a download's 64 KiB frames, which a fast client's socket often keeps part of.
 * Smaller writes do without the tick: a kept one's scratch is simply left to the GC. */
const TRACK_MIN = 16 * 1024
/** Scratch buffers a socket kept and has sent since, ready for reuse; a few at most. */
const spare: Scratch[] = []
const SPARE_MAX = 8

/** A buffer writeJoined() builds responses in. */
class Scratch {
  readonly buf: Buffer
  /** Tracked writes of it (TRACK_MIN) the socket has not sent yet. */
  private pending = 0
  /** A tracked write kept it, so it was replaced; it is reused once every tracked write of it is
   * sent. Only a tracked write retires it: an untracked one that a socket kept drops it for good,
   * as nothing would say when that socket is done with it. */
  private retired = false
  private readonly sent = (): void => {
    if (--this.pending === 0 && this.retired) {
      this.retired = false
      if (spare.length < SPARE_MAX) spare.push(this)
    }
  }

  constructor (buf: Buffer) {
    this.buf = buf
  }

  /** Write `out` (in this buffer) to `socket`; true when the socket kept hold of it. */
  write (socket: Socket, out: Buffer): boolean {
    const track = out.byteLength >= TRACK_MIN
    if (track) {
      this.pending++
      socket.write(out, this.sent)
    } else {
      socket.write(out)
    }
    if (socket.writableLength === 0) return false
    if (track) this.retired = true
    return true
  }
}

/** The scratch writeJoined() builds in now; replaced when a write keeps hold of it. */
let scratch = new Scratch(EMPTY_SCRATCH)

/** The first `len` bytes of the scratch buffer: a spare one or one grown to at least 16 KiB or
 * twice as needed. */
function scratchFor (len: number): Buffer {
  if (scratch.buf.byteLength < len) {
    let next = spare.pop()
    while (next !== undefined && next.buf.byteLength < len) next = spare.pop()
    scratch = next ?? new Scratch(Buffer.allocUnsafeSlow(Math.min(SCRATCH_MAX, Math.max(16384, len * 2))))
  }
  return scratch.buf.subarray(0, len)
}

/** One response: a head, then its body in one or more writes. */
export class Http1Response {
  private readonly conn: ResponseConnection
  private readonly req: RespondedRequest
  /** Set false to close the connection after this response. */
  shouldKeepAlive: boolean
  headersSent = false
  /** end() was called. */
  writableEnded = false
  destroyed = false
  private pendingHead: string | null = null
  private chunked = false
  private noBody = false
  /** Told once if the connection closes before this response was written whole. */
  private closeListener: CloseListener | null = null
  /** The status written (0 until the head is). */
  statusCode = 0
  /** Body bytes written to the socket (not counting the head or chunk framing). */
  bytes = 0
  /**
   * Fields the server's services add to whatever head goes out (CORS, the request id, rate-limit
   * state): a handler's answer, a coded error, a builtin alike. Head lines as they go on the
   * wire, `name: value\r\n` each (headLines()), trusted: a service appends its own with one
   * string concatenation, and the head takes them with one more.
   */
  extra = ''
  /** Told once when this response is over: written whole, or its connection gone first. */
  private finishListener: FinishListener | null = null

  constructor (conn: ResponseConnection, req: RespondedRequest, keepAlive: boolean) {
    this.conn = conn
    this.req = req
    this.shouldKeepAlive = keepAlive
  }

  /** The head written says no body follows (1xx, 204, 304, an answer to HEAD). */
  get bodiless (): boolean { return this.noBody }

  /** The request this answers. */
  get request (): RespondedRequest { return this.req }

  /** `listener.responseFinished(this)` is called once this response is over: written whole, or
   * its connection closed first (then `writableEnded` is false). One listener: the server's. */
  onFinish (listener: FinishListener): void {
    this.finishListener = listener
  }

  /** `listener.closed()` is called once if the connection closes before this response was
   * written whole (one listener: the request's owner; no closure per request). */
  onClose (listener: CloseListener): void {
    this.closeListener = listener
  }

  /**
   * Status and headers (name, value, name, value, …). Throws ISOPOOL_ERR_RESPONSE_INVALID, with
   * nothing written, for a status or header node:http would refuse. The head is written with
   * the first body bytes.
   */
  writeHead (status: number, headers: string[], trusted = false): void {
    if (this.headersSent) throw new IsopoolError('ISOPOOL_ERR_RESPONSE_INVALID', { reason: 'the head was already sent' })
    if (!isStatus(status)) {
      throw new IsopoolError('ISOPOOL_ERR_RESPONSE_INVALID', { reason: `invalid status code ${status}` })
    }
    let length = false
    let s = statusLine(status)
    for (let i = 0; i + 1 < headers.length; i += 2) {
      const name = headers[i]
      const value = headers[i + 1]
      if (!trusted) {
        const problem = fieldProblem(name, value)
        if (problem !== null) throw new IsopoolError('ISOPOOL_ERR_RESPONSE_INVALID', { reason: problem })
        if (isConnection(name)) {
          if (CLOSE.test(value)) this.shouldKeepAlive = false
          continue // ours to say, below
        }
      }
      if (name.length === 14 && name.toLowerCase() === 'content-length') length = true
      s += name + ': ' + value + '\r\n'
    }
    this.endHead(status, s, length)
  }

  /**
   * writeHead() of a head whose status line and fields are made and checked already (a
   * handler's, writeHandlerHead(), which keeps them from answer to answer): `lines` ends with
   * its last field's CRLF; `length` is the Content-Length field's line, or '' for none.
   */
  writeLines (status: number, lines: string, length: string): void {
    if (this.headersSent) throw new IsopoolError('ISOPOOL_ERR_RESPONSE_INVALID', { reason: 'the head was already sent' })
    this.endHead(status, length === '' ? lines : lines + length, length !== '')
  }

  /** The head from `s` (the status line and the fields given) on: the server's own fields. */
  private endHead (status: number, s: string, length: boolean): void {
    if (this.extra !== '') s += this.extra
    this.statusCode = status
    // 1xx, 204 and 304 carry no body; HEAD answers carry the GET answer's headers and no body.
    this.noBody = status < 200 || status === 204 || status === 304 || this.req.method === 'HEAD'
    if (!length && !this.noBody) {
      this.chunked = true
      s += 'transfer-encoding: chunked\r\n'
    }
    const conn = this.conn
    if (!this.req.complete && !conn.canDrain(this.req)) this.shouldKeepAlive = false
    if (!this.shouldKeepAlive || conn.server.closing) {
      this.shouldKeepAlive = false
      s += 'connection: close\r\n'
    } else if (conn.http10) {
      s += 'connection: keep-alive\r\n'
    } else if (conn.server.keepAliveHint !== '') {
      s += conn.server.keepAliveHint
    }
    s += dateHeader() + '\r\n'
    this.pendingHead = s
    this.headersSent = true
  }

  /** Write a piece of the body. */
  write (chunk: Uint8Array): void {
    if (this.writableEnded || this.destroyed) return
    const socket = this.conn.socket
    const head = this.pendingHead
    this.pendingHead = null
    if (this.noBody || chunk.byteLength === 0) {
      if (head !== null) socket.write(head, 'latin1')
      return
    }
    this.bytes += chunk.byteLength
    if (this.chunked) {
      socket.cork()
      socket.write((head ?? '') + chunk.byteLength.toString(16) + '\r\n', 'latin1')
      socket.write(chunk)
      socket.write('\r\n', 'latin1')
      socket.uncork()
    } else if (head !== null) {
      this.writeJoined(head, chunk, 0, chunk.byteLength)
    } else {
      socket.write(chunk)
    }
  }

  /**
   * write() of `src[start, end)`, copied once into the layer's scratch with its chunk framing
   * (one socket write, not three) instead of into a fresh Buffer: a streamed response's frames
   * come out of the ring this way, 64 KiB at a time for a download, and a new Buffer per frame
   * was most of the main thread's garbage. The scratch is reused only once the kernel took the
   * write whole (writeJoined); a slow client's writes keep theirs.
   */
  writeFrom (src: Buffer, start: number, end: number): void {
    if (this.writableEnded || this.destroyed) return
    if (this.noBody || end <= start) {
      this.write(EMPTY_SCRATCH)
      return
    }
    const head = this.pendingHead ?? ''
    this.pendingHead = null
    this.bytes += end - start
    if (this.chunked) this.writeJoined(head + (end - start).toString(16) + '\r\n', src, start, end, '\r\n')
    else this.writeJoined(head, src, start, end)
  }

  /** The last piece of the body (or none); the response is complete. */
  end (chunk?: Uint8Array): void {
    if (this.writableEnded || this.destroyed) return
    if (!this.headersSent) this.writeHead(200, ['content-length', String(chunk?.byteLength ?? 0)], true)
    if (chunk === undefined) this.endFrom(null, 0, 0)
    else this.endFrom(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength), 0, chunk.byteLength)
  }

  /** end() with `src[start, end)` as the last piece of the body, copied once, head included. */
  endFrom (src: Buffer | null, start: number, end: number): void {
    if (this.writableEnded || this.destroyed) return
    const head = this.pendingHead
    this.pendingHead = null
    const n = end - start
    if (src !== null && n > 0 && !this.noBody) {
      if (this.chunked) {
        this.write(Buffer.from(src.subarray(start, end)))
        this.conn.socket.write('0\r\n\r\n', 'latin1')
      } else {
        this.bytes += n
        this.writeJoined(head ?? '', src, start, end)
      }
    } else {
      const tail = this.chunked && !this.noBody ? '0\r\n\r\n' : ''
      if (head !== null || tail !== '') this.conn.socket.write((head ?? '') + tail, 'latin1')
    }
    this.writableEnded = true
    this.closeListener = null
    this.conn.responded(this)
    this.finished()
  }

  private finished (): void {
    const listener = this.finishListener
    if (listener === null) return
    this.finishListener = null
    listener.responseFinished(this)
  }

  /**
   * Head and body in one buffer: one write, one syscall. The buffer is the layer's scratch,
   * reused from response to response while the kernel takes each write whole at once, as it
   * does unless the client reads slower than we answer. A copy into memory that was just used
   * is several times cheaper than one into a fresh allocation (1.3 µs against 5–7 µs for 64 KiB,
   * bench/micro/copy.ts), and these copies are the main thread's.
   */
  private writeJoined (head: string, src: Uint8Array, start: number, end: number, tail = ''): void {
    const len = head.length + end - start + tail.length
    const inScratch = len <= SCRATCH_MAX
    const out = inScratch ? scratchFor(len) : Buffer.allocUnsafe(len)
    const at = out.write(head, 0, 'latin1')
    if (src instanceof Buffer) src.copy(out, at, start, end)
    else out.set(src.subarray(start, end), at)
    if (tail !== '') out.write(tail, at + end - start, 'latin1')
    const socket = this.conn.socket
    if (!inScratch) {
      socket.write(out)
      return
    }
    // Anything the stream still counts as unwritten (libuv holds the rest of a partial write,
    // or the stream buffered it) may be this very memory: the next response gets another scratch.
    if (scratch.write(socket, out)) scratch = new Scratch(EMPTY_SCRATCH)
  }

  /** The connection holds more of what was written than it wants (its socket's highWaterMark): a
   * writer streaming a long body (static-files.ts) waits for onDrain() before the next piece, so
   * a slow client costs a bounded buffer, not the whole body. */
  get needsDrain (): boolean {
    return this.conn.socket.writableNeedDrain
  }

  /** `fn` once the connection has sent what it held. Never if it closes first: onClose() hears that. */
  onDrain (fn: () => void): void {
    this.conn.socket.once('drain', fn)
  }

  /** End the connection now: a response that cannot be completed (its status is out already). */
  destroy (): void {
    this.conn.destroy()
  }

  /** The connection switched protocols (a WebSocket upgrade wrote its own 101, or its own
   * refusal: `status`): this response is over, for whoever hears of its end (the access log,
   * metrics). */
  switched (status = 101): void {
    if (this.writableEnded) return
    this.statusCode = status
    this.headersSent = true
    this.writableEnded = true
    this.closeListener = null
    this.finished()
  }

  /** @internal the connection closed */
  closed (): void {
    if (this.writableEnded) return
    this.destroyed = true
    const listener = this.closeListener
    this.closeListener = null
    listener?.connectionClosed()
    this.finished()
  }
}

/** Fields (name, value, …) as head lines for Http1Response.extra: `name: value\r\n` each. */
export function headLines (fields: readonly string[]): string {
  let s = ''
  for (let i = 0; i + 1 < fields.length; i += 2) s += fields[i] + ': ' + fields[i + 1] + '\r\n'
  return s
}

/** What hears that a response is over (the server's services: the access log, metrics). */
export interface FinishListener {
  responseFinished (res: Http1Response): void
}

/** What hears that a response's connection closed before the response was written whole. */
export interface CloseListener {
  connectionClosed (): void
}

// The Date header, formatted when first wanted in each second and kept until the next second
// begins (a timer, unref'd, forgets it then), as node:http does: an answer reads no clock. (Reading
// Date.now() per answer was ~0.07 µs of a ~5 µs request on this VM's kvm-clock.) A loop blocked
// past the second keeps the old value until the timer runs: the field is precise to a second
// anyway (RFC 9110 §6.6.1).
let date = ''
const forgetDate = (): void => { date = '' }
export function dateHeader (): string {
  if (date === '') {
    const now = Date.now()
    date = 'date: ' + new Date(now).toUTCString() + '\r\n'
    setTimeout(forgetDate, 1000 - (now % 1000)).unref()
  }
  return date
}

const JSON_TYPE = 'application/json; charset=utf-8'

/**
 * Answer with a coded JSON error: the one writer of every error the main thread sends itself.
 * `extra` fields follow the standard ones; `close` ends the connection after it. A response whose
 * head is out already cannot change its status: the connection is cut instead.
 */
export function writeError (res: Http1Response, err: IsopoolError, extra: readonly string[] = [], close = false): void {
  if (res.headersSent || res.destroyed) {
    res.destroy()
    return
  }
  const body = Buffer.from(errorBody(err.toWire()))
  if (close) res.shouldKeepAlive = false
  res.writeHead(err.status ?? 500, ['content-type', JSON_TYPE, ...NOSNIFF, 'content-length', String(body.byteLength), ...extra], true)
  res.end(body)
}

/**
 * Write the head of a handler's response, as its RES_HEAD frame gave it: the status, the content
 * type by code, the fields the handler set (checked: they come from user code), and the length.
 * False when the body must not follow: the client is gone, or the status or a field is not valid
 * HTTP and a coded 500 went out instead.
 */
export function writeHandlerHead (res: Http1Response, status: number, ct: number, text: string, bodyLen: number): boolean {
  if (res.destroyed || res.writableEnded) return false
  // The content type and the length are ours; only the handler's fields need the checks.
  const trusted = text === '' || text === lastChecked || checkedFields(text)
  if (trusted && isStatus(status)) {
    // The status line, the type and the fields as last made when they are the same as the last
    // answer's (a route answers alike, request after request), and the length's line likewise:
    // no list of fields, no loop, and a head that is a rope of a few strings rather than ~30
    // short ones, the kept ones flattened once when made (flattening the rope is much of a
    // head's write; a kept rope would be walked again by every write). The main thread's time
    // from here to the head's bytes in the scratch (bench/micro/services.ts, measured inside the
    // server, with two clock reads): ~1.6 → ~1.0 µs with every service off, ~2.2 → ~1.6 µs with
    // all on.
    if (status !== linesStatus || ct !== linesCt || text !== linesText) {
      linesStatus = status
      linesCt = ct
      linesText = text
      lines = flat(statusLine(status) + (CONTENT_TYPES[ct] === undefined ? '' : 'content-type: ' + CONTENT_TYPES[ct] + '\r\n') + headLines(fieldList(text)))
    }
    let length = ''
    if (status !== 204 && status !== 304 && bodyLen !== UNKNOWN_LENGTH) {
      if (bodyLen !== lengthOf) {
        lengthOf = bodyLen
        lengthLine = flat('content-length: ' + bodyLen + '\r\n')
      }
      length = lengthLine
    }
    res.writeLines(status, lines, length)
    return true
  }
  const headers: string[] = []
  const type = CONTENT_TYPES[ct]
  if (type !== undefined) headers.push('content-type', type)
  if (text.length > 0) headers.push(...fieldList(text))
  // 204 and 304 carry no body and no length (RFC 9110 §8.6).
  // A stream's length is unknown (UNKNOWN_LENGTH): no Content-Length, so it goes chunked.
  if (status !== 204 && status !== 304 && bodyLen !== UNKNOWN_LENGTH) headers.push('content-length', String(bodyLen))
  try {
    res.writeHead(status, headers, trusted)
    return true
  } catch (err) {
    writeError(res, err instanceof IsopoolError ? err : new IsopoolError('ISOPOOL_ERR_RESPONSE_INVALID', { reason: (err as Error).message }))
    return false
  }
}

// writeHandlerHead()'s last status line and fields, by what they were made of.
let linesStatus = -1
let linesCt = -1
let linesText = ''
let lines = ''
// And its last Content-Length line.
let lengthOf = -1
let lengthLine = ''

/** The status line of `status`, as writeHead() makes it. */
function statusLine (status: number): string {
  return `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'unknown'}\r\n`
}

/** The last handler field text that passed checkedFields(). A route answers with the same fields
 * request after request, and readHead() hands a repeated text over as the same string: the
 * checks run once per distinct text, not per answer (they were four RegExp tests an answer for
 * the content type and length alone, ~0.15 µs). */
let lastChecked = ''

/** Whether every field of a RES_HEAD text passes writeHead()'s checks and none is Connection
 * (which writeHead() must see) or server-owned: then writeHead() may take the fields as
 * trusted. False sends them through writeHead()'s own checks, which throw the precise error. */
function checkedFields (text: string): boolean {
  const fields = fieldList(text)
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const name = fields[i]
    // A server-owned field (Content-Length, Transfer-Encoding, Keep-Alive: the isolate drops
    // them) takes writeHead()'s own path too, which sees a Content-Length among the fields.
    if (fieldProblem(name, fields[i + 1]) !== null || isConnection(name) || isServerOwnedHeader(name)) return false
  }
  lastChecked = text
  return true
}

/** What makes a field one writeHead() refuses (a name that is no token, a control character in
 * the value), or null when it may go out. */
function fieldProblem (name: string, value: string): string | null {
  if (!TOKEN.test(name)) return `invalid header name ${JSON.stringify(name)}`
  if (BAD_VALUE.test(value)) return `invalid character in the value of header ${JSON.stringify(name)}`
  return null
}

function isConnection (name: string): boolean {
  return name.length === 10 && name.toLowerCase() === 'connection'
}
