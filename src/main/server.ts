// The accept loop: the HTTP layer (http1.ts) parses, the router picks a route, and each request
// goes to the isolate that will be free soonest (route-costs.ts). When none can take it, it waits
// in a bounded queue.

import { watch } from 'node:fs'
import type { FSWatcher } from 'node:fs'
import { IsopoolError } from '../shared/errors.ts'
import { HEAD_PREFIX, UNKNOWN_LENGTH } from '../shared/frame.ts'
import { NOSNIFF } from '../shared/http-syntax.ts'
import { maxFrameOf } from '../shared/ring.ts'
import { compilePath } from '../shared/path-pattern.ts'
import { modulePath } from '../shared/protocol.ts'
import type { ManifestRoute, RouteSpec } from '../shared/protocol.ts'
import { sendError } from './exchange.ts'
import type { Exchange } from './exchange.ts'
import { Http1Server } from './http1.ts'
import type { Http1Request, Http1Response } from './http1.ts'
import { IsolateHandle } from './isolate-handle.ts'
import type { IsolateConfig, IsolateEvents } from './isolate-handle.ts'
import { normalizeMethod, resolveHandler, resolveOptions, routeTimeout } from './options.ts'
import type { ResolvedOptions, RouteDefinition, RouteOptions, ServerOptions } from './options.ts'
import { buildOpenApi, docsAssets } from './openapi.ts'
import { Router } from './router.ts'
import { LIGHT_WINDOW_MS, LONG_MS, MAX_LONG, MAX_LONG_MIXED, RouteCosts } from './route-costs.ts'

/** What place() did with a request. */
const PLACED = 0
const FULL = 1
const HELD = 2

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

interface RouteEntry {
  method: string
  path: string
  module: string
  export: string
  /** Milliseconds before 504; 0 for none. */
  timeout: number
  /** For a discovered route: what its isolate reported. */
  manifest?: ManifestRoute
}

function handlerName (r: RouteEntry): string {
  return `${modulePath(r.module)}#${r.export}`
}

export class Server {
  readonly options: ResolvedOptions
  private readonly routeList: RouteEntry[] = []
  private router = new Router()
  private builtins = new Map<string, (res: Http1Response) => void>()
  /** Swagger UI's files, read once. */
  private docs: Map<string, { type: string, body: Buffer }> | null = null
  private isolates: IsolateHandle[] = []
  private config: IsolateConfig | null = null
  private http: Http1Server | null = null
  /** Requests waiting for an isolate, oldest first. */
  private queue: Exchange[] = []
  /** Long requests waiting for an isolate with room for one more of them (route-costs.ts);
   * they wait here, where they hold up no one, not behind a job on an isolate. */
  private held: Exchange[] = []
  /** Held requests per route index. */
  private heldOf: number[] = []
  private readonly costs = new RouteCosts()
  /** performance.now() when a request that is not a long one was last placed, its route, and
   * when one of another route was: whether light requests come is asked for routes other than
   * the long request's own (one whose cost hovers around LONG_MS has no one to protect from it). */
  private lightAt = -Infinity
  private lightRoute = -1
  private otherLightAt = -Infinity
  /** Exchanges accepted and not yet completed (queued or on an isolate). */
  private active = 0
  private idle: (() => void) | null = null
  /** Set once close() starts stopping the isolates: nothing more can run. */
  private stopping = false
  private state: 'new' | 'starting' | 'listening' | 'closing' | 'closed' = 'new'
  private readonly events: IsolateEvents
  /** Per route index: milliseconds before 504, 0 for none. */
  private timeouts: number[] = []
  /** The largest frame a request ring takes: a REQ_HEAD must fit in it. */
  private readonly maxHeadFrame: number
  /** The Retry-After header every 503 carries, built once. */
  private readonly retryAfter: string[]
  /** Isolate index → deaths in a row, each soon after its start. */
  private readonly crashLoops = new Map<number, number>()
  /** Isolates replaced since listen() (crashes, exits, stuck isolates; not reloads). */
  restarts = 0
  /** Bumped by each reload that goes live; isolates of an older generation are retiring. */
  private generation = 0
  private reloading: Promise<void> | null = null
  /** Isolates of an older generation finishing their requests after a reload. */
  private readonly retiring = new Set<IsolateHandle>()
  private watcher: FSWatcher | null = null
  private supervisor: NodeJS.Timeout | null = null

