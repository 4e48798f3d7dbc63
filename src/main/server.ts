// The server: the public API, its lifecycle, and the wiring of the main thread's parts.
//
//   Http1Server ── a parsed request ──▶ onRequest: built-ins, route lookup, limits
//                                          │ new Exchange (one request's life: exchange.ts)
//                                          ▼
//                                       Dispatcher (when and where: dispatch.ts)
//                                          │ take()
//                                          ▼
//                                       IsolatePool (start, replace, reload, supervise) ── IsolateHandle
//
// Nothing below knows the layers above but through the small interfaces it is handed.

import { watch } from 'node:fs'
import type { FSWatcher } from 'node:fs'
import type { Socket } from 'node:net'
import { IsopoolError } from '../shared/errors.ts'
import { HEAD_PREFIX } from '../shared/frame.ts'
import { META_IP, metaField } from '../shared/head-text.ts'
import { maxFrameOf } from '../shared/ring.ts'
import { Dispatcher } from './dispatch.ts'
import { Exchange } from './exchange.ts'
import type { ExchangeContext } from './exchange.ts'
import { Deadlines } from './deadlines.ts'
import { Http1Server, writeError } from './http1.ts'
import { InMemorySocket, parseResponse, requestBytes } from './in-process.ts'
import type { Http1Request, Http1Response } from './http1.ts'
import type { IsolateHandle, Placement } from './isolate-handle.ts'
import { IsolatePool } from './isolate-pool.ts'
import { checkRouteDefinition, checkRouteOptions, resolveOptions, resolveWebSocketOptions, routeBodyLimitProblem, routeTimeout } from './options.ts'
import type { ResolvedOptions, RouteDefinition, RouteOptions, ServerOptions, WebSocketOptions } from './options.ts'
import { metricsPath } from './metrics.ts'
import { staticPrefixes } from './static-files.ts'
import { givenRoute, resolveHandler, RouteTable, writeNoRoute } from './route-table.ts'
import { compilePath } from '../shared/path-pattern.ts'
import { WebSocketHub } from './websockets.ts'
import type { ManifestSocket } from '../shared/protocol.ts'
import type { Health, Routes } from './route-table.ts'
import { clientIpResolver } from './client-ip.ts'
import { routeRateLimitProblem } from './rate-limit.ts'
import { resolveCompression, routeCompressionProblem } from './compression.ts'
import { isolateLogConfig } from './logger.ts'
import { globalMiddleware, routeMiddleware } from './middleware-option.ts'
import { createServices, Services } from './services.ts'
import type { ServiceHost, ServiceIsolate } from './services.ts'

export interface ListenOptions {
  /** Default 0: any free port. */
  port?: number
  /** Default '127.0.0.1'. */
  host?: string
}

export interface ListenResult {
  port: number
  host: string
  /** `http://host:port` */
  url: string
}

/** Why the address could not be taken, as ISOPOOL_ERR_LISTEN says it. */
function listenReason (err: unknown): string {
  const e = err as { code?: unknown, message?: unknown } | null
  const code = typeof e?.code === 'string' ? e.code : undefined
  if (code === 'EADDRINUSE') return 'the address is already in use (EADDRINUSE): another process listens on it'
  if (code === 'EACCES') return 'permission denied (EACCES): a port below 1024 needs privileges'
  if (code === 'EADDRNOTAVAIL') return 'the host is not an address of this machine (EADDRNOTAVAIL)'
  const message = typeof e?.message === 'string' ? e.message : String(err)
  return code === undefined ? message : `${message} (${code})`
}

export class Server {
  readonly options: ResolvedOptions
  private readonly table: RouteTable
  private routes: Routes | null = null
  private readonly dispatcher: Dispatcher<Placement, Exchange>
  private readonly pool: IsolatePool
  private readonly context: ExchangeContext
  /** The HTTP/1.1 layer: bound to an address by listen(), handed in-memory sockets by request(). */
  private readonly http: Http1Server
  /** The isolates' start, shared by listen() and request(): whichever comes first starts them. */
  private startup: Promise<void> | null = null
  /** listen() was called. */
  private listened = false
  /** Exchanges accepted and not yet over for their client. */
  private active = 0
  private idle: (() => void) | null = null
  /** Set once close() starts stopping the isolates: nothing more can run. */
  private stopping = false
  /** 'listening': the isolates serve, over the bound address or request()'s in-memory sockets. */
  private state: 'new' | 'starting' | 'listening' | 'closing' | 'closed' = 'new'
  /** The largest frame a request ring takes: a REQ_HEAD must fit in it. */
  private readonly maxHeadFrame: number
  private watcher: FSWatcher | null = null
  private sweeper: NodeJS.Timeout | null = null
  /** The main thread's services (src/main/services.ts): request ids, CORS, logs, metrics, … */
  private readonly services: Services
  /** Whether a request has anything to do in services.begin() / admit(), read once. */
  private readonly begins: boolean
  private readonly admits: boolean
  /** The client's address of a request: its socket's peer, or what the trusted proxies say. */
  private readonly clientIp: (req: Http1Request) => string
  /** The WebSocket routes and connections (src/main/websockets.ts). */
  private readonly sockets: WebSocketHub

