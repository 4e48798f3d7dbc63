// The request object a handler receives. It is built from the REQ_HEAD text and the body bytes
// and materializes each field on first access: a handler that never reads `req.headers` never
// pays for parsing them.
//
// The body of a request that came in one frame is *lent*: a view of the request ring, valid while
// the handler's synchronous part runs (src/isolate/worker.ts releases the frame right after).
// text() and json() decode it where it lies. Only what must outlive the frame gets its own copy:
// `req.body` as bytes, msgpack() and form() (whose results may be views of the bytes they read),
// and, for a handler still pending when its synchronous part ends, the whole body. Copying a
// 64 KiB body into fresh memory costs several times what decoding it in place does
// (bench/micro/copy.ts), so the copy is made only when someone needs it.

import { Unpackr } from 'msgpackr'
import { IsopoolError } from '../shared/errors.ts'
import { copyOut } from '../shared/frame.ts'
import { forEachField, isMeta, META_ID, META_IP, readMeta, readRequestLine } from '../shared/head-text.ts'
import type { BodyStream } from './body-stream.ts'
import { parseForm, parseStreamedForm } from './form.ts'
import type { Form, FormLimits, StreamedForm } from './form.ts'
import { requestLog } from './log.ts'
import type { RequestLog } from './log.ts'
import type { PathPattern } from '../shared/path-pattern.ts'

export type QueryValue = string | string[]
export type HeaderValue = string | string[]

const EMPTY = new Uint8Array(0)
/** Headers of which node:http keeps the first when a request repeats them. */
const SINGLETONS = new Set(['age', 'authorization', 'content-length', 'content-type', 'etag', 'expires', 'from', 'host', 'if-modified-since',
  'if-unmodified-since', 'last-modified', 'location', 'max-forwards', 'proxy-authorization', 'referer', 'retry-after', 'server', 'user-agent'])
// Request bodies are decoded without msgpackr's structured-clone references: with them a client
// can send a cycle (a 24-byte body whose value contains itself), which no handler expects and
// which JSON, TypeBox and a walk of the value would follow for ever. Otherwise as msgpackr's own
// unpack(): maps as plain objects, no shared record structures.
const bodyUnpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, structuredClone: false })

/** Key of the method through which a typed route's adapter sets the validated parts. */
export const TYPED: unique symbol = Symbol('isopool.typed')
/** Key of the method the isolate calls when the frame a lent body lies in is about to be released. */
export const DETACH: unique symbol = Symbol('isopool.detach')
/** Key of the body's length in bytes, read without materializing the body. */
export const BODY_LENGTH: unique symbol = Symbol('isopool.bodyLength')
/** Key of the method the isolate calls when the main thread gives the request up (an ABORT frame). */
export const ABORT: unique symbol = Symbol('isopool.abort')
/** Key of the method the isolate calls when the answer is all sent: a later abort is not heard. */
export const SETTLE: unique symbol = Symbol('isopool.settle')
/** Key of the method a typed route's adapter calls before it validates a body: a streaming route's
 * body is gathered whole (a promise), after which the request reads like a buffered one; null
 * when the body is here already. */
export const GATHER: unique symbol = Symbol('isopool.gather')
/** Key of the request's Accept-Encoding as received, for response compression (compress.ts). */
export const ACCEPT_ENCODING: unique symbol = Symbol('isopool.acceptEncoding')

export class IsolateRequest {
  readonly method: string
  /** The request target as received: path and query string. */
  readonly url: string
  #text: string
  #headersAt: number
  #pattern: PathPattern
  #body: Uint8Array
  /** A streaming route's body, still arriving (src/isolate/body-stream.ts); null otherwise. */
  #stream: BodyStream | null = null
  #gathered: Promise<Uint8Array> | undefined
  /** #body is a view of the request ring, valid until the worker releases the frame. */
  #lent: boolean
  /** The handler returned and the lent body's frame was released without a copy. */
  #released = false
  #path: string | undefined
  #params: Record<string, string> | undefined
  #query: Record<string, QueryValue> | undefined
  #headers: Record<string, HeaderValue> | undefined
  #string: string | undefined
  #cookies: Record<string, string> | undefined
  #form: Promise<Form> | Promise<StreamedForm> | undefined
  #typedBody: unknown
  #hasTypedBody = false
  #log: RequestLog | undefined
  /** Made when `signal` is first read. */
  #abort: AbortController | undefined
  /** The request was given up. */
  #aborted = false
  #settled = false