  constructor (options?: number | ServerOptions) {
    this.options = resolveOptions(options)
    this.retryAfter = ['retry-after', String(this.options.retryAfter)]
    this.maxHeadFrame = maxFrameOf(this.options.ringSize)
    const routes = typeof options === 'object' && options !== null ? options.routes ?? [] : []
    for (const r of routes) this.route(r.method, r.path, r.handler, r)
    this.events = {
      complete: (ex) => this.completed(ex),
      space: () => this.pump(),
      exit: (handle, code) => this.isolateExited(handle, code)
    }
  }

  /** Add a route: `handler` is `module#export`. Chainable; only before listen(). */
  route (method: RouteDefinition['method'], path: string, handler: string, options?: RouteOptions): this {
    if (this.state !== 'new') throw new IsopoolError('ISOPOOL_ERR_ALREADY_LISTENING', { action: 'add a route' })
    const m = normalizeMethod(method, path)
    compilePath(m, path)
    const target = resolveHandler(this.options.root, m, path, handler)
    const timeout = routeTimeout(m, path, options, this.options.timeout)
    const entry: RouteEntry = { method: m, path, ...target, timeout }
    const clash = this.routeList.find(r => r.method === m && r.path === path)
    if (clash !== undefined) {
      throw new IsopoolError('ISOPOOL_ERR_ROUTE_CONFLICT', { method: m, path, first: handlerName(clash), second: handlerName(entry) })
    }
    this.routeList.push(entry)
    return this
  }

  /** Number of isolates serving (after listen()). */
  get isolateCount (): number { return this.isolates.length }

  /**
   * Start every isolate, wait until each has imported its modules, then listen. Rejects with
   * nothing left running when a module cannot be imported or an export is missing.
   */
  async listen (options: ListenOptions = {}): Promise<ListenResult> {
    if (this.state !== 'new') throw new IsopoolError('ISOPOOL_ERR_ALREADY_LISTENING', { action: 'listen again' })
    this.state = 'starting'
    const modules = [...new Set(this.routeList.map(r => r.module))]
    const routes: RouteSpec[] = this.routeList.map(r => ({ method: r.method, path: r.path, module: modules.indexOf(r.module), export: r.export }))
    this.config = {
      modules, routes, discover: this.options.modules, ringSize: this.options.ringSize, dev: this.options.dev, poll: this.options.poll, maxBodyDepth: this.options.maxBodyDepth, resourceLimits: this.options.resourceLimits, costs: this.costs
    }
    try {
      this.isolates = await this.startIsolates()
      this.useRouting(this.isolates)
    } catch (err) {
      await Promise.all(this.isolates.map(h => h.stop()))
      this.isolates = []
      this.state = 'closed'
      throw err
    }
    const http = new Http1Server({ ...this.options.http, maxDrain: this.options.maxBodySize }, (req, res) => this.onRequest(req, res))
    this.http = http
    let addr
    try {
      addr = await http.listen(options.port ?? 0, options.host ?? '127.0.0.1')
    } catch (err) {
      await this.stopIsolates()
      this.state = 'closed'
      throw err
    }
    this.state = 'listening'
    if (this.options.hardTimeout > 0) {
      const every = Math.max(50, Math.min(1000, this.options.hardTimeout >>> 2))
      this.supervisor = setInterval(() => this.supervise(2 * every), every)
      this.supervisor.unref()
    }
    if (this.options.watch) this.startWatching()
    const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address
    return { port: addr.port, host: addr.address, url: `http://${host}:${addr.port}` }
  }

