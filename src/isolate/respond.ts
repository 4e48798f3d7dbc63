// Turning what a handler returned (or threw) into a RES_HEAD frame and, for large bodies, BODY
// frames in the response ring. The isolate encodes the final bytes straight into shared memory:
// a JSON string is UTF-8-encoded in place, with no intermediate Buffer.

import { IdTable } from '../shared/id-table.ts'
import { errorBody, FALLBACK_ERROR_BODY, HttpError, IsopoolError } from '../shared/errors.ts'
import { BAD_VALUE, isServerOwnedHeader, isStatus, NOSNIFF, TOKEN } from '../shared/http-syntax.ts'
import type { WireError } from '../shared/errors.ts'
import { pack } from 'msgpackr'
import { CONTENT_TYPES, CT_JSON, CT_MSGPACK, CT_NONE, CT_OCTET, CT_TEXT, FLAG_END, HEAD_PREFIX, KIND_BODY, KIND_CREDIT, KIND_RES_HEAD, resArg, writeBody, writeHead, writeHeadPrefix } from '../shared/frame.ts'
import { FrameBacklog } from '../shared/frame-backlog.ts'
import type { PendingFrame } from '../shared/frame-backlog.ts'
import { forEachField } from '../shared/head-text.ts'
import type { RingProducer } from '../shared/ring.ts'
import { AnswerResponse, takeAnswer } from './answer-response.ts'
import { describeThrown } from './describe.ts'
import { contextText, logError } from './log.ts'
import type { HandlerContext } from './log.ts'
import { Compressor, encodedText, mayCompress } from './compress.ts'
import type { CompressionConfig } from '../shared/protocol.ts'
import { ACCEPT_ENCODING } from './request.ts'
import { chunkBytes, collect, isStreamSource, readerSource, ResponseStream, sourceOf } from './stream.ts'
import type { ChunkSource } from './stream.ts'
import type { IsolateRequest } from './request.ts'

/** A response on its way into the ring; `offset` is how much of the body is in it. */
class Outgoing {
  readonly ring: RingProducer
  readonly id: number
  readonly status: number
  readonly ct: number
  readonly text: string
  readonly body: Uint8Array | null
  offset = 0
  headSent = false
  /** µs the handler kept the isolate busy, reported in the RES_HEAD. */
  readonly busy: number

  constructor (ring: RingProducer, id: number, status: number, ct: number, text: string, body: Uint8Array | null, busy: number) {
    this.ring = ring
    this.id = id
    this.status = status
    this.ct = ct
    this.text = text
    this.body = body
    this.busy = busy
  }

  /** Write as much as fits; true when it is all in the ring. */
  write (): boolean {
    const ring = this.ring
    const bodyLen = this.body === null ? 0 : this.body.byteLength
    if (!this.headSent) {
      // Whole when it fits one frame, waiting for the room rather than splitting it: the main
      // thread then never has a head out on the socket while the rest waits here, where this
      // isolate dying (or being killed by a stuck handler) would cut the answer off. It answers
      // a clean 502 instead. Only larger answers stream.
      const n = writeHead(ring, KIND_RES_HEAD, this.id, resArg(this.status, this.busy), this.ct, this.text, bodyLen, this.body, 0, true, true)
      if (n < 0) return false
      this.headSent = true
      this.offset = n
      if (n === bodyLen) return true
    }
    while (this.offset < bodyLen) {
      const n = writeBody(ring, KIND_BODY, this.id, this.body, this.offset, true)
      if (n < 0) return false
      this.offset += n
    }
    return true
  }
}

/** A handler's result with the encoder its route compiled from its response schema. */
export class Encodable {
  readonly value: unknown
  readonly encode: (value: unknown) => string
  constructor (value: unknown, encode: (value: unknown) => string) {
    this.value = value
    this.encode = encode
  }
}

/**
 * Where answer() hands the answer it decided: into the ring as frames (ResponseWriter), or into a
 * Web Response (ResponseWriter.toResponse, for middleware). `c` is the sink's own context: the
 * request id, or what a 500's log line names.
 */
