// isopool's HTTP/1.1 server: the main thread's accept loop, on node:net.
//
// Why not node:http: on the main thread every request pays for parsing and writing, and nothing
// else, and the main thread was the bottleneck (94 % of a core at 46k req/s for `hello`, the
// isolate 12 %). node:http builds an IncomingMessage and a ServerResponse (two streams) per
// request and formats headers through generic code: 4.3–7.0 µs of JavaScript per request, where
// this layer takes 1.9–2.8 (bench/micro/http1.ts). It parses the head straight into the
// NUL-joined text the request ring carries, and writes each response head and body in one
// socket write. Before and after, for `hello` through isopool-1: bench/README.md.
//
// What it does, as a production HTTP/1.1 server must (RFC 9112):
// - request line and headers: syntax at least as strict as llhttp's, read by the pure functions
//   of syntax.ts (parseHead, parseChunkLine, trailerLineError) and proven against llhttp by
//   test/http1-differential.test.ts; a request line is judged as its bytes arrive, a bare CR or
//   LF refused when it arrives; at most `maxHeaderSize` bytes → 431, an unknown method → 501,
//   conflicting or malformed framing → 400;
// - bodies by Content-Length or chunked (extensions and trailers checked and dropped), with
//   backpressure (pause/resume) and `Expect: 100-continue` (HTTP/1.1 only);
// - a request asking for a protocol switch is answered and the connection closed after it;
// - keep-alive (1.1 default, 1.0 on request), pipelining (requests are answered one at a time,
//   in order: the next head is parsed once the previous response is written), `Connection:
//   close` either way;
// - an unread request body is read and dropped after the response, up to `maxDrain` bytes;
// - headersTimeout / requestTimeout (slow clients → 408) and keepAliveTimeout (idle
//   connections closed), checked every `checkInterval` ms, not per request.
// Responses get a Date header and a Content-Length (chunked only when the length is unknown).
// Errors the layer answers itself carry isopool's coded JSON body and close the connection.

import { createServer as createNetServer } from 'node:net'
import type { AddressInfo, Server as NetServer, Socket } from 'node:net'
import { IsopoolError } from '../../shared/errors.ts'
import { Http1Response, writeError } from './response.ts'
import { bareLineBreak, CRLF, HEAD_END, judgeRequestLine, MAX_CHUNK_LINE, parseChunkLine, parseHead, REQUEST_LINE, skipEmptyLines, trailerLineError } from './syntax.ts'
import type { ParsedHead } from './syntax.ts'

export interface Http1Limits {
  /** Bytes of request line and headers (→ 431). */
  maxHeaderSize: number
  /** Ms from a request's first byte to the end of its head (→ 408); 0 for none. */
  headersTimeout: number
  /** Ms from a request's first byte to the end of its body (→ 408); 0 for none. */
  requestTimeout: number
  /** Ms an idle keep-alive connection is kept; 0 for ever. */
  keepAliveTimeout: number
  /** Open connections at most; one more is closed as it is accepted. Default: no limit. */
  maxConnections?: number
  /** How often the timeouts above are checked. */
  checkInterval: number
  /** Bytes of an unread request body read and dropped after its response; past that the
   * connection is closed instead. */
  maxDrain: number
}

export type RequestListener = (req: Http1Request, res: Http1Response) => void

/** A request this layer answered itself before any listener saw it — a malformed head (400),
 * one too large (431), too slow (408), an unknown method (501) — for the access log. */
export interface Refusal {
  /** Its method; '' when its request line could not be read. */
  readonly method: string
  readonly status: number
  /** Body bytes of the answer. */
  readonly bytes: number
  /** The coded error it was answered with. */
  readonly code: string
  /** Date.now() of its first byte; 0 when unknown. */
  readonly since: number
}

export type RefusalListener = (refusal: Refusal) => void

/** Ms a connection ended after a response waits for the client to close its side. */
const LINGER_MS = 5000

// Connection states: what the bytes that come next are.
const HEAD = 0
const BODY_LENGTH = 1
const CHUNK_LINE = 2
const CHUNK_DATA = 3
const CHUNK_DATA_END = 4
const TRAILERS = 5
/** The request is read; the next head waits until its response is written. */
const ANSWERING = 6
const CLOSED = 7