  /**
   * Start a new set of isolates, which import the handler modules afresh; once all are ready,
   * new requests go to them and the old ones finish what they have, then stop. If a module fails
   * to import, the old isolates keep serving and the promise rejects with the coded error.
   * Calls made while a reload runs share it.
   */
  reload (): Promise<void> {
    if (this.state !== 'listening') return Promise.reject(new IsopoolError('ISOPOOL_ERR_NOT_LISTENING', { action: 'reload' }))
    this.reloading ??= this.swapIsolates().finally(() => { this.reloading = null })
    return this.reloading
  }

  /**
   * Build the router from the given routes and the route() declarations the isolates found.
   * Throws ISOPOOL_ERR_ROUTE_CONFLICT naming both when two claim one method and path. Every
   * isolate must have found the same routes, as they number them the same way.
   */
  private useRouting (isolates: IsolateHandle[]): void {
    const manifest = isolates[0]?.manifest ?? []
    const key = (m: ManifestRoute[]): string => JSON.stringify(m.map(r => [r.method, r.path, r.module, r.export]))
    for (const h of isolates) {
      if (key(h.manifest) !== key(manifest)) {
        throw new IsopoolError('ISOPOOL_ERR_ISOLATE_START', { isolate: h.index, reason: 'it found other route() declarations than isolate 0 (modules that declare routes conditionally?)' })
      }
    }
    const table: RouteEntry[] = [
      ...this.routeList,
      ...manifest.map(m => ({ method: m.method, path: m.path, module: m.module, export: m.export, timeout: m.timeout ?? this.options.timeout, manifest: m }))
    ]
    const seen = new Map<string, RouteEntry>()
    for (const r of table) {
      const k = `${r.method} ${r.path}`
      const first = seen.get(k)
      if (first !== undefined) {
        throw new IsopoolError('ISOPOOL_ERR_ROUTE_CONFLICT', { method: r.method, path: r.path, first: handlerName(first), second: handlerName(r) })
      }
      seen.set(k, r)
    }
    const router = new Router()
    // Explicit HEAD routes first: a HEAD route of its own takes precedence over the one a GET
    // route implies (Router.add skips the implied one when HEAD is taken).
    const order = table.map((_, i) => i).sort((a, b) => Number(table[b].method === 'HEAD') - Number(table[a].method === 'HEAD'))
    for (const i of order) router.add(table[i].method, table[i].path, i)
    router.compile()
    this.router = router
    this.timeouts = table.map(r => r.timeout)
    this.builtins = this.builtinEndpoints(table)
  }

  /** The endpoints the main thread answers itself, by exact request target. */
  private builtinEndpoints (table: RouteEntry[]): Map<string, (res: Http1Response) => void> {
    const o = this.options
    const map = new Map<string, (res: Http1Response) => void>()
    const send = (type: string, body: Buffer) => (res: Http1Response): void => {
      res.writeHead(200, ['content-type', type, ...NOSNIFF, 'content-length', String(body.byteLength)], true)
      res.end(body)
    }
    if (o.livePath !== null) map.set(o.livePath, res => this.health(true, res))
    if (o.readyPath !== null) map.set(o.readyPath, res => this.health(false, res))
    if (o.openapiPath !== null) {
      map.set(o.openapiPath, send('application/json; charset=utf-8', Buffer.from(JSON.stringify(buildOpenApi(table, o.docsInfo)))))
      if (o.docsPath !== null) {
        this.docs ??= docsAssets(o.docsPath, o.openapiPath)
        for (const [path, asset] of this.docs) map.set(path, send(asset.type, asset.body))
      }
    }
    return map
  }

  /** Start a full set of isolates; if one fails, stop the others and throw its error. */
  private async startIsolates (): Promise<IsolateHandle[]> {
    const started = await Promise.allSettled(
      Array.from({ length: this.options.isolates }, (_, i) => IsolateHandle.start(i, this.config!, this.events))
    )
    const fresh = started.flatMap(s => s.status === 'fulfilled' ? [s.value] : [])
    const failed = started.find(s => s.status === 'rejected')
    if (failed === undefined) return fresh
    await Promise.all(fresh.map(h => h.stop()))
    throw (failed as PromiseRejectedResult).reason
  }