export interface AnswerSink<C, T> {
  /** A string body, UTF-8. */
  text (c: C, status: number, ct: number, text: string, body: string): T
  bytes (c: C, status: number, ct: number, text: string, body: Uint8Array | null): T
  /** A Response the handler returned, as it is. */
  response (c: C, res: Response): T
  /** A Blob (or File): its bytes, its type as the content type. */
  blob (c: C, blob: Blob): T
  /** What no answer can carry: the coded error answer of `err`. */
  fail (c: C, err: unknown): T
  /** A ReadableStream or an async iterable of string or byte chunks (src/isolate/stream.ts). */
  stream (c: C, source: ReadableStream | AsyncIterable<unknown>): T
}

/** What answer() and result() need of the request: whether it asks for msgpack, and (for a
 * stream, which its abort cancels) its signal. */
export interface AnsweredRequest {
  prefersMsgpack (): boolean
  readonly signal?: AbortSignal
}

/**
 * How a handler's result is answered — status, content type (CT_*), header text, body — decided
 * once here for both the frame writer and the Response builder, and handed to `to`. May throw;
 * both callers catch.
 */
export function answer<C, T> (c: C, value: unknown, handler: string, req: { prefersMsgpack (): boolean }, to: AnswerSink<C, T>): T {
  if (value instanceof Encodable) {
    if (req.prefersMsgpack()) value = value.value
    else {
      let json: string
      try {
        json = value.encode(value.value)
      } catch (err) {
        return to.fail(c, new IsopoolError('ISOPOOL_ERR_INVALID_RESULT', { handler, type: `${typeof value.value} (${(err as Error).message})` }))
      }
      return to.text(c, 200, CT_JSON, '', json)
    }
  }
  if (value === undefined) return to.bytes(c, 204, CT_NONE, '', null)
  if (typeof value === 'string') return to.text(c, 200, CT_TEXT, '', value)
  if (value instanceof Uint8Array) return to.bytes(c, 200, CT_OCTET, '', value)
  if (value instanceof Response) return to.response(c, value)
  if (value instanceof ReadableStream) return to.stream(c, value)
  if (value instanceof ArrayBuffer) return to.bytes(c, 200, CT_OCTET, '', new Uint8Array(value))
  if (typeof value === 'function' || typeof value === 'symbol') {
    return to.fail(c, new IsopoolError('ISOPOOL_ERR_INVALID_RESULT', { handler, type: `a ${typeof value}` }))
  }
  // Plain objects and arrays pass with one prototype read; anything else is bytes (a Blob, a
  // view), or JSON data (a Date, a class instance with fields), or named and refused.
  if (value !== null && typeof value === 'object' && !isPlain(value)) {
    if (ArrayBuffer.isView(value)) return to.bytes(c, 200, CT_OCTET, '', new Uint8Array(value.buffer, value.byteOffset, value.byteLength))
    if (value instanceof Blob) return to.blob(c, value)
    if (isStreamSource(value)) return to.stream(c, value)
    const type = unsendable(value, true)
    if (type !== null) return to.fail(c, new IsopoolError('ISOPOOL_ERR_INVALID_RESULT', { handler, type }))
  }
  if (req.prefersMsgpack()) {
    let bytes: Uint8Array
    try {
      bytes = pack(value)
    } catch (err) {
      return to.fail(c, new IsopoolError('ISOPOOL_ERR_INVALID_RESULT', { handler, type: `${typeof value} (${(err as Error).message})` }))
    }
    return to.bytes(c, 200, CT_MSGPACK, '', bytes)
  }
  let json: string | undefined
  try {
    json = JSON.stringify(value)
  } catch (err) {
    return to.fail(c, new IsopoolError('ISOPOOL_ERR_INVALID_RESULT', { handler, type: `${typeof value} (${(err as Error).message})` }))
  }
  return to.text(c, 200, CT_JSON, '', json ?? 'null')
}

