// WebSocket connections on the main thread: the upgrade, the sockets, the topics.
//
//   GET /chat, Upgrade: websocket ──▶ check the handshake (426 / 400, coded) ──▶ ws handleUpgrade
//   (the `ws` package, noServer: it takes the socket the HTTP layer lets go of, and the bytes read
//   past the head) ──▶ pin the connection to one isolate (the fewest connections) ──▶ WS_OPEN
//
//   client ──message──▶ ws ──WS_MESSAGE──▶ request ring ──▶ the isolate's message(ws, data)
//   ws.send() ──WS_MESSAGE──▶ response ring ──▶ ws.send to the client
//   publish(topic) ──WS_PUBLISH──▶ response ring ──▶ each subscriber's socket, whatever its
//   isolate: the message crosses once (topic → sockets lives here, WS_TOPIC keeps it)
//
// Flow control, both ways, with bounded memory:
// - towards the isolate: a message that has to wait for request-ring space pauses its socket
//   (ws.pause(): no more reads) until it is in the ring;
// - towards the client: past WS_HIGH_WATER bytes buffered for it, its socket stops being read
//   and the isolate hears WS_DRAIN (ws.send() returns false); once the buffer is below
//   WS_LOW_WATER, reading resumes and drain() runs. A client with more than maxBuffered bytes
//   waiting for it (it reads nothing, and the isolate does not stop sending) is cut off.
//
// An isolate that dies closes its connections with 1011 (one asked to stop, a reload's, with
// 1012); server.close() closes every connection with 1001 before the isolates stop.

import type { Socket } from 'node:net'
import { WebSocketServer } from 'ws'
import type { WebSocket } from 'ws'
import { errorBody, IsopoolError } from '../shared/errors.ts'
import {
  copyOut, HEAD_PREFIX, KIND_WS_CLOSE, KIND_WS_DRAIN, KIND_WS_MESSAGE, KIND_WS_OPEN, KIND_WS_PUBLISH, KIND_WS_TOPIC, WS_HIGH_WATER, WS_LOW_WATER
} from '../shared/frame.ts'
import { forEachField, readRequestLine } from '../shared/head-text.ts'
import { NOSNIFF } from '../shared/http-syntax.ts'
import { modulePath } from '../shared/protocol.ts'
import type { ManifestSocket, SocketRouteSpec } from '../shared/protocol.ts'
import { writeError } from './http1.ts'
import type { Http1Request, Http1Response } from './http1.ts'
import { SocketOut } from './isolate-handle.ts'
import type { IsolateHandle, SocketSink } from './isolate-handle.ts'
import { resolveWebSocketOptions } from './options.ts'
import type { ResolvedWebSocketOptions } from './options.ts'
import { pathShape } from './route-table.ts'
import { Router } from './router.ts'

/** RFC 6455 §4.1: a base64-encoded 16-byte nonce. */
const KEY = /^[+/0-9A-Za-z]{21}[AQgw]==$/
const CONNECTION_UPGRADE = /(?:^|,)[ \t]*upgrade[ \t]*(?:,|$)/i
/** Pongs written but not yet flushed to one client past which its pings are a flood: it closes
 * with 1008. ws's own auto-pong cuts such a client off without a close frame (1006). */
const MAX_PENDING_PONGS = 60

/** One WebSocket route as the main thread serves it. */
export interface SocketRoute {
  index: number
  path: string
  options: ResolvedWebSocketOptions
  /** ws in noServer mode, with this route's maxPayload and permessage-deflate. */
  server: WebSocketServer
  /** Bytes buffered for one client past which it is cut off. */
  maxBuffered: number
  /** As an HTTP route's, for the services that admit a request (an upgrade is a GET): the
   * server's rate limit counts upgrades as it counts requests. */
  readonly method: 'GET'
  readonly rateLimit: undefined
}

function socketRoute (index: number, path: string, options: ResolvedWebSocketOptions): SocketRoute {
  const server = new WebSocketServer({ noServer: true, maxPayload: options.maxPayload, perMessageDeflate: options.perMessageDeflate, clientTracking: false, autoPong: false })
  return { index, path, options, server, maxBuffered: Math.max(16 * 1024 * 1024, 4 * options.maxPayload), method: 'GET', rateLimit: undefined }
}