  /**
   * `text` is `method \0 url \0 name \0 value \0 …` as the main thread framed it. `lent`: `body`
   * is a view of the ring, and the worker calls [DETACH] before it lets the frame go.
   */
  constructor (text: string, pattern: PathPattern, body: Uint8Array | null, lent = false, stream: BodyStream | null = null) {
    const line = readRequestLine(text)
    this.method = line.method
    this.url = line.target
    this.#text = text
    this.#headersAt = line.fieldsAt
    this.#pattern = pattern
    this.#body = body ?? EMPTY
    this.#lent = lent && body !== null
    this.#stream = stream
  }

  /**
   * The body's chunks as they arrive: on a streaming route (its maxBodySize above the server's)
   * each chunk as the client sent it, the next read from the socket only as the handler takes
   * these (backpressure); breaking out of the loop drops the rest. Elsewhere the body that is
   * already here, once. Throws ISOPOOL_ERR_BODY_ABORTED when the request is given up midway.
   */
  stream (): AsyncIterable<Uint8Array> {
    if (this.#stream !== null) return this.#stream
    const body = this.#body.byteLength === 0 ? null : this.#ownBody()
    return (async function * () { if (body !== null) yield body })()
  }

  [GATHER] (): Promise<void> | null {
    if (this.#stream === null) return null
    return this.#gather().then(body => {
      this.#stream = null
      this.#body = body
    })
  }