export class ResponseWriter {
  readonly ring: RingProducer
  readonly dev: boolean
  /** Responses that did not fit yet, in order; while it is not empty new ones queue behind. */
  private readonly backlog: FrameBacklog<PendingFrame>
  /** Response streams being pulled, by request id: CREDIT frames reach them here. */
  private readonly streams = new IdTable<ResponseStream>()
  /** The request and handler name of the result() being decided, read synchronously like `busy`
   * by the paths that may stream. */
  private resultReq: AnsweredRequest | null = null
  private resultHandler = ''
  /** µs the handler whose result or error is written next kept the isolate busy; the caller
   * sets it right before result() or error(), which read it synchronously. */
  busy = 0
  /** The request whose answer is written next, when that answer may be compressed (the
   * compression option is on and its route allows it); null when it goes as it is. Set by the
   * caller like `busy`, read synchronously; paths that send later keep the value they started with. */
  compressing: Pick<IsolateRequest, typeof ACCEPT_ENCODING> | null = null
  /** The compression option, resolved (src/isolate/compress.ts); null when it is off. */
  private readonly compressor: Compressor | null
  /** This writer as answer()'s sink: each answer goes into the ring as request `id`'s. */
  private readonly frames: AnswerSink<number, void | Promise<void>> = {
    text: (id, status, ct, text, body) => this.sendString(id, status, ct, text, body),
    bytes: (id, status, ct, text, body) => this.send(id, status, ct, text, body),
    response: (id, res) => res instanceof AnswerResponse ? this.answered(id, res) : this.response(id, res, this.busy),
    blob: (id, blob) => this.blob(id, blob, this.busy),
    fail: (id, err) => this.error(id, err),
    stream: (id, source) => this.streamed(id, 200, CT_OCTET, '', sourceOf(source), this.busy, this.compressing)
  }
  /** This writer as answer()'s sink for toResponse(): the Response the frames would have carried
   * (the same status, the content type the main thread writes for the CT_* code, the same
   * fields), its body kept as the string or bytes made here (src/isolate/answer-response.ts).
   * `context` is a 500's log context. */
  private readonly responses: AnswerSink<HandlerContext | undefined, Response | Promise<Response>> = {
    // `added` is named, undefined, so that takeAnswer() setting it does not grow the object.
    text: (_, status, ct, text, body) => new AnswerResponse({ status, ct, text, body, fields: null, added: undefined }),
    bytes: (_, status, ct, text, body) => new AnswerResponse({ status, ct, text, body, fields: null, added: undefined }),
    response: (_, res) => res,
    blob: (_, blob) => {
      const type = blob.type
      const text = type === '' ? '' : headerText([['content-type', type]], this.ring.maxFrame, false)
      return new Response(blob, { headers: responseFields(type === '' ? CT_OCTET : CT_NONE, text) })
    },
    fail: (context, err) => {
      const a = this.errorAnswer(err, context)
      return new AnswerResponse({ status: a.status, ct: CT_JSON, text: a.text, body: a.body, fields: null, added: undefined })
    },
    stream: (_, source) => new Response(byteStream(sourceOf(source)), { headers: { 'content-type': CONTENT_TYPES[CT_OCTET]! } })
  }

  constructor (ring: RingProducer, dev: boolean, compression: CompressionConfig | null = null) {
    this.ring = ring
    this.dev = dev
    this.backlog = new FrameBacklog<PendingFrame>(ring)
    this.compressor = compression === null ? null : new Compressor(compression)
  }

  /**
   * Send whatever a handler returned. `handler` names it in errors. Total, like error(): a value
   * that cannot be sent is answered with a coded 500, and the promise (a Response's body is
   * read asynchronously) never rejects.
   */
  result (id: number, value: unknown, handler: string, req: AnsweredRequest): void | Promise<void> {
    this.resultReq = req
    this.resultHandler = handler
    try {
      const compressing = this.compressing
      const pending = this.encodeResult(id, value, handler, req)
      if (pending !== undefined) {
        return pending.catch(err => {
          this.compressing = compressing
          this.error(id, err)
        })
      }
    } catch (err) {
      this.error(id, err)
    }
  }

  private encodeResult (id: number, value: unknown, handler: string, req: { prefersMsgpack (): boolean }): void | Promise<void> {
    return answer(id, value, handler, req, this.frames)
  }

  /**
   * Send the error a handler threw (or any error of the request's path) as a JSON error body.
   * Total: it never throws, whatever was thrown — a value JSON cannot hold in an error's details,
   * headers HTTP cannot carry, a thrown proxy whose every trap throws. What cannot be described
   * is logged and answered with the fixed coded 500, so the error path can never take the
   * isolate down (it once did: a 5-byte body's 422 details held a BigInt).
   */
  error (id: number, err: unknown, context?: HandlerContext): void {
    const a = this.errorAnswer(err, context)
    this.sendString(id, a.status, CT_JSON, a.text, a.body)
  }