  constructor (options?: number | ServerOptions) {
    this.options = resolveOptions(options)
    const o = this.options
    this.clientIp = clientIpResolver(o.given.trustProxy)
    this.maxHeadFrame = maxFrameOf(o.ringSize)
    this.table = new RouteTable(o.modules, { ...o, metricsPath: metricsPath(o), staticPrefixes: staticPrefixes(o) })
    this.sockets = new WebSocketHub(this.maxHeadFrame)
    this.dispatcher = new Dispatcher<Placement, Exchange>({ maxQueue: o.maxQueue, maxQueueBytes: o.maxQueueBytes, maxQueueWait: o.maxQueueWait, placement: o.placement })
    this.pool = new IsolatePool({
      isolates: o.isolates,
      spares: o.spares,
      hardTimeout: o.hardTimeout,
      isolate: {
        ringSize: o.ringSize,
        maxInFlight: o.maxInFlight,
        dev: o.dev,
        poll: o.poll,
        maxBodyDepth: o.maxBodyDepth,
        resourceLimits: o.resourceLimits,
        log: isolateLogConfig(o),
        compression: resolveCompression(o.given.compression),
        maxBodySize: o.maxBodySize,
        middleware: globalMiddleware(o.root, o.given.middleware),
        sockets: this.sockets
      }
    }, {
      switched: (routes) => {
        this.routes = routes
        this.dispatcher.forEachWaiting(ex => ex.rerouteWaiting(routes))
      },
      changed: (active) => this.dispatcher.setCandidates(active),
      space: () => this.dispatcher.pump(),
      message: (handle, msg) => this.services.message(handle.index, msg)
    })
    this.services = new Services(createServices(o, this.serviceHost()))
    this.begins = this.services.begins
    this.admits = this.services.admits
    const retryAfter = ['retry-after', String(o.retryAfter)]
    this.context = {
      dispatcher: this.dispatcher,
      routes: () => this.routes!,
      finished: () => this.finished(),
      retryAfter,
      deadlines: new Deadlines()
    }
    this.http = new Http1Server({ ...o.http, maxDrain: o.maxBodySize }, (req, res) => this.onRequest(req, res), this.services.refusals)
    const routes = typeof options === 'object' && options !== null ? options.routes ?? [] : []
    routes.forEach((r, i) => {
      checkRouteDefinition(r, i)
      if ('websocket' in r) {
        const { method: _method, path, websocket, ...options } = r
        this.websocket(path, websocket, options)
        return
      }
      const { method, path, handler, ...rest } = r
      this.route(method, path, handler, rest)
    })
  }

  /** Add a route: `handler` is `module#export`. Chainable; only before listen(). */
  route (method: RouteDefinition['method'], path: string, handler: string, options?: RouteOptions): this {
    if (this.state !== 'new') throw new IsopoolError('ISOPOOL_ERR_ALREADY_LISTENING', { action: 'add a route' })
    checkRouteOptions(options, String(method).toUpperCase(), path)
    const timeout = routeTimeout(String(method).toUpperCase(), path, options, this.options.timeout)
    const given = givenRoute(this.options.root, method, path, handler, timeout)
    if (options?.rateLimit !== undefined) {
      const problem = routeRateLimitProblem(options.rateLimit)
      if (problem !== null) throw new IsopoolError('ISOPOOL_ERR_INVALID_ROUTE', { method: given.method, path, reason: problem })
      given.rateLimit = options.rateLimit
    }
    if (options?.compression !== undefined) {
      const problem = routeCompressionProblem(options.compression)
      if (problem !== null) throw new IsopoolError('ISOPOOL_ERR_INVALID_ROUTE', { method: given.method, path, reason: problem })
      given.compression = options.compression
    }
    if (options?.maxBodySize !== undefined) {
      const problem = routeBodyLimitProblem(options.maxBodySize)
      if (problem !== null) throw new IsopoolError('ISOPOOL_ERR_INVALID_ROUTE', { method: given.method, path, reason: problem })
      given.maxBodySize = options.maxBodySize
    }
    given.middleware = routeMiddleware(this.options.root, given.method, path, options?.middleware)
    this.table.add(given)
    return this
  }