  private async swapIsolates (): Promise<void> {
    let fresh: IsolateHandle[]
    try {
      fresh = await this.startIsolates()
    } catch (err) {
      console.error('isopool: reload failed, the running isolates keep serving:', err)
      throw err
    }
    if (this.state !== 'listening') {
      await Promise.all(fresh.map(h => h.stop()))
      return
    }
    try {
      this.useRouting(fresh) // the new code may declare other routes
    } catch (err) {
      await Promise.all(fresh.map(h => h.stop()))
      console.error('isopool: reload failed, the running isolates keep serving:', err)
      throw err
    }
    const generation = ++this.generation
    for (const h of fresh) h.generation = generation
    const old = this.isolates
    this.isolates = fresh
    this.crashLoops.clear()
    this.pump()
    await Promise.all(old.map(async (h) => {
      this.retiring.add(h)
      await h.whenIdle()
      await h.stop()
      this.retiring.delete(h)
    }))
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
    const http = this.http!
    const closed = http.close() // idle connections close now, the others after their response
    if (this.active > 0) {
      const idle = new Promise<void>(resolve => { this.idle = resolve })
      let deadline: NodeJS.Timeout | undefined
      const late = new Promise<'late'>(resolve => { deadline = setTimeout(resolve, this.options.shutdownTimeout, 'late') })
      if (await Promise.race([idle, late]) === 'late') this.answerAll(new IsopoolError('ISOPOOL_ERR_SHUTTING_DOWN'))
      clearTimeout(deadline)
    }
    if (this.supervisor !== null) clearInterval(this.supervisor)
    this.stopping = true
    http.closeAllConnections()
    await closed
    await this.stopIsolates()
    this.state = 'closed'
  }

  // ── per request ───────────────────────────────────────────────────────────────────────────

  private onRequest (req: Http1Request, res: Http1Response): void {
    const method = req.method
    const url = req.url
    const builtin = this.builtins.get(url)
    if (builtin !== undefined) {
      builtin(res)
      return
    }
    const found = this.router.lookup(method, url)
    if (!found.found) {
      const path = url.split('?')[0]
      if (found.badUrl) sendError(res, new IsopoolError('ISOPOOL_ERR_BAD_REQUEST', { reason: 'the path is not valid percent-encoding' }))
      else if (found.allow.length === 0) sendError(res, new IsopoolError('ISOPOOL_ERR_NOT_FOUND', { method, path }))
      else {
        const allow = found.allow.join(', ')
        sendError(res, new IsopoolError('ISOPOOL_ERR_METHOD_NOT_ALLOWED', { method, path, allow }), ['allow', allow])
      }
      return
    }
    if (this.state !== 'listening') {
      // Closing: finish this one if the isolates still run, and do not keep the connection.
      res.shouldKeepAlive = false
      if (this.stopping) {
        sendError(res, new IsopoolError('ISOPOOL_ERR_SHUTTING_DOWN'), this.retryAfter, true)
        return
      }
    }
    // The head crosses to the isolate in one frame: one larger than a frame can be is a head too
    // large for this server (as much a 431 as one past http.maxHeaderSize), not a 500.
    if (HEAD_PREFIX + req.head.length > this.maxHeadFrame) {
      sendError(res, new IsopoolError('ISOPOOL_ERR_HEADERS_TOO_LARGE'), [], true)
      return
    }
    const bodyLen = req.bodyLength < 0 ? UNKNOWN_LENGTH : req.bodyLength
    if (bodyLen !== UNKNOWN_LENGTH && bodyLen > this.options.maxBodySize) {
      // Refuse before reading a byte of it; the connection closes so the rest is never read.
      sendError(res, new IsopoolError('ISOPOOL_ERR_BODY_TOO_LARGE', { limit: this.options.maxBodySize }), [], true)
      return
    }
    const ex: Exchange = {
      req, res, route: found.route, text: req.head, bodyLen,
      isolate: null, id: 0, sent: false, streaming: false, done: false, timer: null, cost: 0, parts: null
    }
    this.active++
    const timeout = this.timeouts[found.route]
    if (timeout > 0) ex.timer = setTimeout(this.onTimeout, timeout, ex, timeout)
    res.onClose(() => this.closedEarly(ex))
    if (this.queue.length > 0) this.wait(ex)
    // No overtaking among long requests, nor within a route: one whose cost hovers around
    // LONG_MS must not have its held requests passed by its own that came later as light ones.
    else if (this.held.length > 0 && ((this.heldOf[ex.route] ?? 0) > 0 || this.costs.expected(ex.route) >= LONG_MS)) this.hold(ex)
    else this.dispatch(ex)
  }