  /** The status, header text and JSON body of the answer to `err`, as error() sends it. Total. */
  errorAnswer (err: unknown, context?: HandlerContext): { status: number, text: string, body: string } {
    try {
      return this.describeError(err, context)
    } catch (failed) {
      if (!logError('an error response could not be built; answered 500', failed, context, err)) {
        log(`isopool: an error response${context === undefined ? '' : ` to ${contextText(context)}, which threw ${describeThrown(err)},`} could not be built; answering 500:`, failed)
      }
      return { status: 500, text: NOSNIFF_TEXT, body: FALLBACK_ERROR_BODY }
    }
  }

  /**
   * What a handler's outcome — the value it returned, or (`threw`) what it threw — would be sent
   * as, as a Web Response instead of frames: for middleware (src/isolate/middleware.ts), whose
   * next() is the Response the route would send. The decisions are result()'s and error()'s
   * (answer(), errorAnswer()), and it is as total: it never throws, its promise never rejects.
   * `context` (the request and its route) goes into the log line of a 500.
   */
  toResponse (outcome: unknown, threw: boolean, handler: string, req: { prefersMsgpack (): boolean }, context?: HandlerContext): Response | Promise<Response> {
    const to = this.responses
    if (threw) return to.fail(context, outcome)
    try {
      const r = answer(context, outcome, handler, req, to)
      return r instanceof Promise ? r.catch(err => to.fail(context, err)) : r
    } catch (err) {
      return to.fail(context, err)
    }
  }

  /** The status, header text and body of the answer to `err`; may throw (error() catches).
   * `context` (the request and its route) goes into the log line of a 500. */
  private describeError (err: unknown, context?: HandlerContext): { status: number, text: string, body: string } {
    let wire: WireError
    let text = NOSNIFF_TEXT
    if (err instanceof HttpError && isErrorStatus(err.status)) {
      wire = { code: typeof err.code === 'string' ? err.code : 'ISOPOOL_ERR_HTTP', message: String(err.message), status: err.status }
      if (err.headers !== undefined && err.headers !== null) {
        try {
          text = headerText(Object.entries(err.headers), this.ring.maxFrame, true)
        } catch (bad) {
          // The error still goes out, without the headers it could not carry.
          if (!logError('an HttpError\'s headers could not be sent', bad, context)) log(bad)
        }
      }
    } else if (err instanceof IsopoolError && err.status !== undefined && err.status < 500) {
      wire = err.toWire()
    } else if (err instanceof IsopoolError && err.status !== undefined) {
      // A server-side failure of ours (say an unsendable result): log it whole, send the code.
      logThrown(err, context)
      wire = this.dev ? err.toWire() : { code: err.code, message: 'Internal server error', status: err.status }
    } else {
      // Anything else a handler throws is a bug in it (an HttpError look-alike whose status is
      // not an error status among them): log it, leak nothing outside development.
      logThrown(err, context)
      wire = this.dev ? devWire(err) : { code: 'ISOPOOL_ERR_HANDLER', message: 'Internal server error', status: 500 }
    }
    return { status: wire.status ?? 500, text, body: errorBody(wire) }
  }

  private async response (id: number, res: Response, busy: number): Promise<void> {
    const compressing = this.compressing // read before the first await, like `busy`
    // Response.error() has status 0; the constructor itself allows 200–599 only.
    if (!isStatus(res.status)) throw new IsopoolError('ISOPOOL_ERR_RESPONSE_INVALID', { reason: `invalid status code ${res.status}` })
    const headers: [string, string][] = []
    for (const [name, value] of res.headers) {
      if (name === 'set-cookie') continue // Headers joins them; taken one by one below
      headers.push([name, value])
    }
    for (const cookie of res.headers.getSetCookie()) headers.push(['set-cookie', cookie])
    const text = headerText(headers, this.ring.maxFrame, false)
    if (res.body === null) {
      this.send(id, res.status, CT_NONE, text, null, busy, compressing)
      return
    }
    if (res.bodyUsed) throw new IsopoolError('ISOPOOL_ERR_RESPONSE_INVALID', { reason: 'its body was already read' })
    return this.streamed(id, res.status, CT_NONE, text, readerSource(res.body.getReader(), 'a Response body'), busy, compressing)
  }