/** One request as the HTTP layer parsed it. Its body, if any, comes through onBody(). */
export class Http1Request {
  readonly method: string
  /** The request target as sent. */
  readonly url: string
  /** "method \0 url \0 name \0 value \0 …", names as sent: the REQ_HEAD text of the ring. */
  readonly head: string
  /** Content-Length; -1 when chunked; 0 when there is no body. */
  readonly bodyLength: number
  /** Read so far. */
  received = 0
  /** The whole body has been read. */
  complete: boolean
  readonly conn: Connection
  private dataCb: ((chunk: Buffer) => void) | null = null
  private endCb: (() => void) | null = null
  /** Paused by the consumer (backpressure) — or not yet asked for. */
  paused = true
  /** Nobody will read the rest: it is dropped. */
  dumping = false
  readonly expectContinue: boolean
  /** 100 Continue was sent. */
  continued = false
  /** The client's address as the server's services judged it (trustProxy); '' until then. */
  ip = ''
  /** The request id (x-request-id taken or made), '' when there is none. */
  id = ''
  /** performance.now() when the server took it (its one clock read a request: the access log's,
   * the metrics', the rate limit's, its timeout's and its placement's time); 0 until then. */
  startedAt = 0
  /** performance.now() when its answer was over, read once for every service that times it
   * (Services.responseFinished); 0 until then. */
  finishedAt = 0
  /** The pattern of the route it matched, null while none did. */
  route: string | null = null
  /** The isolate that took it, -1 while none did. */
  isolate = -1
  /** Pseudo-fields for the isolate (`\0:ip\0…\0:id\0…`, head-text.ts), after the head's. */
  meta = ''

  /** The first Origin and X-Request-Id fields' values as received; undefined when none came. */
  readonly origin: string | undefined
  readonly givenId: string | undefined

  constructor (conn: Connection, parsed: ParsedHead) {
    this.conn = conn
    this.method = parsed.method
    this.url = parsed.url
    this.head = parsed.head
    this.bodyLength = parsed.bodyLength
    this.complete = parsed.bodyLength === 0
    this.expectContinue = parsed.expectContinue
    this.origin = parsed.origin
    this.givenId = parsed.requestId
  }

  /** The peer's address on the socket ('' when the socket has none: server.request()). */
  get remoteAddress (): string {
    return this.conn.socket.remoteAddress ?? ''
  }

  /**
   * Take the connection's socket away from this layer, for another protocol (a WebSocket
   * upgrade, src/main/websockets.ts): nothing here reads, writes, times or closes it any more.
   * Returns the socket and the bytes read past this request's head (the new protocol's first).
   */
  takeSocket (): { socket: Socket, head: Buffer } {
    return { socket: this.conn.socket, head: this.conn.detach() }
  }

  /** Start reading the body: chunks go to `data`, then `end` once. */
  onBody (data: (chunk: Buffer) => void, end: () => void): void {
    this.dataCb = data
    this.endCb = end
    this.resume()
  }

  /** Stop reading the socket until resume(). */
  pause (): void {
    this.paused = true
  }

  /** Go on reading; with no body reader, what is left of the body is read and dropped. */
  resume (): void {
    if (this.dataCb === null) this.dumping = true
    if (!this.paused) return
    this.paused = false
    this.conn.bodyWanted(this)
  }

  /** @internal a piece of the body */
  deliver (chunk: Buffer): void {
    this.received += chunk.byteLength
    if (this.dataCb !== null && !this.dumping) this.dataCb(chunk)
  }

  /** @internal the body is complete */
  finish (): void {
    this.complete = true
    const end = this.endCb
    this.endCb = null
    if (end !== null && !this.dumping) end()
  }

  /** Dropped unread from now on (the response was written without reading it). */
  dump (): void {
    this.dumping = true
    this.dataCb = null
    this.endCb = null
  }
}