  private dispatch (ex: Exchange): void {
    const placed = this.place(ex)
    if (placed === FULL) this.wait(ex)
    else if (placed === HELD) this.hold(ex)
  }

  /**
   * Put the request on the isolate that can take it now and will be free soonest: PLACED; FULL
   * when none can take anything now; HELD when it is a long one and every isolate that could
   * take it already has as many long ones in flight as it may (route-costs.ts).
   */
  private place (ex: Exchange): number {
    const isolates = this.isolates
    // The route's cost as known now (a request may have waited while it was learned).
    ex.cost = this.costs.expected(ex.route)
    const long = ex.cost >= LONG_MS
    const maxLong = !long ? 0
      : performance.now() - (ex.route === this.lightRoute ? this.otherLightAt : this.lightAt) < LIGHT_WINDOW_MS ? MAX_LONG_MIXED : MAX_LONG
    let full: IsolateHandle[] | null = null
    let held = false
    for (;;) {
      let best: IsolateHandle | null = null
      for (let i = 0; i < isolates.length; i++) {
        const h = isolates[i]
        if (h.congested || h.inFlight >= this.options.maxInFlight || (full !== null && full.includes(h))) continue
        if (long && h.long >= maxLong) {
          held = true
          continue
        }
        // Least expected work in flight (route-costs.ts), then fewest requests.
        if (best === null || h.work < best.work || (h.work === best.work && h.inFlight < best.inFlight)) best = h
      }
      if (best === null) return held ? HELD : FULL
      // A body that fits one frame with its head goes with it, once it is all here (adopt);
      // anything else streams behind its head.
      if (best.adopt(ex) || best.place(ex, null, ex.bodyLen === 0)) break
      // Its ring is full: try the next one, and come back here when it drains.
      void best.requests.waitForSpace().then(() => this.pump())
      ;(full ??= []).push(best)
    }
    if (!long) {
      if (ex.route !== this.lightRoute) {
        this.otherLightAt = this.lightAt
        this.lightRoute = ex.route
      }
      this.lightAt = performance.now()
    }
    if (ex.bodyLen !== 0) this.streamBody(ex)
    return PLACED
  }

  private wait (ex: Exchange): void {
    if (this.overloaded(ex)) return
    this.queue.push(ex)
  }

  private hold (ex: Exchange): void {
    if (!this.overloaded(ex)) this.pushHeld(ex)
  }

  private pushHeld (ex: Exchange): void {
    this.held.push(ex)
    this.heldOf[ex.route] = (this.heldOf[ex.route] ?? 0) + 1
  }

  /** `ex` left the held list. */
  private unheld (ex: Exchange): void {
    this.heldOf[ex.route]--
  }

  /** Answer 503 when the main thread already holds maxQueue requests. */
  private overloaded (ex: Exchange): boolean {
    if (this.queue.length + this.held.length >= this.options.maxQueue) {
      sendError(ex.res, new IsopoolError('ISOPOOL_ERR_OVERLOADED'), this.retryAfter)
      this.completed(ex)
      return true
    }
    return false
  }