  /** Acknowledge `n` bytes of request `id`'s streamed body to the main thread (a CREDIT frame,
   * in order with the answers: it waits behind them when the ring is full). */
  grant (id: number, n: number): void {
    const ring = this.ring
    this.backlog.add({ write: () => writeBody(ring, KIND_CREDIT, id, null, 0, false, n) >= 0 })
  }

  /** The main thread acknowledged `n` bytes of response stream `id` (a CREDIT frame). */
  credit (id: number, n: number): void {
    this.streams.get(id)?.credit(n)
  }

  /**
   * Answer with a stream's chunks: whole when they all come at once, else as a stream, head first
   * (src/isolate/stream.ts). Reads the request and handler of the result() under way before its
   * first await; resolves once the answer is all in the ring (or the backlog). A stream is never
   * compressed: its chunks go out as they come.
   */
  private async streamed (id: number, status: number, ct: number, text: string, source: ChunkSource, busy: number, compressing: Pick<IsolateRequest, typeof ACCEPT_ENCODING> | null): Promise<void> {
    const handler = this.resultHandler
    const signal = this.resultReq?.signal
    const got = await collect(source, handler, signal)
    if (got.done) {
      const body = got.parts.length === 1 ? got.parts[0] : Buffer.concat(got.parts, got.bytes)
      this.send(id, status, ct, text, body, busy, compressing)
      return
    }
    const s = new ResponseStream(id, this.backlog, source, handler)
    this.streams.set(id, s)
    const onAbort = (): void => s.abort(signal!.reason)
    signal?.addEventListener('abort', onAbort, { once: true })
    if (signal?.aborted === true) s.abort(signal.reason)
    try {
      await s.run(status, ct, text, resArg(status, busy), got)
    } finally {
      this.streams.delete(id)
      signal?.removeEventListener('abort', onAbort)
    }
  }

  /** An answer made for middleware by toResponse() and handed back with its body unread: sent as
   * the frame it was decided as, with its fields instead when they were touched. */
  private answered (id: number, res: AnswerResponse): void | Promise<void> {
    const taken = takeAnswer(res)
    if (taken === null) return this.response(id, res, this.busy)
    const { status, body } = taken
    let { ct, text } = taken
    let f = taken.fields
    if (taken.added !== undefined) {
      // Its own fields untouched, others added (a middleware that set a header): its content
      // type code and head text stand, the added fields follow them — unless a name repeats,
      // whose values are joined below as for any list.
      const t = addedText(text, taken.added, this.ring.maxFrame)
      if (t !== null) text = t
      else f = joinable(ct, text, taken.added)
    }
    if (f !== null) {
      // One field per name, its values joined as Headers joins them (Set-Cookie's each apart):
      // what a Response with these headers would have sent.
      const pairs: [string, string][] = []
      for (let i = 0; i < f.length; i += 2) {
        const name = f[i]
        let at = -1
        if (name !== 'set-cookie') for (let k = 0; k < pairs.length; k++) if (pairs[k][0] === name) { at = k; break }
        if (at < 0) pairs.push([name, f[i + 1]])
        else pairs[at][1] += `, ${f[i + 1]}`
      }
      // A content type left as it was goes as its code still: the main thread writes it unparsed.
      const type = CONTENT_TYPES[ct]
      const kept = type !== undefined && pairs.length > 0 && pairs[0][0] === 'content-type' && pairs[0][1] === type
      if (kept) pairs.shift()
      else ct = CT_NONE
      text = headerText(pairs, this.ring.maxFrame, false)
    }
    if (typeof body === 'string') this.sendString(id, status, ct, text, body)
    else this.send(id, status, ct, text, body)
  }

  /** A Blob (or File) as its bytes, with its type as the content type. */
  private async blob (id: number, blob: Blob, busy: number): Promise<void> {
    const compressing = this.compressing // read before the first await, like `busy`
    const type = blob.type
    const text = type === '' ? '' : headerText([['content-type', type]], this.ring.maxFrame, false)
    this.send(id, 200, type === '' ? CT_OCTET : CT_NONE, text, new Uint8Array(await blob.arrayBuffer()), busy, compressing)
  }

