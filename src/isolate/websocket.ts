// WebSocket connections as an isolate holds them: the handler objects of the WebSocket routes,
// the connections pinned to this isolate (by the id the main thread gave each), and what a
// handler does with them — ws.send(), ws.close(), ws.subscribe(), publish() — written as WS_*
// frames into the response ring (src/shared/frame.ts draws them). The sockets themselves, and
// which of them subscribe to what, live on the main thread (src/main/websockets.ts): a publish
// crosses the ring once, whatever the number of subscribers or of isolates they are pinned to.
//
// Callbacks run in the order their frames came: open, then each message, then close (once,
// when the connection is closed, by either side). A message that arrives while an async open()
// has not settled waits for it. A callback that throws (or rejects) is logged and its connection
// closed with 1011.

import { IsopoolError } from '../shared/errors.ts'
import {
  copyOut, KIND_WS_CLOSE, KIND_WS_MESSAGE, KIND_WS_PUBLISH, KIND_WS_TOPIC, WS_MAX_TOPIC, writeFrames
} from '../shared/frame.ts'
import { FrameBacklog } from '../shared/frame-backlog.ts'
import { compilePath } from '../shared/path-pattern.ts'
import type { PathPattern } from '../shared/path-pattern.ts'
import { modulePath } from '../shared/protocol.ts'
import type { ManifestSocket, SocketRouteSpec } from '../shared/protocol.ts'
import type { RingProducer } from '../shared/ring.ts'
import { contextText, logError } from './log.ts'
import type { HandlerContext } from './log.ts'
import { IsolateRequest } from './request.ts'

/** What a WebSocket message is handed to message() as: a string for text, a Buffer for binary. */
export type WebSocketMessage = string | Buffer

/** What ws.send() and publish() take: a string (text by default) or bytes (binary by default). */
export type WebSocketPayload = string | ArrayBuffer | ArrayBufferView

/** A WebSocket route's export: `{ path: '/chat', websocket: './chat.ts#chat' }`. */
export interface WebSocketHandler<Data = Record<string, unknown>> {
  /** The connection is open; `req` is its upgrade request (params, query, headers, ip, id). */
  open? (ws: IsopoolWebSocket<Data>, req: IsolateRequest): unknown
  /** A message came: text as a string, binary as a Buffer. */
  message? (ws: IsopoolWebSocket<Data>, data: WebSocketMessage, isBinary: boolean): unknown
  /** The connection is closed (by the client, by ws.close(), by the server): called once. */
  close? (ws: IsopoolWebSocket<Data>, code: number, reason: string): unknown
  /** The client caught up: what ws.send() queued past the high-water mark has been sent. */
  drain? (ws: IsopoolWebSocket<Data>): unknown
}

/** One WebSocket connection, pinned to this isolate. */
export interface IsopoolWebSocket<Data = Record<string, unknown>> {
  /** Per-connection state, yours: `{}` at first. */
  data: Data
  /** 1 open, 2 closing (ws.close() was called), 3 closed (like WebSocket#readyState). */
  readonly readyState: number
  /**
   * Send a message: a string goes as text, bytes as binary, unless `isBinary` says otherwise.
   * False when it was not sent (the connection is closing or closed) or when the client is slow
   * (the message is queued; drain() runs once it has caught up).
   */
  send (data: WebSocketPayload, isBinary?: boolean): boolean
  /** Close the connection (default 1000); close() runs once it is closed. */
  close (code?: number, reason?: string): void
  /** Receive what publish(topic, …) sends, from any isolate. */
  subscribe (topic: string): void
  unsubscribe (topic: string): void
  isSubscribed (topic: string): boolean
  /** The topics subscribed to. */
  readonly topics: string[]
}

const OPEN = 1
const CLOSING = 2
const CLOSED = 3

/** Close codes a server may send (RFC 6455 §7.4, as the ws package checks them). */
function sendableCode (code: number): boolean {
  return Number.isInteger(code) && ((code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999))
}

/** One message (or part of one) to write into the response ring. */
class SocketFrame {
  readonly ring: RingProducer
  readonly kind: number
  readonly id: number
  readonly arg: number
  bytes: Uint8Array | null
  offset = 0
  /** The bytes are ours (made here), not a caller's that it may change after send(). */
  owned: boolean