  /**
   * Add a WebSocket route: `handler` is `module#export` of a WebSocketHandler object
   * (`{ open?, message?, close?, drain? }`), whose callbacks run in the isolate each connection
   * is pinned to. Chainable; only before listen().
   */
  websocket (path: string, handler: string, options?: WebSocketOptions): this {
    if (this.state !== 'new') throw new IsopoolError('ISOPOOL_ERR_ALREADY_LISTENING', { action: 'add a WebSocket route' })
    const resolved = resolveWebSocketOptions(options, path)
    if (typeof path !== 'string') throw new IsopoolError('ISOPOOL_ERR_INVALID_ROUTE', { method: 'WEBSOCKET', path: String(path), reason: 'the path must be a string' })
    compilePath('GET', path)
    const spec = { path, ...resolveHandler(this.options.root, 'WEBSOCKET', path, handler) }
    this.table.addSocket(spec)
    this.sockets.add(spec, this.table.sockets.length - 1, resolved)
    return this
  }

  /** WebSocket connections open now. Read-only, for metrics and tests. */
  get webSocketCount (): number { return this.sockets.size }

  /** What the services see of this server. */
  private serviceHost (): ServiceHost {
    const view = (h: IsolateHandle): ServiceIsolate => ({
      index: h.index,
      state: h.state,
      post: (msg) => h.worker.postMessage(msg),
      utilization: () => h.worker.performance.eventLoopUtilization().utilization,
      rings: () => ({ request: h.requests.capacity - h.requests.free(), response: h.responses.used(), capacity: h.requests.capacity })
    })
    return {
      isolates: () => this.pool.active.map(view),
      load: () => ({ inFlight: this.pool.inFlight, waiting: this.dispatcher.waiting, held: this.dispatcher.heldCount }),
      restarts: () => this.pool.restarts
    }
  }

  /** Number of isolates serving (after listen()). */
  get isolateCount (): number { return this.pool.active.length }

  /** Spare isolates ready now, idle, to take a dead one's place (the `spares` option). */
  get spareCount (): number { return this.pool.spareCount }

  /** Isolates replaced since listen() (crashes, exits, stuck isolates; not reloads). */
  get restarts (): number { return this.pool.restarts }

  /** Requests placed on an isolate and not answered whole by it yet (one given up on with a 504
   * counts until its isolate answers or dies). Read-only, for metrics and tests. */
  get inFlight (): number { return this.pool.inFlight }

  /** Requests accepted and waiting in the main thread for an isolate. Read-only, for metrics and tests. */
  get waiting (): number { return this.dispatcher.waiting }

  /**
   * Take the address, start every isolate and wait until each has imported its modules, then
   * serve. Rejects with nothing left running (no thread, no socket) when the address cannot be
   * taken (ISOPOOL_ERR_LISTEN, before any isolate starts), a module cannot be imported or an
   * export is missing.
   */
  async listen (options: ListenOptions = {}): Promise<ListenResult> {
    if (this.listened || this.state === 'closing' || this.state === 'closed') throw new IsopoolError('ISOPOOL_ERR_ALREADY_LISTENING', { action: 'listen again' })
    this.listened = true
    const fresh = this.state === 'new'
    if (fresh) this.state = 'starting'
    const http = this.http
    const at = { port: options.port ?? 0, host: options.host ?? '127.0.0.1' }
    let addr
    try {
      // Bound first, served last: a port taken fails here, before an isolate costs anything,
      // and a client that connects while the isolates start waits for them.
      addr = await http.bind(at.port, at.host)
    } catch (err) {
      if (fresh) this.state = 'closed' // else request() started the isolates: they keep serving it
      const address = `${at.host.includes(':') ? `[${at.host}]` : at.host}:${at.port}`
      throw new IsopoolError('ISOPOOL_ERR_LISTEN', { address, reason: listenReason(err) }, { cause: err })
    }
    try {
      await this.start()
    } catch (err) {
      await http.close() // closes the sockets held since bind(): none was read
      throw err
    }
    http.serve()
    const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address
    return { port: addr.port, host: addr.address, url: `http://${host}:${addr.port}` }
  }