  /** Send a string body, UTF-8-encoded in place when it fits one frame. */
  private sendString (id: number, status: number, ct: number, text: string, body: string): void {
    if (this.backlog.empty) {
      const ring = this.ring
      const fixed = HEAD_PREFIX + text.length
      const bytes = Buffer.byteLength(body)
      // A body that may be compressed goes by send(), which compresses bytes.
      if (fixed + bytes <= ring.maxFrame && (this.compressing === null || this.compressor === null || bytes < this.compressor.threshold)) {
        const pos = ring.reserve(fixed + bytes, fixed + bytes)
        if (pos >= 0) {
          writeHeadPrefix(ring, pos, fixed + bytes, KIND_RES_HEAD, FLAG_END, ct, id, resArg(status, this.busy), text, bytes)
          ring.data.write(body, pos + fixed, bytes, 'utf8')
          ring.commit(fixed + bytes)
          return
        }
      }
    }
    this.send(id, status, ct, text, Buffer.from(body))
  }

  /** Send a response with a byte body; chunks it and waits for ring space as needed. */
  send (id: number, status: number, ct: number, text: string, body: Uint8Array | null, busy = this.busy, compressing = this.compressing): void {
    const c = this.compressor
    // Compression off, or this route's off, or a small body: one comparison or two, nothing more.
    if (c !== null && compressing !== null && body !== null && body.byteLength >= c.threshold && mayCompress(status, ct, text)) {
      const coding = c.choose(compressing[ACCEPT_ENCODING])
      if (coding === null) {
        this.encoded(id, status, ct, text, body, busy, null, null)
      } else if (c.offThread(coding, body.byteLength)) {
        // Large: on libuv's threadpool, this isolate serving other requests meanwhile (ASYNC_FROM).
        c.compress(coding, body, (err, out) => this.encoded(id, status, ct, text, body, busy, coding, err ?? out))
      } else {
        const start = performance.now()
        let out: Buffer | Error
        try {
          out = c.compressSync(coding, body)
        } catch (err) {
          out = err as Error
        }
        // Compressing is the isolate's work for this request too: the main thread places by it.
        this.encoded(id, status, ct, text, body, busy + Math.round((performance.now() - start) * 1000), coding, out)
      }
      return
    }
    this.backlog.add(new Outgoing(this.ring, id, status, ct, text, body, busy))
  }

  /**
   * Send an answer that could have been compressed: `out`, the body compressed with `coding`, or
   * (`coding` null) the body as it is, saying it varies by Accept-Encoding either way. A failed
   * compression is logged and the body goes as it is; so does one that came out no smaller.
   */
  private encoded (id: number, status: number, ct: number, text: string, body: Uint8Array, busy: number, coding: string | null, out: Buffer | Error | null): void {
    try {
      let sent: Uint8Array = body
      if (out instanceof Error) {
        log(`isopool: compressing an answer with ${coding} failed; it goes uncompressed:`, out)
        coding = null
      } else if (out !== null && out.byteLength < body.byteLength) {
        sent = out
      } else {
        coding = null
      }
      let fields = encodedText(text, coding)
      // The head must fit one frame (headerText() checked the handler's fields alone).
      if (HEAD_PREFIX + fields.length > this.ring.maxFrame) {
        fields = text
        sent = body
      }
      this.backlog.add(new Outgoing(this.ring, id, status, ct, fields, sent, busy))
    } catch (err) {
      // Called back from zlib, nothing above would catch it: the answer goes as it is.
      log('isopool: a compressed answer could not be sent; it goes uncompressed:', err)
      this.backlog.add(new Outgoing(this.ring, id, status, ct, text, body, busy))
    }
  }
}

/** `text` with the fields of `added` (lowercase name, value, …) after it, checked as headerText()
 * checks them; null when a name other than Set-Cookie repeats (its values must be joined). */
function addedText (text: string, added: readonly string[], maxFrame: number): string | null {
  let s = text
  for (let i = 0; i < added.length; i += 2) {
    const name = added[i]
    const value = added[i + 1]
    if (name !== 'set-cookie') for (let k = 0; k < i; k += 2) if (added[k] === name) return null
    checkField(name, value, i >>> 1)
    if (isServerOwnedHeader(name)) continue
    s += (s === '' ? '' : '\0') + name + '\0' + value
  }
  checkHeadLength(s, maxFrame)
  return s
}

/** An answer's whole field list (lowercase names): its content type, its head text's, `added`. */
function joinable (ct: number, text: string, added: readonly string[]): string[] {
  const l: string[] = []
  const type = CONTENT_TYPES[ct]
  if (type !== undefined) l.push('content-type', type)
  if (text !== '') forEachField(text, 0, (name, value) => { l.push(name.toLowerCase(), value) })
  for (const f of added) l.push(f)
  return l
}