class Connection {
  readonly socket: Socket
  readonly server: Http1Server
  private state = HEAD
  /** Bytes read and not yet parsed. */
  private buf: Buffer | null = null
  /** Body bytes left in this Content-Length body or chunk. */
  private left = 0
  private req: Http1Request | null = null
  private res: Http1Response | null = null
  /** Inside consume(): re-entrant calls only flag that there is more to do. */
  private consuming = false
  private socketPaused = false
  /** Waiting for the socket's 'drain' before the next request is parsed. */
  private drainWait = false
  /** Date.now() of the current request's first byte; 0 between requests. */
  started = 0
  /** Date.now() when the connection last became idle. */
  idleSince: number
  http10 = false
  /** Bytes of trailers read. */
  private trailerBytes = 0
  /** Bytes at the start of buf already searched for the end of a head. */
  private scanned = 0
  /** The method of the request being parsed or answered, once its request line is read. */
  private method = ''

  /** Its listeners on the socket, to take them off in detach(). */
  private readonly listeners: [string, (chunk: Buffer) => void][]

  constructor (server: Http1Server, socket: Socket) {
    this.server = server
    this.socket = socket
    this.idleSince = Date.now()
    this.listeners = [
      ['data', (chunk: Buffer) => this.onData(chunk)],
      ['error', () => {}], // a reset client: 'close' follows
      // The client shut down its side: it is gone, as node:http takes it (httpAllowHalfOpen is
      // off by default there too). A request in flight hears it through its response's onClose, so
      // a queued one gives up its place and a handler's answer is dropped.
      ['end', () => this.destroy()],
      ['close', () => this.onClose()]
    ]
    for (const [event, fn] of this.listeners) socket.on(event, fn)
  }

  /** The socket leaves this layer (Http1Request.takeSocket): the bytes read past the head. */
  detach (): Buffer {
    const rest = this.buf ?? Buffer.alloc(0)
    this.buf = null
    this.state = CLOSED
    this.res = null
    for (const [event, fn] of this.listeners) this.socket.off(event, fn)
    this.server.forget(this)
    // Left paused if it was: the new owner resumes it once it listens for the bytes.
    this.socketPaused = false
    return rest
  }

  /** No request in progress and nothing buffered. */
  get idle (): boolean {
    return this.state === HEAD && this.started === 0 && this.res === null
  }

  private onData (chunk: Buffer): void {
    if (this.state === CLOSED) return
    if (this.started === 0 && this.state === HEAD) this.started = Date.now()
    const buf = this.buf
    this.buf = buf === null || buf.byteLength === 0 ? chunk : Buffer.concat([buf, chunk])
    this.consume()
  }

  /** Parse what is buffered as far as the state allows. */
  private consume (): void {
    if (this.consuming) return
    this.consuming = true
    try {
      while (this.buf !== null && this.buf.byteLength > 0 && this.step());
    } finally {
      this.consuming = false
    }
    this.flowControl()
  }