  constructor (ring: RingProducer, kind: number, id: number, arg: number, bytes: Uint8Array | null, owned: boolean) {
    this.ring = ring
    this.kind = kind
    this.id = id
    this.arg = arg
    this.bytes = bytes
    this.owned = owned
  }

  write (): boolean {
    const at = writeFrames(this.ring, this.kind, this.id, this.bytes, this.offset, this.arg)
    if (at < 0) return false
    this.offset = at
    return at === (this.bytes === null ? 0 : this.bytes.byteLength)
  }

  /** It waits for ring space: keep a copy, so the caller may reuse its buffer. */
  keep (): void {
    if (!this.owned && this.bytes !== null) this.bytes = Buffer.from(this.bytes.subarray(this.offset))
    this.offset = 0
    this.owned = true
  }
}

/** A loaded WebSocket route. */
interface SocketRoute {
  handler: WebSocketHandler<unknown>
  pattern: PathPattern
  /** `/app/chat.ts#chat`, for messages. */
  name: string
  path: string
}

class Connection implements IsopoolWebSocket<unknown> {
  readonly id: number
  readonly route: SocketRoute
  data: unknown = {}
  state = OPEN
  /** The client is slow: ws.send() queues (WS_DRAIN with arg 1 came, and not yet arg 0). */
  slow = false
  /** A ws.send() had to wait for response-ring space here (it returned false): drain() runs
   * once the wait is over. */
  blocked = false
  private readonly subscribed = new Set<string>()
  /** A callback of its threw (open() too): it is closing with 1011, and message() runs no more
   * for it (an open() that refused a client must not see its messages handled). */
  failed = false
  /** Messages that came while open() had not settled. */
  waiting: { data: WebSocketMessage, binary: boolean }[] | null = null
  /** The upgrade request's method, url and id, for a callback's error's log line. */
  readonly url: string
  readonly requestId: string
  /** Fragments of a message still arriving. */
  parts: Buffer[] | null = null
  private readonly hub: Sockets

  constructor (hub: Sockets, id: number, route: SocketRoute, url: string, requestId: string) {
    this.hub = hub
    this.id = id
    this.route = route
    this.url = url
    this.requestId = requestId
  }

  get readyState (): number { return this.state }

  get topics (): string[] { return [...this.subscribed] }

  send (data: WebSocketPayload, isBinary?: boolean): boolean {
    if (this.state !== OPEN) return false
    if (!this.hub.message(KIND_WS_MESSAGE, this.id, data, isBinary, 'ws.send()')) this.hub.blocked(this)
    return !this.slow && !this.blocked
  }

  close (code = 1000, reason = ''): void {
    if (!sendableCode(code)) throw new IsopoolError('ISOPOOL_ERR_WEBSOCKET_USE', { action: `close with code ${String(code)}`, reason: 'a server may send 1000, 1001, 1003, 1007–1014 or 3000–4999' })
    const bytes = Buffer.from(String(reason), 'utf8')
    if (bytes.byteLength > 123) throw new IsopoolError('ISOPOOL_ERR_WEBSOCKET_USE', { action: 'close', reason: `the reason has ${bytes.byteLength} UTF-8 bytes, more than 123` })
    if (this.state !== OPEN) return
    this.state = CLOSING
    this.hub.write(KIND_WS_CLOSE, this.id, code, bytes, true)
  }

  subscribe (topic: string): void {
    const bytes = topicBytes(topic, 'subscribe')
    if (this.state === CLOSED || this.subscribed.has(topic)) return
    this.subscribed.add(topic)
    this.hub.write(KIND_WS_TOPIC, this.id, 1, bytes, true)
  }

  unsubscribe (topic: string): void {
    const bytes = topicBytes(topic, 'unsubscribe')
    if (!this.subscribed.delete(topic) || this.state === CLOSED) return
    this.hub.write(KIND_WS_TOPIC, this.id, 0, bytes, true)
  }

  isSubscribed (topic: string): boolean {
    return this.subscribed.has(topic)
  }
}