/** How many of an answer's fields, by their place in it, are remembered as checked. */
const CHECKED_SLOTS = 8
/** The name and value that passed checkField() last at each place of an answer's fields: a
 * route's answers mostly repeat their fields (a middleware's header, CORS's, a cache policy), and
 * two string comparisons then stand in for two RegExp tests (~0.05 µs a field). */
const NONE = Symbol('none') // what no field's name or value is
const checkedNames: unknown[] = new Array(CHECKED_SLOTS).fill(NONE)
const checkedValues: unknown[] = new Array(CHECKED_SLOTS).fill(NONE)

/** A header field as HTTP requires it: a token name, a visible latin1 value. `slot`: its place
 * among the answer's fields. */
function checkField (name: unknown, value: unknown, slot: number): void {
  const kept = slot < CHECKED_SLOTS
  if (kept && name === checkedNames[slot] && value === checkedValues[slot]) return
  if (typeof name !== 'string' || !TOKEN.test(name)) throw new IsopoolError('ISOPOOL_ERR_RESPONSE_INVALID', { reason: `invalid header name ${JSON.stringify(String(name)).slice(0, 80)}` })
  if (typeof value !== 'string' || BAD_VALUE.test(value)) throw new IsopoolError('ISOPOOL_ERR_RESPONSE_INVALID', { reason: `invalid value for header ${name}` })
  if (kept) {
    checkedNames[slot] = name
    checkedValues[slot] = value
  }
}

/** A head's text must fit one frame with its prefix, or the response could never be written. */
function checkHeadLength (s: string, maxFrame: number): void {
  if (HEAD_PREFIX + s.length > maxFrame) {
    throw new IsopoolError('ISOPOOL_ERR_RESPONSE_INVALID', { reason: `its headers take ${s.length} bytes, more than a response head may (${maxFrame - HEAD_PREFIX})` })
  }
}

/** The header text of every error response: it names its content type, never to be sniffed. */
const NOSNIFF_TEXT = NOSNIFF.join('\0')

/** The fields of a Response for content-type code `ct` and a RES_HEAD header text. */
function responseFields (ct: number, text: string): [string, string][] {
  const headers: [string, string][] = []
  const type = CONTENT_TYPES[ct]
  if (type !== undefined) headers.push(['content-type', type])
  if (text !== '') forEachField(text, 0, (name, value) => { headers.push([name, value]) })
  return headers
}

/**
 * `name \0 value \0 …` for a RES_HEAD frame. Names must be tokens and values visible latin1, as
 * HTTP requires; checking here also keeps a \0 from ever splitting the frame text wrongly. The
 * headers the server owns (Content-Length, Transfer-Encoding, Keep-Alive) are dropped: it frames
 * the body itself. The text must fit one frame with the head (`maxFrame`), or the response could
 * never be written. `nosniff`: the answer is one of isopool's error bodies.
 */
function headerText (headers: [string, unknown][], maxFrame: number, nosniff: boolean): string {
  let s = ''
  let sniffSet = false
  let slot = 0
  for (const [name, value] of headers) {
    checkField(name, value, slot++)
    if (isServerOwnedHeader(name)) continue
    if (name.length === NOSNIFF[0].length && name.toLowerCase() === NOSNIFF[0]) sniffSet = true
    s += (s === '' ? '' : '\0') + name + '\0' + value
  }
  if (nosniff && !sniffSet) s = s === '' ? NOSNIFF_TEXT : NOSNIFF_TEXT + '\0' + s
  checkHeadLength(s, maxFrame)
  return s
}

/** An HttpError's status: what HttpError's constructor allows. A look-alike object may carry any. */
function isErrorStatus (status: unknown): boolean {
  return isStatus(status) && status >= 400
}

/** A thrown non-HttpError as development mode shows it: its message and stack, as strings. */
function devWire (err: unknown): WireError {
  const e = err as { message?: unknown, stack?: unknown } | null | undefined
  const message = e !== null && typeof e === 'object' && typeof e.message === 'string' ? e.message : safeString(err)
  const stack = e !== null && typeof e === 'object' && typeof e.stack === 'string' ? e.stack : undefined
  return { code: 'ISOPOOL_ERR_HANDLER', message, status: 500, ...(stack === undefined ? {} : { stack }) } as WireError
}