/** One connection, pinned to `handle`. */
class Connection {
  readonly id: number
  readonly ws: WebSocket
  readonly socket: Socket
  readonly handle: IsolateHandle
  readonly route: SocketRoute
  topics: Set<string> | null = null
  /** Date.now() of its last message either way (idleTimeout). */
  active = Date.now()
  /** More than WS_HIGH_WATER bytes wait for the client: the isolate was told (WS_DRAIN 1). */
  slow = false
  /** Messages to the isolate waiting for request-ring space: while any, the socket is not read. */
  queued = 0
  /** Its isolate is gone: nothing more goes to it. */
  orphan = false
  /** Fragments of a message from the isolate still arriving. */
  parts: Buffer[] | null = null
  /** Pongs written and not yet flushed (MAX_PENDING_PONGS). */
  pongs = 0
  readonly ponged = (): void => { this.pongs-- }
  /** A message of its that waited for ring space is in the ring (one closure per connection). */
  readonly written = (): void => {
    this.queued--
    this.flow()
  }

  constructor (id: number, ws: WebSocket, socket: Socket, handle: IsolateHandle, route: SocketRoute) {
    this.id = id
    this.ws = ws
    this.socket = socket
    this.handle = handle
    this.route = route
  }

  /** Start the close handshake. Reading resumes first: the client's answering close frame must
   * be read, or the handshake would wait for ws's timeout. */
  end (code: number, reason: string): void {
    if (this.ws.isPaused) this.ws.resume()
    this.ws.close(code, reason)
  }

  /** Reading the socket stops while the isolate's ring is full or the client is slow. */
  flow (): void {
    const stop = (this.queued > 0 || this.slow) && this.ws.readyState === 1
    if (stop && !this.ws.isPaused) this.ws.pause()
    else if (!stop && this.ws.isPaused) this.ws.resume()
  }
}

/** The WebSocket routes of one generation of isolates: the given ones, then those its isolates
 * declared (websocket() in the `modules`), numbered as WS_OPEN carries them. */
export class SocketRoutes {
  readonly list: SocketRoute[]
  private readonly router = new Router()

  constructor (list: SocketRoute[], names: string[]) {
    this.list = list
    const seen = new Map<string, number>()
    list.forEach((r, i) => {
      // By shape, as HTTP routes: /u/:id and /u/:name match the same requests.
      const shape = pathShape(r.path)
      const first = seen.get(shape)
      if (first !== undefined) throw new IsopoolError('ISOPOOL_ERR_ROUTE_CONFLICT', { method: 'WEBSOCKET', path: list[first].path, first: names[first], second: names[i] })
      seen.set(shape, i)
      this.router.add('GET', r.path, i)
    })
    this.router.compile()
  }

  /** The WebSocket route of `url`'s path, or null. */
  match (url: string): SocketRoute | null {
    const i = this.router.find('GET', url)
    return i < 0 ? null : this.list[i]
  }
}

/** The handshake fields of an upgrade request, by lower-case name (what ws reads of a request). */
function handshakeFields (head: string): Record<string, string> {
  const fields: Record<string, string> = {}
  forEachField(head, readRequestLine(head).fieldsAt, (name, value) => {
    const n = name.toLowerCase()
    fields[n] = n in fields ? `${fields[n]}, ${value}` : value
  })
  return fields
}

export class WebSocketHub implements SocketSink {
  /** The routes given to createServer() / server.websocket(), their servers made once. */
  private readonly given: SocketRoute[] = []
  private readonly givenNames: string[] = []
  /** The idle sweep's period now (ms); 0: no sweep. */
  private sweepEvery = 0
  private readonly connections = new Map<number, Connection>()
  private readonly byIsolate = new Map<IsolateHandle, Set<Connection>>()
  private readonly topics = new Map<string, Set<Connection>>()
  /** A publish from an isolate still arriving in parts, per isolate. */
  private readonly publishing = new Map<IsolateHandle, Buffer[]>()
  private nextId = 1
  private sweeper: NodeJS.Timeout | null = null
  private closing = false
  private idle: (() => void) | null = null
  /** The largest frame a request ring takes: a WS_OPEN's head must fit in it. */
  private readonly maxHeadFrame: number

  constructor (maxHeadFrame: number) {
    this.maxHeadFrame = maxHeadFrame
  }

  /** Connections open now. */
  get size (): number { return this.connections.size }

  /** A WebSocket route, as RouteTable.addSocket numbered it (`index`). */
  add (spec: SocketRouteSpec, index: number, options: ResolvedWebSocketOptions): void {
    this.given.push(socketRoute(index, spec.path, options))
    this.givenNames.push(`${modulePath(spec.module)}#${spec.export}`)
  }