function topicBytes (topic: unknown, action: string): Buffer {
  if (typeof topic !== 'string' || topic === '') throw new IsopoolError('ISOPOOL_ERR_WEBSOCKET_USE', { action, reason: 'a topic is a non-empty string' })
  const bytes = Buffer.from(topic, 'utf8')
  if (bytes.byteLength > WS_MAX_TOPIC) throw new IsopoolError('ISOPOOL_ERR_WEBSOCKET_USE', { action, reason: `the topic has ${bytes.byteLength} UTF-8 bytes, more than ${WS_MAX_TOPIC}` })
  return bytes
}

/** A payload as bytes, and whether it goes as binary. */
function payload (data: unknown, isBinary: boolean | undefined, action: string): { bytes: Uint8Array, binary: boolean, owned: boolean } {
  if (typeof data === 'string') return { bytes: Buffer.from(data, 'utf8'), binary: isBinary === true, owned: true }
  if (ArrayBuffer.isView(data)) return { bytes: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), binary: isBinary !== false, owned: false }
  if (data instanceof ArrayBuffer || data instanceof SharedArrayBuffer) return { bytes: new Uint8Array(data), binary: isBinary !== false, owned: false }
  throw new IsopoolError('ISOPOOL_ERR_WEBSOCKET_USE', { action, reason: `a message is a string or bytes, not ${data === null ? 'null' : typeof data}` })
}

/** What a callback's synchronous part tells the worker: it runs (busy), it is over (idle). The
 * supervisor reads it as it reads a handler's (src/main/isolate-pool.ts): a callback that never
 * returns gets its isolate replaced after hardTimeout, and its connections closed with 1011. */
export interface CallbackClock {
  busy (): void
  idle (): void
}

/** The WebSocket side of one isolate. */
export class Sockets {
  private readonly routes: SocketRoute[]
  private readonly connections = new Map<number, Connection>()
  private readonly backlog: FrameBacklog<SocketFrame>
  private readonly ring: RingProducer
  private readonly clock: CallbackClock

  constructor (ring: RingProducer, routes: SocketRoute[], clock: CallbackClock) {
    this.ring = ring
    this.routes = routes
    this.clock = clock
    this.backlog = new FrameBacklog<SocketFrame>(ring, { drained: () => this.unblocked() })
  }

  /** Connections whose ws.send() waited for ring space (and returned false). */
  private readonly waiting = new Set<Connection>()

  blocked (ws: Connection): void {
    ws.blocked = true
    this.waiting.add(ws)
  }

  /** What waited for ring space is in the ring: drain() runs where the client is not slow too. */
  private unblocked (): void {
    const waiting = [...this.waiting]
    this.waiting.clear()
    for (const ws of waiting) {
      ws.blocked = false
      this.drained(ws)
    }
  }

  private drained (ws: Connection): void {
    const drain = ws.route.handler.drain
    if (!ws.slow && !ws.blocked && drain !== undefined && ws.state === OPEN) this.call(ws, 'drain', () => drain.call(ws.route.handler, ws))
  }

  /** Connections open here now. */
  get size (): number { return this.connections.size }

  /** Write a frame now, or queue it behind those that wait for ring space (false). */
  write (kind: number, id: number, arg: number, bytes: Uint8Array | null, owned: boolean): boolean {
    const frame = new SocketFrame(this.ring, kind, id, arg, bytes, owned)
    if (this.backlog.add(frame)) return true
    frame.keep()
    return false
  }

  /** ws.send() or publish(): a WS_MESSAGE or WS_PUBLISH frame. */
  message (kind: number, id: number, data: unknown, isBinary: boolean | undefined, action: string, topic?: Buffer): boolean {
    const p = payload(data, isBinary, action)
    if (topic === undefined) return this.write(kind, id, p.binary ? 1 : 0, p.bytes, p.owned)
    const joined = Buffer.allocUnsafe(topic.byteLength + p.bytes.byteLength)
    joined.set(topic, 0)
    joined.set(p.bytes, topic.byteLength)
    return this.write(kind, 0, ((topic.byteLength << 1) | (p.binary ? 1 : 0)) >>> 0, joined, true)
  }

  // ── frames from the main thread ──────────────────────────────────────────────────────────