  /** A streaming route's whole body, gathered once for text(), json(), msgpack(). */
  #gather (): Promise<Uint8Array> {
    return this.#gathered ??= this.#stream!.collect()
  }

  /**
   * The frame of a lent body is about to be released. A handler still running (its promise
   * pending) keeps the body: it gets its own copy now. A handler that has returned has read
   * what it was going to read; its body is dropped, and reading it for the first time from now
   * on is an error (ISOPOOL_ERR_BODY_RELEASED) rather than bytes the ring has since reused.
   */
  [DETACH] (handlerDone: boolean): void {
    if (!this.#lent) return
    this.#lent = false
    if (handlerDone) {
      this.#released = true
      this.#body = EMPTY
    } else {
      // Its own ArrayBuffer, as a body handed to user code always has (not a slice of a pool).
      this.#body = copyOut(this.#body as Buffer, 0, this.#body.byteLength, true)
    }
  }

  /**
   * Fires when the request is given up: its client disconnected, its route's timeout passed
   * before the response head, or the server shuts down. A response stream being produced is
   * cancelled then too. Made on first read: a handler that never reads it pays for nothing.
   */
  get signal (): AbortSignal {
    if (this.#abort === undefined) {
      this.#abort = new AbortController()
      if (this.#aborted) this.#abort.abort()
    }
    return this.#abort.signal
  }

  /** The main thread gave the request up: `signal` fires (now, or aborted when first read). */
  [ABORT] (): void {
    if (this.#aborted || this.#settled) return
    this.#aborted = true
    this.#abort?.abort()
  }

  /** The answer is all sent: nothing will abort the request any more. */
  [SETTLE] (): void {
    this.#settled = true
  }

  /** The body's length in bytes, without copying a lent body. */
  get [BODY_LENGTH] (): number {
    return this.#body.byteLength
  }

  /**
   * The Accept-Encoding fields as received, joined with ", "; undefined when there are none. Read
   * from the head text, not req.headers: a typed route's headers schema may have stripped it.
   * Only asked for an answer large enough to compress.
   */
  get [ACCEPT_ENCODING] (): string | undefined {
    let out: string | undefined
    forEachField(this.#text, this.#headersAt, (name, value) => {
      if (name.length === 15 && name.toLowerCase() === 'accept-encoding') out = out === undefined ? value : out + ', ' + value
    })
    return out
  }

  /** The body bytes as they are now (lent or owned), for a use that ends before the frame does. */
  #bodyNow (): Uint8Array {
    if (this.#released) throw new IsopoolError('ISOPOOL_ERR_BODY_RELEASED', { method: this.method, url: this.url })
    return this.#body
  }

  /** The body bytes, for a use that may outlive the frame: a lent body is copied first. */
  #ownBody (): Uint8Array {
    if (this.#lent) this[DETACH](false)
    return this.#bodyNow()
  }

  /** The path without the query string, still percent-encoded as received. */
  get path (): string {
    if (this.#path === undefined) {
      const q = this.url.indexOf('?')
      this.#path = q < 0 ? this.url : this.url.slice(0, q)
    }
    return this.#path
  }

  /** The client's address: the socket's peer, or what X-Forwarded-For / Forwarded say when the
   * server trusts the proxy in front of it (the trustProxy option); '' when there is none
   * (server.request()). */
  get ip (): string {
    return readMeta(this.#text, META_IP)
  }

  /** The request id: the client's x-request-id when valid, else one the server made; '' when the
   * requestId option is off. */
  get id (): string {
    return readMeta(this.#text, META_ID)
  }

  /** A logger for this request, with pino's methods and calling conventions: its lines carry the
   * request id (`id`) and are written by the server's logger (the logger option), which drops
   * levels below its own; silent when that option is off. Made on first read. */
  get log (): RequestLog {
    return this.#log ??= requestLog(this.id)
  }

  /** Route parameters, percent-decoded. */
  get params (): Record<string, string> {
    if (this.#params === undefined) this.#params = readParams(this.#pattern, this.path)
    return this.#params
  }

  /** Query parameters; a key given more than once maps to an array of its values in order. */
  get query (): Record<string, QueryValue> {
    if (this.#query === undefined) {
      const q = this.url.indexOf('?')
      const out: Record<string, QueryValue> = Object.create(null)
      if (q >= 0) {
        for (const [k, v] of new URLSearchParams(this.url.slice(q + 1))) {
          const prev = out[k]
          out[k] = prev === undefined ? v : Array.isArray(prev) ? (prev.push(v), prev) : [prev, v]
        }
      }
      this.#query = out
    }
    return this.#query
  }

  /** Headers with lower-case names. A repeated header is joined with ", " (cookie with "; "),
   * set-cookie is an array, and of a header that may appear once (content-type, authorization,
   * user-agent, host, …) the first is kept — the rules node:http applies. */
  get headers (): Record<string, HeaderValue> {
    if (this.#headers === undefined) {
      const out: Record<string, HeaderValue> = Object.create(null)
      forEachField(this.#text, this.#headersAt, (field, value) => {
        if (isMeta(field)) return // the main thread's: req.ip, req.id
        const name = field.toLowerCase()
        const prev = out[name]
        if (prev === undefined) out[name] = name === 'set-cookie' ? [value] : value
        else if (Array.isArray(prev)) prev.push(value)
        else if (!SINGLETONS.has(name)) out[name] = prev + (name === 'cookie' ? '; ' : ', ') + value
      })
      this.#headers = out
    }
    return this.#headers
  }

  /** Cookies from the Cookie header, values percent-decoded. */
  get cookies (): Record<string, string> {
    if (this.#cookies === undefined) {
      const out: Record<string, string> = Object.create(null)
      const header = this.headers.cookie
      for (const pair of (typeof header === 'string' ? header : '').split(';')) {
        const eq = pair.indexOf('=')
        if (eq < 0) continue
        const name = pair.slice(0, eq).trim()
        if (name !== '' && !(name in out)) out[name] = safeDecode(pair.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1'), decodeURIComponent)
      }
      this.#cookies = out
    }
    return this.#cookies
  }

  /** The raw body bytes (empty when the request has none); for a typed route with a body
   * schema, the validated body. */
  get body (): Uint8Array {
    if (this.#stream !== null && !this.#hasTypedBody) throw new IsopoolError('ISOPOOL_ERR_BODY_STREAMED', { method: this.method, url: this.url })
    return this.#hasTypedBody ? this.#typedBody as Uint8Array : this.#ownBody()
  }

  /** Used by typed-route adapters only: replace the declared parts with their validated values. */
  [TYPED] (values: { params?: unknown, query?: unknown, headers?: unknown, cookies?: unknown, body?: unknown }): void {
    if (values.params !== undefined) this.#params = values.params as Record<string, string>
    if (values.query !== undefined) this.#query = values.query as Record<string, QueryValue>
    if (values.headers !== undefined) this.#headers = values.headers as Record<string, HeaderValue>
    if (values.cookies !== undefined) this.#cookies = values.cookies as Record<string, string>
    if ('body' in values) {
      this.#typedBody = values.body
      this.#hasTypedBody = true
    }
  }

  /** The body decoded as UTF-8. On a streaming route a promise of it (await it): the body is
   * gathered first, up to the route's maxBodySize. */
  text (): string {
    if (this.#stream !== null) return this.#gather().then(utf8) as unknown as string
    if (this.#string === undefined) {
      // In place when lent: utf8Slice reads shared memory as it reads any other.
      const b = this.#bodyNow()
      this.#string = b.byteLength === 0 ? '' : Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8')
    }
    return this.#string
  }

  /** The body as a form (urlencoded or multipart): text fields and files, within `limits`. On a
   * streaming route a StreamedForm (`await req.form<StreamedForm>()`): its parts in order, file
   * parts as streams (docs/streaming.md). */
  form<F extends Form | StreamedForm = Form> (limits?: FormLimits): Promise<F> {
    if (this.#form === undefined) {
      const type = this.headers['content-type']
      // A streaming route's form comes part by part, its files as streams (form.ts).
      if (this.#stream !== null) return (this.#form = parseStreamedForm(typeof type === 'string' ? type : undefined, this.#stream, limits)) as Promise<F>
      this.#form = parseForm(typeof type === 'string' ? type : undefined, this.#ownBody(), limits)
    }
    return this.#form as Promise<F>
  }

  /** The body decoded from MessagePack; invalid input is a 400 with code ISOPOOL_ERR_INVALID_MSGPACK. */
  msgpack<T = unknown> (): T {
    if (this.#stream !== null) return this.#gather().then(b => decodeMsgpack(b)) as unknown as T
    try {
      // Its own copy: msgpackr returns bin values as views of the bytes it decodes.
      return bodyUnpackr.unpack(this.#ownBody()) as T
    } catch (err) {
      if (err instanceof IsopoolError) throw err
      throw new IsopoolError('ISOPOOL_ERR_INVALID_MSGPACK', { reason: (err as Error).message })
    }
  }

  /**
   * True when the client's Accept ranks MessagePack above JSON (a higher q, or the same q and
   * listed first). Requests that do not mention msgpack are answered without parsing Accept.
   */
  prefersMsgpack (): boolean {
    if (!this.#text.includes('msgpack')) return false
    const accept = this.headers.accept
    if (typeof accept !== 'string') return false
    const [mq, mAt] = acceptQ(accept, ['application/msgpack', 'application/x-msgpack', 'application/vnd.msgpack'])
    const [jq, jAt] = acceptQ(accept, ['application/json', 'application/*', '*/*'])
    return mq > 0 && (mq > jq || (mq === jq && mAt < jAt))
  }

  /** The body parsed as JSON; invalid JSON is a 400 with code ISOPOOL_ERR_INVALID_JSON. */
  json<T = unknown> (): T {
    if (this.#stream !== null) return this.#gather().then(b => parseJson(utf8(b))) as unknown as T
    try {
      return JSON.parse(this.text()) as T
    } catch (err) {
      if (err instanceof IsopoolError) throw err
      throw new IsopoolError('ISOPOOL_ERR_INVALID_JSON', { reason: (err as Error).message })
    }
  }
}

const utf8 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8')

function parseJson (text: string): unknown {
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new IsopoolError('ISOPOOL_ERR_INVALID_JSON', { reason: (err as Error).message })
  }
}

function decodeMsgpack (b: Uint8Array): unknown {
  try {
    return bodyUnpackr.unpack(b)
  } catch (err) {
    throw new IsopoolError('ISOPOOL_ERR_INVALID_MSGPACK', { reason: (err as Error).message })
  }
}

/** The q-value Accept gives `type` (or its wildcards), and where it is listed; -1 if absent. */
function acceptQ (accept: string, types: string[]): [number, number] {
  let best: [number, number] = [-1, Infinity]
  accept.split(',').forEach((part, at) => {
    const [media, ...params] = part.trim().toLowerCase().split(';')
    if (!types.includes(media.trim())) return
    const q = params.map(p => p.trim()).find(p => p.startsWith('q='))
    const value = q === undefined ? 1 : Number(q.slice(2))
    if (value > best[0]) best = [value, at]
  })
  return best
}

function readParams (pattern: PathPattern, path: string): Record<string, string> {
  const out: Record<string, string> = Object.create(null)
  const n = pattern.names.length
  if (n === 0) return out
  // The router matched this path already: each parameter is its raw segment, decoded once
  // (src/shared/path-pattern.ts).
  const segments = path.split('/')
  for (let i = 0; i < n; i++) {
    const name = pattern.names[i]
    const at = pattern.segments[i]
    const raw = name === '*' ? segments.slice(at).join('/') : segments[at] ?? ''
    out[name] = safeDecode(raw, decodeURIComponent)
  }
  return out
}

function safeDecode (s: string, decode: (s: string) => string): string {
  try { return decode(s) } catch { return s }
}