function safeString (v: unknown): string {
  try { return String(v) } catch { return Object.prototype.toString.call(v) }
}

/** The one log record of a handler's 500: the request and route (`context`, when the caller
 * knows them) and what was thrown, described safely (an Error's stack, else a bounded rendering).
 * An error record of the server's logger when it has one (the logger option), else stderr. */
function logThrown (err: unknown, context: HandlerContext | undefined): void {
  if (logError('handler failed', err, context)) return
  if (context === undefined) log(err)
  else log(`isopool: ${contextText(context)} threw ${describeThrown(err)}`)
}

/** console.error that cannot throw (inspecting a hostile object can). */
function log (...args: unknown[]): void {
  try { console.error(...args) } catch {}
}

/** An object JSON writes as it is: an array, or one whose prototype is Object's or null. */
export function isPlain (value: object): boolean {
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null || Array.isArray(value)
}

/**
 * Whether a typed route's compiled encoder (or, in development, its response check) should see
 * `value`: an object that is JSON data, not bytes, a Response, a Blob or a value no response can
 * carry. Cheap for plain objects and arrays.
 */
export function encodable (value: unknown): boolean {
  if (value === null || typeof value !== 'object') return false
  if (isPlain(value)) return true
  return !(value instanceof Response || value instanceof ArrayBuffer || ArrayBuffer.isView(value) || value instanceof Blob) && unsendable(value, false) === null
}

/**
 * What a result that is not a plain object is, when no response can carry it: 'a Map', 'a
 * generator', 'an async generator (…)'; null when it can be sent as JSON (a Date, anything with
 * toJSON, a class instance with fields). `json`: JSON.stringify will write it, so an object it
 * would write as {} (an instance whose data sits in private fields or getters, an Error) is
 * refused too; a compiled encoder reads the fields its schema declares instead.
 */
export function unsendable (value: object, json: boolean): string | null {
  const v = value as Record<PropertyKey, unknown>
  if (typeof v.toJSON === 'function') return null
  if (value instanceof Map) return 'a Map (JSON has no maps: return Object.fromEntries(map))'
  if (value instanceof Set) return 'a Set (return an array: [...set])'
  if (value instanceof WeakMap) return 'a WeakMap'
  if (value instanceof WeakSet) return 'a WeakSet'
  const tag = Object.prototype.toString.call(value).slice(8, -1)
  if (typeof v[Symbol.asyncIterator] === 'function') {
    // Sent as a stream by answer(); never JSON data.
    return `${tag === 'AsyncGenerator' ? 'an async generator' : article(className(value, tag))} (a stream)`
  }
  if (typeof v[Symbol.iterator] === 'function') {
    return `${tag === 'Generator' ? 'a generator' : article(className(value, tag))} (return an array: [...iterable])`
  }
  if (!json || value instanceof Number || value instanceof String || value instanceof Boolean) return null
  if (value instanceof Error) return `${article(className(value, tag))} (throw it, do not return it)`
  for (const key in value) if (Object.hasOwn(value, key)) return null
  return `${article(className(value, tag))}, which JSON would send as {}`
}

/** What the value is called: its toStringTag (Map Iterator, ReadableStream, URLSearchParams),
 * else its constructor's name (a class, an Error subclass). */
function className (value: object, tag: string): string {
  if (tag !== 'Object' && tag !== 'Error') return tag
  const ctor = (value as { constructor?: unknown }).constructor
  const name = typeof ctor === 'function' ? ctor.name : ''
  return typeof name === 'string' && name !== '' ? name : tag
}

function article (name: string): string {
  return (/^[aeiou]/i.test(name) ? 'an ' : 'a ') + name
}

/** A stream's chunks as a byte ReadableStream (a Response body), pulled as it is read. */
function byteStream (source: ChunkSource): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    async pull (controller) {
      const r = await source.next()
      if (r.done === true) {
        controller.close()
        return
      }
      const chunk = chunkBytes(r.value)
      if (chunk === null) throw new TypeError('a response stream yielded a chunk that is not a string or bytes')
      controller.enqueue(chunk)
    },
    cancel (reason) { source.cancel(reason) }
  }, { highWaterMark: 0 })
}