  /** WS_OPEN: a connection on route `route`, its upgrade request's head `text`. */
  open (id: number, route: number, text: string): void {
    const r = this.routes[route]
    if (r === undefined) throw new IsopoolError('ISOPOOL_ERR_FRAME_INVALID', { reason: `WebSocket route index ${route} out of range` })
    const req = new IsolateRequest(text, r.pattern, null)
    const ws = new Connection(this, id, r, req.url, req.id)
    this.connections.set(id, ws)
    const open = r.handler.open
    if (open === undefined) return
    const settled = this.call(ws, 'open', () => open.call(r.handler, ws, req))
    if (settled !== null) {
      ws.waiting = []
      void settled.then(() => {
        const waiting = ws.waiting ?? []
        ws.waiting = null
        for (const m of waiting) this.deliver(ws, m.data, m.binary)
      })
    }
  }

  /** WS_MESSAGE from the client: `view` is valid during the call. */
  received (id: number, binary: boolean, view: Uint8Array, final: boolean): void {
    const ws = this.connections.get(id)
    if (ws === undefined) return // closed here already: its last messages are dropped
    let bytes: Buffer | null = null
    if (!final || ws.parts !== null) {
      ws.parts ??= []
      ws.parts.push(Buffer.from(view)) // a copy: the ring's bytes are freed after the call
      if (!final) return
      bytes = Buffer.concat(ws.parts)
      ws.parts = null
    }
    const data: WebSocketMessage = bytes !== null
      ? (binary ? bytes : bytes.toString('utf8'))
      : binary ? copyOut(Buffer.from(view.buffer, view.byteOffset, view.byteLength), 0, view.byteLength, true) : Buffer.from(view.buffer, view.byteOffset, view.byteLength).toString('utf8')
    if (ws.waiting !== null) ws.waiting.push({ data, binary })
    else this.deliver(ws, data, binary)
  }

  private deliver (ws: Connection, data: WebSocketMessage, binary: boolean): void {
    const message = ws.route.handler.message
    if (message !== undefined && !ws.failed && ws.state !== CLOSED) this.call(ws, 'message', () => message.call(ws.route.handler, ws, data, binary))
  }

  /** WS_CLOSE: the connection is closed; close() runs. */
  closed (id: number, code: number, reason: string): void {
    const ws = this.connections.get(id)
    if (ws === undefined) return
    this.connections.delete(id)
    this.waiting.delete(ws)
    ws.state = CLOSED
    ws.waiting = null
    const close = ws.route.handler.close
    if (close !== undefined) this.call(ws, 'close', () => close.call(ws.route.handler, ws, code, reason))
  }

  /** WS_DRAIN: the client is slow (`slow`), or has caught up (drain() runs). */
  pressure (id: number, slow: boolean): void {
    const ws = this.connections.get(id)
    if (ws === undefined) return
    ws.slow = slow
    if (!slow) this.drained(ws)
  }

  /** Run a callback; a throw or a rejection is logged and closes the connection with 1011.
   * Returns the promise it returned (settled either way), or null when it returned none. */
  private call (ws: Connection, name: string, fn: () => unknown): Promise<void> | null {
    let value: unknown
    this.clock.busy()
    try {
      value = fn()
    } catch (err) {
      this.failed(ws, name, err)
      return null
    } finally {
      this.clock.idle()
    }
    if (value !== null && typeof value === 'object' && typeof (value as PromiseLike<unknown>).then === 'function') {
      return Promise.resolve(value).then(() => {}, (err: unknown) => this.failed(ws, name, err))
    }
    return null
  }

  private failed (ws: Connection, name: string, err: unknown): void {
    const context: HandlerContext = { method: 'GET', url: ws.url, route: `WEBSOCKET ${ws.route.path}`, handler: `${ws.route.name} ${name}()`, id: ws.requestId }
    if (!logError(`a WebSocket ${name}() callback failed; the connection is closed with 1011`, err, context)) {
      console.error(`isopool: ${contextText(context)} failed; the connection is closed with 1011:`, err)
    }
    ws.failed = true
    if (ws.state === OPEN) ws.close(1011, 'internal error')
  }
}

/** The WebSocket side of this isolate, once the worker started it: null elsewhere (on the main
 * thread, where publish() cannot work). */
let current: Sockets | null = null

/**
 * Send `data` to every connection subscribed to `topic`, on every isolate. Works from any
 * handler or WebSocket callback: the message crosses to the main thread once, which sends it to
 * each subscriber. A string goes as text, bytes as binary, unless `isBinary` says otherwise.
 */