  /**
   * The routes of a generation whose isolates declared `declared` (after the given ones), or
   * null when it has none. Throws the coded error of a declaration's bad option or a conflict,
   * failing listen() or reload() as a route() declaration's would.
   */
  build (declared: ManifestSocket[]): SocketRoutes | null {
    if (this.given.length === 0 && declared.length === 0) return null
    const list = [...this.given]
    const names = [...this.givenNames]
    for (const d of declared) {
      const { path, module, export: name, ...options } = d
      list.push(socketRoute(list.length, path, resolveWebSocketOptions(options, path)))
      names.push(`${modulePath(module)}#${name}`)
    }
    const routes = new SocketRoutes(list, names)
    for (const r of list) if (r.options.idleTimeout > 0) this.sweepAtLeast(r.options.idleTimeout)
    return routes
  }

  /** Check idle connections at least every quarter of `idleTimeout` (at most every second). */
  private sweepAtLeast (idleTimeout: number): void {
    const every = Math.max(10, Math.min(1000, idleTimeout >>> 2))
    if (this.sweepEvery !== 0 && this.sweepEvery <= every) return
    if (this.sweeper !== null) clearInterval(this.sweeper)
    this.sweepEvery = every
    this.sweeper = setInterval(() => this.sweep(), every)
    this.sweeper.unref()
  }

  /** Whether the request asks for a WebSocket (an Upgrade: websocket field). */
  static wanted (req: Http1Request): boolean {
    return /\0upgrade\0[ \t]*websocket[ \t]*(?:\0|$)/i.test(req.head)
  }

  /**
   * Answer a request for WebSocket route `route`: upgrade it, or refuse it with a coded error
   * (426 without a valid upgrade, 400 for a broken handshake, 503 while closing or without an
   * isolate). `isolates`: those serving now.
   */
  accept (req: Http1Request, res: Http1Response, route: SocketRoute, isolates: readonly IsolateHandle[]): void {
    const fields = handshakeFields(req.head)
    const refuse = (err: IsopoolError, extra: string[] = []): void => writeError(res, err, extra, true)
    const upgradeRequired = (reason: string): void => refuse(new IsopoolError('ISOPOOL_ERR_UPGRADE_REQUIRED', { path: route.path, reason }), ['upgrade', 'websocket', 'connection', 'upgrade', 'sec-websocket-version', '13'])
    if (req.method !== 'GET') return upgradeRequired(`a WebSocket connection starts with a GET, not ${req.method}`)
    if (req.conn.http10) return upgradeRequired('a WebSocket handshake is an HTTP/1.1 request (RFC 6455 §4.1), not HTTP/1.0')
    if (!/^[ \t]*websocket[ \t]*$/i.test(fields.upgrade ?? '') || !CONNECTION_UPGRADE.test(fields.connection ?? '')) return upgradeRequired('send Upgrade: websocket and Connection: upgrade')
    if ((fields['sec-websocket-version'] ?? '').trim() !== '13') return upgradeRequired(`Sec-WebSocket-Version must be 13, got ${JSON.stringify((fields['sec-websocket-version'] ?? '').slice(0, 20))}`)
    if (!KEY.test((fields['sec-websocket-key'] ?? '').trim())) return refuse(new IsopoolError('ISOPOOL_ERR_BAD_REQUEST', { reason: 'Sec-WebSocket-Key is not a base64-encoded 16-byte value' }))
    // The bytes after the head are the client's first frames: a body there would be read as
    // frames (smuggled messages, or a 1002 close for what does not parse), so a body is refused.
    if (req.bodyLength !== 0) return refuse(new IsopoolError('ISOPOOL_ERR_BAD_REQUEST', { reason: 'a WebSocket upgrade request has no body (Content-Length or Transfer-Encoding)' }))
    if (this.closing) return refuse(new IsopoolError('ISOPOOL_ERR_SHUTTING_DOWN'))
    const text = req.meta === '' ? req.head : req.head + req.meta
    if (HEAD_PREFIX + text.length > this.maxHeadFrame) return refuse(new IsopoolError('ISOPOOL_ERR_HEADERS_TOO_LARGE'))
    const handle = this.pick(isolates)
    if (handle === null) return refuse(new IsopoolError('ISOPOOL_ERR_NOT_READY', { reason: 'no isolate serves' }))
    const { socket, head } = req.takeSocket()
    // What the services put on every answer (the request id, CORS) goes on the 101 too.
    const extra = res.extra === '' ? [] : res.extra.split('\r\n').filter(l => l !== '')
    const upgrade = { method: 'GET', url: req.url, headers: fields }
    const onHeaders = (headers: string[]): void => { headers.push(...extra) }
    if (extra.length > 0) route.server.once('headers', onHeaders)
    // What ws refuses itself (a Sec-WebSocket-Protocol or Sec-WebSocket-Extensions it cannot
    // parse or accept) gets the coded answer every other refusal gets, not ws's text/html one.
    let status = 101
    const onRefused = (err: Error): void => {
      status = 400
      const body = errorBody(new IsopoolError('ISOPOOL_ERR_BAD_REQUEST', { reason: err.message }).toWire())
      socket.end(`HTTP/1.1 400 Bad Request\r\ncontent-type: application/json; charset=utf-8\r\n${NOSNIFF[0]}: ${NOSNIFF[1]}\r\n` +
        `content-length: ${Buffer.byteLength(body)}\r\n${res.extra}connection: close\r\n\r\n${body}`, () => socket.destroy())
    }
    route.server.once('wsClientError', onRefused)
    try {
      route.server.handleUpgrade(upgrade as never, socket, head, (ws: WebSocket) => this.opened(ws, socket, route, handle, text))
    } catch (err) {
      // The HTTP layer has let go of the socket: a failure here is ours to end.
      console.error('isopool: a WebSocket upgrade failed:', err)
      socket.destroy()
    } finally {
      route.server.off('headers', onHeaders)
      route.server.off('wsClientError', onRefused)
      // ws answers synchronously (no verifyClient): the access log hears the status it sent.
      res.switched(status)
    }
  }