  /** One parsing step over this.buf; false when it needs more bytes or must wait. */
  private step (): boolean {
    const buf = this.buf!
    switch (this.state) {
      case HEAD: return this.takeHead(buf)
      case BODY_LENGTH:
      case CHUNK_DATA: {
        const req = this.req!
        if (req.paused && !req.dumping) return false
        const n = Math.min(this.left, buf.byteLength)
        this.left -= n
        this.buf = n === buf.byteLength ? null : buf.subarray(n)
        req.deliver(n === buf.byteLength ? buf : buf.subarray(0, n))
        if (req.dumping && req.received > this.server.limits.maxDrain) return this.drainedEnough()
        if (this.left === 0) {
          if (this.state === BODY_LENGTH) this.bodyDone()
          else this.state = CHUNK_DATA_END
        }
        return true
      }
      case CHUNK_LINE: {
        const eol = buf.indexOf('\r\n')
        // The line's length is judged the same whether it came in one packet or in many.
        if ((eol < 0 ? buf.byteLength : eol) > MAX_CHUNK_LINE) return this.bad('chunk size line too long')
        if (eol < 0) return false
        const size = parseChunkLine(buf.toString('latin1', 0, eol))
        if (size < 0) return this.bad('invalid chunk size line')
        this.buf = buf.subarray(eol + 2)
        this.left = size
        if (this.left === 0) {
          this.state = TRAILERS
          this.trailerBytes = 0
        } else {
          this.state = CHUNK_DATA
        }
        return true
      }
      case CHUNK_DATA_END: {
        if (buf.byteLength < 2) return false
        if (buf.readUInt16LE(0) !== CRLF) {
          this.fail(new IsopoolError('ISOPOOL_ERR_BAD_REQUEST', { reason: 'chunk data not followed by CRLF' }))
          return false
        }
        this.buf = buf.subarray(2)
        this.state = CHUNK_LINE
        return true
      }
      case TRAILERS: {
        const eol = buf.indexOf('\r\n')
        if (eol < 0) {
          if (this.trailerBytes + buf.byteLength > this.server.limits.maxHeaderSize) this.fail(new IsopoolError('ISOPOOL_ERR_HEADERS_TOO_LARGE'))
          return false
        }
        this.trailerBytes += eol + 2
        if (this.trailerBytes > this.server.limits.maxHeaderSize) {
          this.fail(new IsopoolError('ISOPOOL_ERR_HEADERS_TOO_LARGE'))
          return false
        }
        // Each trailer line is a field line, checked as a header is (and then dropped): a line
        // with a bare LF in it ("0\r\n\nGET /hidden …") would otherwise let a front end that ends
        // lines at LF see a request here that this server never answers.
        if (eol > 0) {
          const refused = trailerLineError(buf.toString('latin1', 0, eol))
          if (refused !== null) return this.bad(refused)
        }
        this.buf = buf.subarray(eol + 2)
        if (eol === 0) this.bodyDone() // the empty line after the trailers (which are dropped)
        return true
      }
      default: // ANSWERING, CLOSED: the next request waits
        return false
    }
  }

  /** Parse a request head when it is all here. */
  private takeHead (buf: Buffer): boolean {
    // A client that sends requests and does not read the answers: stop parsing (and reading)
    // until the socket has written what it holds, or its answers would pile up here unbounded.
    if (this.socket.writableNeedDrain) {
      if (!this.drainWait) {
        this.drainWait = true
        this.socket.once('drain', () => {
          this.drainWait = false
          this.consume()
        })
      }
      return false
    }
    const limits = this.server.limits
    const from = skipEmptyLines(buf)
    // A head that comes in many pieces is searched from where the last search stopped.
    const end = buf.indexOf(HEAD_END, Math.max(from, this.scanned - 3), 'latin1')
    if (end < 0 || end + 4 - from > limits.maxHeaderSize) {
      if (end >= 0 || buf.byteLength - from > limits.maxHeaderSize) this.fail(new IsopoolError('ISOPOOL_ERR_HEADERS_TOO_LARGE'))
      // Lines end in CRLF only: a bare CR or LF is refused as it arrives (it would otherwise wait
      // for the timeout, or end a line for a front end that this server reads otherwise).
      else if (bareLineBreak(buf, Math.max(from, this.scanned - 1), buf.byteLength) >= 0) return this.bad('a bare CR or LF in the head')
      // The request line is judged as soon as its bytes show what it is, not at the end of the head.
      else if (!this.lineLooksRight(buf, from)) return false
      else {
        if (from > 0) this.buf = buf.subarray(from)
        this.scanned = buf.byteLength - from
      }
      return false
    }
    this.scanned = 0
    this.lineChecked = false
    const text = buf.toString('latin1', from, end)
    this.buf = end + 4 === buf.byteLength ? null : buf.subarray(end + 4)
    const parsed = parseHead(text)
    this.method = parsed.method // '?' for no request line: not HEAD, and no longer in the buffer for bufferedMethod()
    if (parsed.error !== null) {
      this.fail(parsed.error)
      return false
    }
    const { bodyLength, http10 } = parsed
    const chunked = bodyLength === -1
    this.http10 = http10
    const req = new Http1Request(this, parsed)
    const res = new Http1Response(this, req, parsed.keepAlive)
    this.req = req
    this.res = res
    if (bodyLength === 0) {
      this.state = ANSWERING
    } else if (chunked) {
      this.state = CHUNK_LINE
    } else {
      this.state = BODY_LENGTH
      this.left = bodyLength
    }
    try {
      this.server.listener(req, res)
    } catch (err) {
      // A bug of ours must cost this one request, never the process: log it whole, answer 500
      // (or cut the answer short if it had begun), close the connection.
      console.error('isopool: the main thread failed on a request:', err)
      this.fail(new IsopoolError('ISOPOOL_ERR_INTERNAL'))
      return false
    }
    return true
  }