  /**
   * Answer one request in this process, without a socket: `input` is a path (`'/users/1'`), a URL
   * or a Web `Request`, `init` as for `fetch()`. It goes through what a socket request goes
   * through — the HTTP/1.1 layer and its limits, the router, the isolates, the validators and
   * encoders — on an in-memory socket, and resolves with a Web `Response`. The isolates are
   * started on the first call if listen() has not started them; close() stops them.
   */
  async request (input: string | URL | Request, init?: RequestInit): Promise<Response> {
    if (this.state === 'closing' || this.state === 'closed') throw new IsopoolError('ISOPOOL_ERR_NOT_LISTENING', { action: 'request' })
    const req = input instanceof Request
      ? (init === undefined ? input : new Request(input, init))
      : new Request(new URL(input, 'http://localhost'), init)
    const bytes = await requestBytes(req)
    await this.start()
    const socket = new InMemorySocket()
    this.http.accept(socket as unknown as Socket)
    socket.push(bytes)
    const answer = await socket.done
    socket.destroy()
    return parseResponse(answer, req.method)
  }

  /** Start the isolates once; on failure nothing is left running and the server is closed. */
  private start (): Promise<void> {
    this.startup ??= this.startIsolates()
    return this.startup
  }

  private async startIsolates (): Promise<void> {
    this.state = 'starting'
    try {
      await this.pool.start(this.table.plan(), (manifest, sockets) => this.buildRoutes(manifest, sockets))
    } catch (err) {
      await this.pool.stop()
      this.state = 'closed'
      throw err
    }
    this.state = 'listening'
    // Requests that waited past maxQueueWait are shed on a sweep, not on a timer each.
    if (this.options.maxQueueWait > 0) {
      this.sweeper = setInterval(() => this.dispatcher.expire(), Math.max(10, Math.min(100, this.options.maxQueueWait >>> 2)))
      this.sweeper.unref()
    }
    if (this.options.watch) this.startWatching()
  }

  /**
   * Start a new set of isolates, which import the handler modules afresh (and list the `modules`
   * folders again); once all are ready, new requests go to them, and the old ones finish what
   * they have started, then stop. If a module fails to import, the old isolates keep serving and
   * the promise rejects with the coded error. Calls made while a reload runs share it.
   */
  reload (): Promise<void> {
    if (this.state !== 'listening') return Promise.reject(new IsopoolError('ISOPOOL_ERR_NOT_LISTENING', { action: 'reload' }))
    return this.pool.reload(() => this.table.plan(), (manifest, sockets) => this.buildRoutes(manifest, sockets))
  }

  private buildRoutes (manifest: Parameters<RouteTable['build']>[0], sockets: ManifestSocket[]): Routes {
    const routes = this.table.build(manifest, this.options.timeout, () => this.health())
    for (const s of sockets) this.table.refuseSocket(s)
    routes.sockets = this.sockets.build(sockets)
    return routes
  }

  private health (): Health {
    const notReady = this.state === 'starting' || this.state === 'new' ? 'starting'
      : this.state !== 'listening' ? 'shutting down'
        : this.dispatcher.shedding ? 'shedding load'
          : this.pool.notReady()
    return { notReady, isolates: this.pool.active.length }
  }

  /** Reload when a source file under root changes (the `watch` option). */
  private startWatching (): void {
    let timer: NodeJS.Timeout | null = null
    this.watcher = watch(this.options.root, { recursive: true }, (_event, file) => {
      if (file === null || !/\.(ts|js|mjs|cjs|mts|cts|json)$/.test(file) || file.includes('node_modules')) return
      // Editors write a file in several steps: reload once they are done.
      if (timer !== null) clearTimeout(timer)
      timer = setTimeout(() => {
        timer = null
        this.reload().then(
          () => console.error(`isopool: reloaded after a change to ${file}`),
          () => {} // reported by reload(); the old isolates keep serving
        )
      }, 150)
    })
    this.watcher.on('error', (err) => console.error('isopool: watching stopped:', err))
    this.watcher.unref()
  }