  /** The isolate a new connection is pinned to: a ready one with the fewest connections. */
  private pick (isolates: readonly IsolateHandle[]): IsolateHandle | null {
    let best: IsolateHandle | null = null
    let bestCount = Infinity
    for (const h of isolates) {
      if (h.state !== 'ready') continue
      const n = this.byIsolate.get(h)?.size ?? 0
      if (n < bestCount || (n === bestCount && best !== null && h.inFlight < best.inFlight)) {
        best = h
        bestCount = n
      }
    }
    return best
  }

  private opened (ws: WebSocket, socket: Socket, route: SocketRoute, handle: IsolateHandle, text: string): void {
    let id = this.nextId
    while (this.connections.has(id)) id = id >= 0xfffffffe ? 1 : id + 1
    this.nextId = id >= 0xfffffffe ? 1 : id + 1
    const c = new Connection(id, ws, socket, handle, route)
    this.connections.set(id, c)
    let set = this.byIsolate.get(handle)
    if (set === undefined) this.byIsolate.set(handle, set = new Set())
    set.add(c)
    handle.sendSocket(new SocketOut(KIND_WS_OPEN, id, route.index, text, null))
    ws.on('message', (data: Buffer, isBinary: boolean) => this.fromClient(c, data, isBinary))
    ws.on('ping', (data: Buffer) => this.pinged(c, data))
    ws.on('pong', () => { c.active = Date.now() })
    ws.on('error', () => {}) // a broken frame, a message past maxPayload: 'close' follows
    ws.on('close', (code: number, reason: Buffer) => this.closed(c, code, reason))
    // The HTTP layer may have paused the socket while it held the request; ws reads it now.
    socket.resume()
  }

  /** Answer a ping, unless the client sends them faster than it takes the pongs. */
  private pinged (c: Connection, data: Buffer): void {
    c.active = Date.now()
    if (c.ws.readyState !== 1) return
    if (c.pongs >= MAX_PENDING_PONGS) return c.end(1008, 'too many pings')
    c.pongs++
    c.ws.pong(data, false, c.ponged)
  }

  private fromClient (c: Connection, data: Buffer, isBinary: boolean): void {
    c.active = Date.now()
    if (c.orphan) return
    const frame = new SocketOut(KIND_WS_MESSAGE, c.id, isBinary ? 1 : 0, null, data, c.written)
    if (!c.handle.sendSocket(frame)) {
      c.queued++
      c.flow()
    }
  }

  private closed (c: Connection, code: number, reason: Buffer): void {
    if (this.connections.get(c.id) !== c) return
    this.connections.delete(c.id)
    this.byIsolate.get(c.handle)?.delete(c)
    if (c.topics !== null) {
      for (const t of c.topics) this.leave(c, t)
      c.topics = null
    }
    if (!c.orphan) c.handle.sendSocket(new SocketOut(KIND_WS_CLOSE, c.id, code, null, reason.byteLength > 0 ? reason : null))
    if (this.connections.size === 0 && this.idle !== null) {
      const idle = this.idle
      this.idle = null
      idle()
    }
  }

  private leave (c: Connection, topic: string): void {
    const set = this.topics.get(topic)
    if (set === undefined) return
    set.delete(c)
    if (set.size === 0) this.topics.delete(topic)
  }