  /** The request's body was asked for (or is to be dropped): go on reading. */
  bodyWanted (req: Http1Request): void {
    if (req !== this.req || this.state === CLOSED) return
    if (req.expectContinue && !req.continued && !req.dumping && this.res !== null && !this.res.headersSent) {
      req.continued = true
      this.socket.write('HTTP/1.1 100 Continue\r\n\r\n', 'latin1')
    }
    if (req.dumping && req.bodyLength > this.server.limits.maxDrain) {
      // Too much to read just to drop it: close after the response instead.
      if (this.res !== null) this.res.shouldKeepAlive = false
      return
    }
    // Not from inside a parse step (a consumer resuming from its data callback).
    if (!this.consuming) process.nextTick(() => this.consume())
  }

  private bodyDone (): void {
    this.state = ANSWERING
    const req = this.req!
    req.finish()
    // Answered before the body was all read — or just now, from the body's end: unless that answer
    // ended the connection (a Connection: close), the next request may come.
    if (this.res === null && this.state === ANSWERING) this.nextRequest()
  }

  /** The response is written whole. */
  responded (res: Http1Response): void {
    if (res !== this.res) return
    this.res = null
    const req = this.req!
    if (!res.shouldKeepAlive) {
      this.endAfterResponse()
      return
    }
    if (!req.complete) {
      // Answered before its body was read (a 404 to a POST, a 413, a timeout): drop the rest,
      // so the connection can carry the next request.
      req.dump()
      if (!this.canDrain(req)) {
        this.endAfterResponse()
        return
      }
      this.consume()
      return
    }
    this.nextRequest()
  }

  /**
   * Whether the rest of an unread body can be read and dropped to keep the connection: not when
   * it is announced past maxDrain, nor when the client expected 100 Continue and did not get it
   * (it may never send the body: what comes next is unknown).
   */
  canDrain (req: Http1Request): boolean {
    return req.bodyLength - req.received <= this.server.limits.maxDrain && !(req.expectContinue && !req.continued)
  }

  /** A body being dropped went past maxDrain: close once its response is out. */
  private drainedEnough (): false {
    if (this.res === null) this.endAfterResponse()
    else this.res.shouldKeepAlive = false
    return false
  }

  /** Date.now() when the connection was ended after a response. */
  private endedAt = 0

  /**
   * Close after the response: a FIN after the last byte. What the client still sends is read
   * and dropped (unread bytes at close would reset the connection, and the client might lose
   * the response); a client that keeps the connection open is cut off by check().
   */
  private endAfterResponse (): void {
    this.state = CLOSED
    this.buf = null
    this.endedAt = Date.now()
    this.socket.end()
    if (this.socketPaused) {
      this.socketPaused = false
      this.socket.resume()
    }
  }

  private nextRequest (): void {
    this.req = null
    this.method = ''
    this.state = HEAD
    this.started = this.buf !== null && this.buf.byteLength > 0 ? Date.now() : 0
    this.idleSince = Date.now()
    if (this.server.closing && this.started === 0) {
      this.destroy()
      return
    }
    this.consume()
  }

  /** Stop reading the socket while nothing can take the bytes; read again when it can. */
  private flowControl (): void {
    const req = this.req
    const buffered = this.buf === null ? 0 : this.buf.byteLength
    const stall = this.drainWait || this.state === ANSWERING ? buffered > this.server.limits.maxHeaderSize
      : this.state === BODY_LENGTH || this.state === CHUNK_DATA ? req !== null && req.paused && !req.dumping && buffered > 0
        : false
    if (stall && !this.socketPaused) {
      this.socketPaused = true
      this.socket.pause()
    } else if (!stall && this.socketPaused) {
      this.socketPaused = false
      this.socket.resume()
    }
  }