  /** Stop accepting, let every accepted request finish, then stop the isolates. */
  async close (): Promise<void> {
    if (this.state === 'new') { this.state = 'closed'; return }
    if (this.state === 'closing' || this.state === 'closed') return
    if (this.state !== 'listening') throw new IsopoolError('ISOPOOL_ERR_NOT_LISTENING', { action: 'close while starting' })
    this.state = 'closing'
    this.watcher?.close()
    const http = this.http
    const closed = http.close() // idle connections close now, the others after their response
    // WebSockets close with 1001 (going away) alongside the requests that finish.
    const socketsClosed = this.sockets.close()
    let deadline: NodeJS.Timeout | undefined
    const late = new Promise<'late'>(resolve => { deadline = setTimeout(resolve, this.options.shutdownTimeout, 'late') })
    // Streamed answers end now (an endless stream would never let close() finish): the isolate
    // cancels each, the client gets the end of its chunked body.
    for (const p of this.pool.placements()) (p.request as Exchange).endStream()
    if (this.active > 0) {
      const idle = new Promise<void>(resolve => { this.idle = resolve })
      if (await Promise.race([idle, late]) === 'late') {
        const err = new IsopoolError('ISOPOOL_ERR_SHUTTING_DOWN')
        // Those waiting for an isolate, then those on one (a placement's request is its exchange).
        for (const ex of this.dispatcher.takeAll()) ex.shutDown(err)
        for (const p of this.pool.placements()) (p.request as Exchange).shutDown(err)
      }
    }
    // What the services answer themselves (files being sent) finishes in the same time.
    await Promise.race([this.services.settle(), late])
    await Promise.race([socketsClosed, late])
    this.sockets.terminate()
    clearTimeout(deadline)
    this.stopping = true
    if (this.sweeper !== null) clearInterval(this.sweeper)
    http.closeAllConnections()
    await closed
    await this.pool.stop()
    await this.services.close()
    this.state = 'closed'
  }

  // ── per request ───────────────────────────────────────────────────────────────────────────

  private onRequest (req: Http1Request, res: Http1Response): void {
    // The request's one clock read (~70 ns here): its start for the access log and the metrics,
    // the rate limit's bucket time, its timeout and its placement.
    req.startedAt = performance.now()
    req.ip = this.clientIp(req)
    req.meta = metaField(META_IP, req.ip)
    const services = this.services
    if (this.begins && !services.begin(req, res)) return
    const routes = this.routes!
    // By path: a probe's or a cache-buster's query string is no reason to miss the endpoint.
    const q = req.url.indexOf('?')
    const builtin = routes.builtins.get(q < 0 ? req.url : req.url.slice(0, q))
    if (builtin !== undefined) {
      builtin(res)
      return
    }
    if (routes.sockets !== null) {
      // A WebSocket route's path: an upgrade goes to it, and so does any other request unless an
      // HTTP route takes it (it gets a coded 426).
      const socketRoute = routes.sockets.match(req.url)
      if (socketRoute !== null && (WebSocketHub.wanted(req) || routes.match(req.method, req.url) === null)) {
        req.route = socketRoute.path // for the access log and metrics, as an HTTP route's pattern
        // The rate limit counts an upgrade as a request: a flood of them is refused 429 before
        // the handshake, and no isolate is asked.
        if (this.admits && !services.admit(req, res, socketRoute)) return
        this.sockets.accept(req, res, socketRoute, this.pool.active)
        return
      }
    }
    const route = routes.match(req.method, req.url)
    if (route === null) {
      const miss = routes.lookup(req.method, req.url)
      if (!miss.found) writeNoRoute(res, req.method, req.url, miss)
      return
    }
    req.route = route.path
    if (this.state !== 'listening') {
      // Closing: finish this one if the isolates still run, and do not keep the connection.
      res.shouldKeepAlive = false
      if (this.stopping) {
        writeError(res, new IsopoolError('ISOPOOL_ERR_SHUTTING_DOWN'), this.context.retryAfter, true)
        return
      }
    }
    // The head crosses to the isolate in one frame: one larger than a frame can be is a head too
    // large for this server (as much a 431 as one past http.maxHeaderSize), not a 500.
    if (HEAD_PREFIX + req.head.length + req.meta.length > this.maxHeadFrame) {
      writeError(res, new IsopoolError('ISOPOOL_ERR_HEADERS_TOO_LARGE'), [], true)
      return
    }
    if (req.bodyLength > route.maxBodySize) {
      // Refuse before reading a byte of it; the connection closes so the rest is never read.
      writeError(res, new IsopoolError('ISOPOOL_ERR_BODY_TOO_LARGE', { limit: route.maxBodySize }), [], true)
      return
    }
    if (this.admits && !services.admit(req, res, route)) return
    this.active++
    // The request's start, microseconds ago in this same call, is its timeout's and its
    // placement's time.
    const now = req.startedAt
    this.dispatcher.submit(new Exchange(req, res, route, this.context, now), now)
  }

  private finished (): void {
    this.active--
    if (this.active === 0 && this.idle !== null) {
      const idle = this.idle
      this.idle = null
      idle()
    }
  }
}