  /** Place waiting requests, oldest first, while isolates can take them. */
  private pump (): void {
    while (this.queue.length > 0) {
      const ex = this.queue[0]
      if (!ex.done) {
        const placed = this.place(ex)
        if (placed === FULL) return
        if (placed === HELD) this.pushHeld(ex) // moves from one list to the other: no new place taken
      }
      this.queue.shift()
    }
    while (this.held.length > 0) {
      const ex = this.held[0]
      if (!ex.done && this.place(ex) !== PLACED) return
      this.held.shift()
      this.unheld(ex)
    }
  }

  private streamBody (ex: Exchange): void {
    const { req } = ex
    const h = ex.isolate!
    const limit = this.options.maxBodySize
    req.onBody((chunk: Buffer) => {
      // Answered already (a timeout, a 413): the HTTP layer drops the rest, up to maxBodySize.
      if (ex.done) return
      if (req.received > limit) {
        // No Content-Length, or a client sending more than it announced: stop at the limit.
        sendError(ex.res, new IsopoolError('ISOPOOL_ERR_BODY_TOO_LARGE', { limit }), [], true)
        h.abort(ex)
        return
      }
      const final = ex.bodyLen !== UNKNOWN_LENGTH && req.received === ex.bodyLen
      if (ex.parts !== null) {
        ex.parts.push(chunk)
        if (final) h.complete(ex)
        return
      }
      h.sendBody(ex, chunk, final)
    }, () => {
      if (!ex.done && !ex.sent && ex.bodyLen === UNKNOWN_LENGTH) h.sendBody(ex, null, true)
    })
  }

  /** The response's connection closed: before the answer was complete, the work is given up. */
  private closedEarly (ex: Exchange): void {
    if (ex.done) return
    if (ex.isolate === null) {
      // Still queued: give its place to someone who is still there.
      this.unqueue(ex)
      this.completed(ex)
    } else if (!ex.sent) {
      ex.isolate.abort(ex) // the handler never ran: tell the isolate to drop the partial body
    }
    // Otherwise the handler runs; its answer is drained and dropped, then the exchange completes.
  }

  /** The route's time limit passed: answer 504 now; a late answer from the isolate is dropped. */
  private readonly onTimeout = (ex: Exchange, timeout: number): void => {
    ex.timer = null
    if (ex.done) return
    if (ex.isolate === null) {
      this.unqueue(ex)
    } else if (!ex.sent) {
      ex.isolate.abort(ex) // still receiving its body: the handler never ran
    }
    // The rest of an unread body is read and dropped (the HTTP layer does so after the answer,
    // and a paused upload is resumed here), so the connection stays usable and the client, still
    // sending, is not reset before it can read the answer; maxBodySize still caps it.
    if (!ex.sent) ex.req.resume()
    // Still queued: no isolate could take it at all (all busy, or all restarting) — that is
    // the server's state, not the handler's slowness. Once the response has started, a status
    // can no longer be sent: sendError cuts the connection instead.
    if (ex.isolate === null) sendError(ex.res, new IsopoolError('ISOPOOL_ERR_NO_ISOLATE', { timeout }), this.retryAfter)
    else sendError(ex.res, new IsopoolError('ISOPOOL_ERR_TIMEOUT', { timeout }))
    this.completed(ex)
  }

  private health (live: boolean, res: Http1Response): void {
    const reason = live ? null
      : this.state === 'starting' || this.state === 'new' ? 'starting'
        : this.state !== 'listening' ? 'shutting down'
          : this.reloading !== null ? 'reloading'
          : this.isolates.length < this.options.isolates ? `${this.options.isolates - this.isolates.length} of ${this.options.isolates} isolates are restarting`
            : this.isolates.some(h => h.suspect) ? 'an isolate is stuck'
              : null
    if (reason !== null) {
      sendError(res, new IsopoolError('ISOPOOL_ERR_NOT_READY', { reason }), ['cache-control', 'no-store'])
      return
    }
    const body = Buffer.from(JSON.stringify({ status: 'ok', isolates: this.isolates.length }))
    res.writeHead(200, ['content-type', 'application/json; charset=utf-8', ...NOSNIFF, 'content-length', String(body.byteLength), 'cache-control', 'no-store'], true)
    res.end(body)
  }