  private bad (reason: string): false {
    this.fail(new IsopoolError('ISOPOOL_ERR_BAD_REQUEST', { reason }))
    return false
  }

  /** Answer `err` (when no response has begun) and close the connection. */
  fail (err: IsopoolError): void {
    if (this.state === CLOSED) return
    const res = this.res
    if ((res === null || !res.headersSent) && this.socket.writable) {
      // An answer to HEAD has the length of its body and not the body, even this one; written
      // by the one coded-error writer, as a response of its own (the pending one, if any, is
      // never written: its owner hears below that the connection closed).
      const method = this.method === '' ? this.bufferedMethod() : this.method
      const answer = new Http1Response(this, { method, complete: true, bodyLength: 0, received: 0, expectContinue: false, continued: false }, false)
      writeError(answer, err)
      this.endAfterResponse()
      this.res = null
      if (res !== null) {
        // What its owner hears of it (the access log, metrics) is what the client got instead.
        res.statusCode = answer.statusCode
        res.bytes = answer.bytes
        res.closed()
      } else {
        this.server.refused?.({ method, status: answer.statusCode, bytes: answer.bytes, code: err.code, since: this.started })
      }
    } else {
      this.destroy()
    }
  }

  /** Whether the start of the head at `from` can still be a valid request line (its whole line
   * when its CRLF is here, else what came of it). */
  private lineLooksRight (buf: Buffer, from: number): boolean {
    if (this.lineChecked) return true
    const eol = buf.indexOf('\r\n', from, 'latin1')
    if (eol >= 0) this.lineChecked = true // once per head, however many pieces the rest comes in
    // What a stray protocol sends shows in its first bytes; a long line waits for its CRLF (or
    // maxHeaderSize), so a client trickling bytes cannot make this cost more than a few hundred.
    else if (buf.byteLength - from > 256) return true
    // Without its CRLF yet, a last CR may be the first half of it.
    const to = eol >= 0 ? eol : buf[buf.byteLength - 1] === 13 ? buf.byteLength - 1 : buf.byteLength
    const line = buf.toString('latin1', from, to)
    const verdict = eol < 0 ? judgeRequestLine(line) : REQUEST_LINE.test(line) ? judgeRequestLine(line) : 'line'
    if (verdict === 'ok') return true
    if (verdict === 'method') this.fail(new IsopoolError('ISOPOOL_ERR_METHOD_NOT_IMPLEMENTED', { method: JSON.stringify(line.split(' ')[0]).slice(0, 40) }))
    else this.bad('invalid request line')
    return false
  }

  /** The current head's request line was judged whole (lineLooksRight). */
  private lineChecked = false

  /** The method of a head refused before it was parsed, if its request line is whole and valid. */
  private bufferedMethod (): string {
    const buf = this.buf
    if (this.state !== HEAD || buf === null) return ''
    const from = skipEmptyLines(buf)
    const eol = buf.indexOf('\r\n', from, 'latin1')
    return eol < 0 ? '' : REQUEST_LINE.exec(buf.toString('latin1', from, eol))?.[1] ?? ''
  }

  destroy (): void {
    this.state = CLOSED
    this.socket.destroy()
  }

  private onClose (): void {
    this.state = CLOSED
    this.buf = null
    this.server.forget(this)
    const res = this.res
    this.res = null
    res?.closed()
  }

  /** Called every checkInterval ms. */
  check (now: number): void {
    const l = this.server.limits
    if (this.state === CLOSED) {
      if (this.endedAt !== 0 && now - this.endedAt > LINGER_MS) this.socket.destroy()
    } else if (this.state === HEAD) {
      if (this.started !== 0) {
        if (l.headersTimeout > 0 && now - this.started > l.headersTimeout) this.fail(new IsopoolError('ISOPOOL_ERR_REQUEST_TIMEOUT'))
      } else if (this.res === null && l.keepAliveTimeout > 0 && now - this.idleSince > l.keepAliveTimeout) {
        this.destroy()
      }
    } else if (this.state !== ANSWERING && this.req !== null && !this.req.complete) {
      if (l.requestTimeout > 0 && now - this.started > l.requestTimeout) this.fail(new IsopoolError('ISOPOOL_ERR_REQUEST_TIMEOUT'))
    }
  }
}