export function publish (topic: string, data: WebSocketPayload, isBinary?: boolean): void {
  const bytes = topicBytes(topic, 'publish')
  if (current === null) throw new IsopoolError('ISOPOOL_ERR_WEBSOCKET_USE', { action: 'publish', reason: 'publish() works in an isolate (a handler or a WebSocket callback), not on the main thread' })
  current.message(KIND_WS_PUBLISH, 0, data, isBinary, 'publish', bytes)
}

const SOCKET_DECLARATION = Symbol.for('isopool.websocket')

/** Where and how a websocket() declaration serves. */
export interface WebSocketConfig {
  path: string
  /** As the route option (README, docs/websockets.md): bytes of a message at most. */
  maxPayload?: number
  idleTimeout?: number
  perMessageDeflate?: boolean
}

export interface WebSocketDeclaration<Data = Record<string, unknown>> {
  readonly [SOCKET_DECLARATION]: true
  readonly config: WebSocketConfig
  readonly handler: WebSocketHandler<Data>
}

/** Declare a WebSocket route; export the result from a module listed in `modules` (the routes
 * folder of `isopool serve`), as a route() declaration is. */
export function websocket<Data = Record<string, unknown>> (config: WebSocketConfig, handler: WebSocketHandler<Data>): WebSocketDeclaration<Data> {
  return Object.freeze({ [SOCKET_DECLARATION]: true as const, config, handler })
}

function isSocketDeclaration (value: unknown): value is WebSocketDeclaration<unknown> {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[SOCKET_DECLARATION] === true
}

/** The websocket() declarations of the `modules` (already imported by the loader), module by
 * module and export by export in name order: every isolate numbers them alike. */
export async function discoverSockets (discover: string[]): Promise<{ spec: ManifestSocket, handler: unknown }[]> {
  const found: { spec: ManifestSocket, handler: unknown }[] = []
  for (const url of discover) {
    const ns = await import(url) as Record<string, unknown>
    for (const name of Object.keys(ns)) {
      const decl = ns[name]
      if (!isSocketDeclaration(decl)) continue
      const { path, ...options } = decl.config
      found.push({ spec: { path, module: url, export: name, ...options }, handler: decl.handler })
    }
  }
  return found
}

/** Import the WebSocket routes' modules (the loader imported them already, with the served
 * modules: this reads their namespaces) and check each export; start this isolate's side. */
export async function startSockets (ring: RingProducer, specs: SocketRouteSpec[], clock: CallbackClock, declared: { spec: ManifestSocket, handler: unknown }[] = []): Promise<Sockets> {
  const routes: SocketRoute[] = []
  const all = [...specs.map(spec => ({ spec, handler: undefined as unknown, given: true })), ...declared.map(d => ({ ...d, given: false }))]
  for (const { spec, handler: declaredHandler, given } of all) {
    const module = modulePath(spec.module)
    let handler = declaredHandler
    if (given) {
      const ns = await import(spec.module) as Record<string, unknown>
      if (!(spec.export in ns)) throw new IsopoolError('ISOPOOL_ERR_EXPORT_MISSING', { module, export: spec.export })
      handler = ns[spec.export]
    }
    if (typeof spec.path !== 'string' || !spec.path.startsWith('/')) throw new IsopoolError('ISOPOOL_ERR_INVALID_ROUTE', { method: 'WEBSOCKET', path: String(spec.path), reason: `the path must start with "/" (${module}#${spec.export})` })
    const bad = (reason: string): never => { throw new IsopoolError('ISOPOOL_ERR_WEBSOCKET_HANDLER', { module, export: spec.export, reason }) }
    if (handler === null || typeof handler !== 'object') bad(`it is ${handler === null ? 'null' : `a ${typeof handler}`}; export an object { open?, message?, close?, drain? }`)
    for (const key of ['open', 'message', 'close', 'drain']) {
      const fn = (handler as Record<string, unknown>)[key]
      if (fn !== undefined && typeof fn !== 'function') bad(`its ${key} is a ${fn === null ? 'null' : typeof fn}, not a function`)
    }
    routes.push({ handler: handler as WebSocketHandler<unknown>, pattern: compilePath('GET', spec.path), name: `${module}#${spec.export}`, path: spec.path })
  }
  current = new Sockets(ring, routes, clock)
  return current
}