  private completed (ex: Exchange): void {
    if (ex.done) return
    ex.done = true
    if (ex.timer !== null) {
      clearTimeout(ex.timer)
      ex.timer = null
    }
    this.active--
    if (this.active === 0 && this.idle !== null) {
      const idle = this.idle
      this.idle = null
      idle()
    }
  }

  private isolateExited (handle: IsolateHandle, code: number): void {
    const i = this.isolates.indexOf(handle)
    // A retired isolate of an older generation is not replaced; its requests were answered.
    if (i < 0 || this.state !== 'listening') return
    this.isolates.splice(i, 1)
    this.restarts++
    this.restart(handle.index, handle.answered === 0)
  }

  /**
   * Start a replacement for isolate `index`. One that died before it answered a single request
   * (or could not start at all) is in a crash loop — a broken deploy, a poisoned start-up: wait
   * longer each time, up to 30 s, and say so, rather than spin. One that died after serving
   * (a crash in one handler) is replaced at once.
   */
  private restart (index: number, barren: boolean): void {
    const attempt = barren ? (this.crashLoops.get(index) ?? 0) + 1 : 0
    this.crashLoops.set(index, attempt)
    const delay = attempt === 0 ? 0 : Math.min(30_000, 100 * 2 ** (attempt - 1))
    if (attempt > 1) console.error(`isopool: isolate ${index} keeps dying before it answers a request (${attempt} times in a row); next try in ${delay} ms`)
    const generation = this.generation
    const timer = setTimeout(() => {
      if (this.state !== 'listening' || generation !== this.generation) return
      IsolateHandle.start(index, this.config!, this.events).then(
        (fresh) => {
          // A reload that went live meanwhile brought a whole new set: this one is not needed.
          if (this.state !== 'listening' || generation !== this.generation) { void fresh.stop(); return }
          fresh.generation = generation
          this.isolates.push(fresh)
          this.pump()
        },
        (err) => {
          console.error(`isopool: isolate ${index} could not be restarted:`, err)
          this.restart(index, true)
        }
      )
    }, delay)
    timer.unref()
  }

  /**
   * Terminate isolates stuck in synchronous code: busy, with work in flight, and no progress.
   * One that has looked stuck for `suspectAfter` gets no new requests while it stays so.
   */
  private supervise (suspectAfter: number): void {
    const now = Date.now()
    for (const h of this.isolates) {
      const stuck = h.stuckFor(now)
      h.suspect = stuck >= suspectAfter
      if (stuck > this.options.hardTimeout) {
        console.error(`isopool: isolate ${h.index} made no progress for ${this.options.hardTimeout} ms with its event loop busy; terminating it`)
        h.kill(`a handler ran past the hard time limit of ${this.options.hardTimeout} ms`)
      }
    }
  }

  private unqueue (ex: Exchange): void {
    const i = this.queue.indexOf(ex)
    if (i >= 0) this.queue.splice(i, 1)
    const j = this.held.indexOf(ex)
    if (j >= 0) {
      this.held.splice(j, 1)
      this.unheld(ex)
    }
  }

  /** Answer every accepted request that has no answer yet with `err` (shutdown deadline). */
  private answerAll (err: IsopoolError): void {
    this.heldOf = []
    for (const ex of [...this.queue.splice(0), ...this.held.splice(0)]) {
      sendError(ex.res, err, this.retryAfter, true)
      this.completed(ex)
    }
    for (const h of this.isolates) h.answerAll(err)
  }

  private async stopIsolates (): Promise<void> {
    await this.reloading?.catch(() => {})
    const all = [...this.isolates, ...this.retiring]
    this.isolates = []
    await Promise.all(all.map(h => h.stop()))
  }
}