export class Http1Server {
  readonly limits: Http1Limits
  readonly listener: RequestListener
  /** Hears of the requests refused before the listener saw them (the access log); null: nobody. */
  readonly refused: RefusalListener | null
  private readonly net: NetServer
  private readonly connections = new Set<Connection>()
  private timer: NodeJS.Timeout | null = null
  /** close() was called: no new connections, none kept alive. */
  closing = false
  /** serve() was called: accepted sockets are served, no longer held. */
  private serving = false
  /** Sockets accepted after bind() and before serve(): read once the server serves. */
  private readonly held = new Set<Socket>()
  /** The Keep-Alive header telling clients how long an idle connection is kept. */
  readonly keepAliveHint: string

  constructor (limits: Http1Limits, listener: RequestListener, refused: RefusalListener | null = null) {
    this.limits = limits
    this.listener = listener
    this.refused = refused
    this.keepAliveHint = limits.keepAliveTimeout >= 1000 ? `keep-alive: timeout=${Math.floor(limits.keepAliveTimeout / 1000)}\r\n` : ''
    // allowHalfOpen: a Connection decides itself what a client's FIN means.
    this.net = createNetServer({ allowHalfOpen: true, noDelay: true }, (socket: Socket) => {
      if (this.serving) this.accept(socket)
      else this.hold(socket)
    })
    if (limits.maxConnections !== undefined) this.net.maxConnections = limits.maxConnections
  }

  /** Serve a connected socket (the listening server's connections; bench/micro/http1.ts hands it
   * an in-memory duplex). */
  accept (socket: Socket): void {
    this.connections.add(new Connection(this, socket))
  }

  /** Bind and serve at once. */
  async listen (port: number, host: string): Promise<AddressInfo> {
    const addr = await this.bind(port, host)
    this.serve()
    return addr
  }

  /**
   * Take the address (rejecting with the system's error, EADDRINUSE say, before anything else
   * started), without serving yet: a client that connects meanwhile waits, unread, until
   * serve() (or is closed by close()).
   */
  bind (port: number, host: string): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.net.once('error', reject)
      this.net.listen(port, host, () => {
        this.net.off('error', reject)
        resolve(this.net.address() as AddressInfo)
      })
    })
  }

  /** Serve the bound address: the sockets that connected since bind(), then every new one. */
  serve (): void {
    if (this.serving) return
    this.serving = true
    this.timer = setInterval(() => this.check(), this.limits.checkInterval)
    this.timer.unref()
    for (const socket of this.held) if (!socket.destroyed) this.accept(socket)
    this.held.clear()
  }

  private hold (socket: Socket): void {
    this.held.add(socket)
    socket.on('error', () => {}) // a reset client: 'close' follows
    socket.once('close', () => this.held.delete(socket))
  }

  /** Stop accepting; resolves once every connection is gone. Idle ones close now, busy ones
   * after their response. */
  close (): Promise<void> {
    this.closing = true
    const closed = new Promise<void>(resolve => this.net.close(() => resolve()))
    this.closeIdleConnections()
    // Held since bind(), never served (the server failed to start): nothing of theirs was read.
    for (const socket of this.held) socket.destroy()
    return closed.finally(() => {
      if (this.timer !== null) clearInterval(this.timer)
    })
  }

  closeIdleConnections (): void {
    for (const c of this.connections) if (c.idle) c.destroy()
  }

  closeAllConnections (): void {
    for (const c of this.connections) c.destroy()
    for (const socket of this.held) socket.destroy()
  }

  /** @internal */
  forget (c: Connection): void {
    this.connections.delete(c)
  }

  private check (): void {
    const now = Date.now()
    for (const c of this.connections) c.check(now)
  }
}