  /** A message is on its way to the client: is it still reading fast enough? */
  private sent (c: Connection): void {
    c.active = Date.now()
    const buffered = c.ws.bufferedAmount
    if (buffered <= WS_HIGH_WATER) return
    if (buffered > c.route.maxBuffered) {
      // It reads nothing and its isolate does not stop: memory stays bounded.
      c.ws.terminate()
      return
    }
    if (c.slow) return
    c.slow = true
    c.flow()
    c.handle.sendSocket(new SocketOut(KIND_WS_DRAIN, c.id, 1, null, null))
    const drained = (): void => {
      if (this.connections.get(c.id) !== c) return
      if (c.ws.bufferedAmount > WS_LOW_WATER) {
        c.socket.once('drain', drained)
        return
      }
      c.slow = false
      c.flow()
      if (!c.orphan) c.handle.sendSocket(new SocketOut(KIND_WS_DRAIN, c.id, 0, null, null))
    }
    c.socket.once('drain', drained)
  }

  // ── frames from the isolates (SocketSink) ────────────────────────────────────────────────

  frame (handle: IsolateHandle, kind: number, id: number, arg: number, final: boolean, data: Buffer, start: number, end: number): void {
    if (kind === KIND_WS_PUBLISH) {
      const parts = this.publishing.get(handle)
      if (!final || parts !== undefined) {
        const all = parts ?? []
        all.push(copyOut(data, start, end))
        if (!final) {
          this.publishing.set(handle, all)
          return
        }
        this.publishing.delete(handle)
        const joined = Buffer.concat(all)
        this.publish(arg, joined, 0, joined.byteLength)
        return
      }
      this.publish(arg, data, start, end)
      return
    }
    const c = this.connections.get(id)
    if (c === undefined || c.handle !== handle) return // closed meanwhile: what it sent is dropped
    if (kind === KIND_WS_MESSAGE) {
      let bytes = copyOut(data, start, end)
      if (!final || c.parts !== null) {
        (c.parts ??= []).push(bytes)
        if (!final) return
        bytes = Buffer.concat(c.parts)
        c.parts = null
      }
      c.ws.send(bytes, { binary: arg === 1 })
      this.sent(c)
    } else if (kind === KIND_WS_CLOSE) {
      try {
        c.end(arg, data.toString('utf8', start, end))
      } catch {
        c.end(1011, '')
      }
    } else if (kind === KIND_WS_TOPIC) {
      const topic = data.toString('utf8', start, end)
      if (arg === 1) {
        (c.topics ??= new Set()).add(topic)
        let set = this.topics.get(topic)
        if (set === undefined) this.topics.set(topic, set = new Set())
        set.add(c)
      } else if (c.topics?.delete(topic) === true) {
        this.leave(c, topic)
      }
    }
  }

  /** WS_PUBLISH: `data[start, end)` is the topic, then the message. */
  private publish (arg: number, data: Buffer, start: number, end: number): void {
    const topicLen = arg >>> 1
    const set = this.topics.get(data.toString('utf8', start, start + topicLen))
    if (set === undefined) return
    // One copy out of the ring, sent to every subscriber.
    const message = copyOut(data, start + topicLen, end)
    const options = { binary: (arg & 1) === 1 }
    for (const c of set) {
      c.ws.send(message, options)
      this.sent(c)
    }
  }

  lost (handle: IsolateHandle, stopped: boolean): void {
    this.publishing.delete(handle)
    const set = this.byIsolate.get(handle)
    if (set === undefined) return
    this.byIsolate.delete(handle)
    for (const c of set) {
      c.orphan = true
      c.end(stopped ? 1012 : 1011, stopped ? 'service restart' : 'the isolate serving this connection stopped')
    }
  }

  // ── lifecycle ────────────────────────────────────────────────────────────────────────────

  /** Close every connection with 1001 (new upgrades get 503); resolves once all are closed. */
  close (): Promise<void> {
    this.closing = true
    if (this.sweeper !== null) clearInterval(this.sweeper)
    for (const c of this.connections.values()) c.end(1001, 'server shutting down')
    if (this.connections.size === 0) return Promise.resolve()
    return new Promise(resolve => { this.idle = resolve })
  }

  /** Cut the connections still open (their clients did not answer the close in time). */
  terminate (): void {
    for (const c of this.connections.values()) c.ws.terminate()
  }

  private sweep (): void {
    const now = Date.now()
    for (const c of this.connections.values()) {
      const limit = c.route.options.idleTimeout
      if (limit > 0 && now - c.active > limit && c.ws.readyState === 1) c.end(1001, 'idle timeout')
    }
  }
}
