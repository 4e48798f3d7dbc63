// The route table: the routes given to createServer()/route(), the route() declarations the
// isolates found in the `modules`, their conflicts, the router built from them, each route's
// settings and learned cost, and the endpoints the main thread answers itself (health, the API
// document, the docs page).
//
// Given routes are fixed once listen() starts; declared ones are found anew by every generation
// of isolates — at listen() and at every reload(), the `modules` folders are listed again, so a
// route file added or removed in development is picked up. Each generation gets its own
// immutable Routes, built once: the per-request path is one lookup.

import { readdirSync, statSync } from 'node:fs'
import { isAbsolute, join, resolve, sep } from 'node:path'
import { pathToFileURL } from 'node:url'
import { IsopoolError } from '../shared/errors.ts'
import { METHODS, NOSNIFF } from '../shared/http-syntax.ts'
import { compilePath } from '../shared/path-pattern.ts'
import { modulePath, streamsBody } from '../shared/protocol.ts'
import type { ManifestRoute, RouteSpec, SocketRouteSpec } from '../shared/protocol.ts'
import { writeError } from './http1.ts'
import type { Http1Response } from './http1.ts'
import type { RouteRateLimit } from './options.ts'
import { buildOpenApi, docsAssets } from './openapi.ts'
import { RouteCost } from './route-costs.ts'
import type { SocketRoutes } from './websockets.ts'
import { Router } from './router.ts'

/** A route given to createServer() or route(): `module#export`, resolved. */
export interface GivenRoute {
  method: string
  path: string
  /** Module URL (file:). */
  module: string
  export: string
  /** Milliseconds before 504; 0 for none. */
  timeout: number
  /** Its own rate limit, or false for none; undefined: the server's (src/main/rate-limit.ts). */
  rateLimit?: RouteRateLimit | false
  /** false: its answers are never compressed (the isolates read it from its RouteSpec). */
  compression?: boolean
  /** Its own middleware, `file URL#export` each, run after the global ones (in the isolates). */
  middleware?: string[]
  /** Its own body limit in bytes; undefined: the server's maxBodySize. */
  maxBodySize?: number
}

/** What a generation of isolates is started with: the modules to import and the routes. */
export interface IsolatePlan {
  /** Module URLs of the given routes, each once. */
  modules: string[]
  routes: RouteSpec[]
  /** Module URLs whose route() exports are routes too, found when the plan was made. */
  discover: string[]
  /** WebSocket routes; their modules are among `modules` (imported as served modules). */
  websockets: SocketRouteSpec[]
}

/** One route as the main thread serves it. `index` is what every REQ_HEAD frame carries. */
export class RouteInfo {
  readonly index: number
  readonly method: string
  readonly path: string
  /** `module#export`, for messages. */
  readonly handler: string
  /** Milliseconds before 504; 0 for none. */
  readonly timeout: number
  /** What its requests cost an isolate, as measured (route-costs.ts). */
  readonly cost = new RouteCost()
  /** Its own rate limit, or false for none; undefined: the server's (src/main/rate-limit.ts). */
  rateLimit: RouteRateLimit | false | undefined = undefined
  /** The largest body it takes (its own maxBodySize, else the server's): 413 past it. */
  maxBodySize = Infinity
  /** It takes more than the server's maxBodySize: its body streams to the isolate under credit
   * (frame.ts, CREDIT), the handler reading it as it comes, instead of being collected first. */
  streamBody = false
  /** The table it belongs to: a request routed by one generation's table is routed anew when it
   * moves to isolates of another (after a reload). */
  readonly routes: Routes

  constructor (routes: Routes, index: number, method: string, path: string, handler: string, timeout: number) {
    this.routes = routes
    this.index = index
    this.method = method
    this.path = path
    this.handler = handler
    this.timeout = timeout
  }
}

export type Lookup =
  | { found: true, route: RouteInfo }
  | { found: false, allow: string[], badUrl: boolean }

/** An endpoint the main thread answers itself, by exact request target. */
export type Builtin = (res: Http1Response) => void

/** The routes of one generation of isolates. */
export class Routes {
  readonly list: RouteInfo[]
  /** This generation's WebSocket routes (src/main/websockets.ts), null when it has none. */
  sockets: SocketRoutes | null = null
  private readonly router: Router
  readonly builtins: Map<string, Builtin>

  constructor (entries: (GivenRoute & { manifest?: ManifestRoute })[], builtins: (routes: Routes) => Map<string, Builtin>, serverMaxBody = Infinity) {
    this.list = entries.map((r, i) => new RouteInfo(this, i, r.method, r.path, handlerName(r), r.timeout))
    for (let i = 0; i < entries.length; i++) {
      const info = this.list[i]
      info.rateLimit = entries[i].rateLimit
      const own = entries[i].maxBodySize
      info.maxBodySize = own ?? serverMaxBody
      info.streamBody = streamsBody(own, serverMaxBody)
    }
    const router = new Router()
    // Explicit HEAD routes first: a HEAD route of its own takes precedence over the one a GET
    // route implies (Router.add skips the implied one when HEAD is taken).
    const order = entries.map((_, i) => i).sort((a, b) => Number(entries[b].method === 'HEAD') - Number(entries[a].method === 'HEAD'))
    for (const i of order) {
      const r = entries[i]
      try {
        router.add(r.method, r.path, i)
      } catch (err) {
        // The conflicts the table knows are refused before this; whatever else the router
        // refuses is named here, with its handler, rather than thrown uncoded.
        throw new IsopoolError('ISOPOOL_ERR_INVALID_ROUTE', { method: r.method, path: r.path, reason: `the router refused it (${(err as Error)?.message ?? String(err)}); handler ${handlerName(r)}` }, { cause: err })
      }
    }
    router.compile()
    this.router = router
    this.builtins = builtins(this)
  }

  /** The route of `method` and `url`, or null (then lookup() says why). */
  match (method: string, url: string): RouteInfo | null {
    const i = this.router.find(method, url)
    return i < 0 ? null : this.list[i]
  }

  lookup (method: string, url: string): Lookup {
    const found = this.router.lookup(method, url)
    return found.found ? { found: true, route: this.list[found.route] } : found
  }
}

/** Answers of a lookup that found no route: 400 for a broken path, else 404 or 405 with Allow. */
export function writeNoRoute (res: Http1Response, method: string, url: string, found: Extract<Lookup, { found: false }>): void {
  const path = url.split('?')[0]
  if (found.badUrl) writeError(res, new IsopoolError('ISOPOOL_ERR_BAD_REQUEST', { reason: 'the path is not valid percent-encoding' }))
  else if (found.allow.length === 0) writeError(res, new IsopoolError('ISOPOOL_ERR_NOT_FOUND', { method, path }))
  else {
    const allow = found.allow.join(', ')
    writeError(res, new IsopoolError('ISOPOOL_ERR_METHOD_NOT_ALLOWED', { method, path, allow }), ['allow', allow])
  }
}

export interface BuiltinOptions {
  livePath: string | null
  readyPath: string | null
  openapiPath: string | null
  docsPath: string | null
  docsInfo: { title: string, version: string }
  /** The server's maxBodySize: routes above it stream their bodies. */
  maxBodySize?: number
  /** Where the metrics service answers its scrape (before routing), null when it is off. */
  metricsPath?: string | null
  /** The URL prefixes static files are served under (before routing, every method). */
  staticPrefixes?: readonly string[]
}

export class RouteTable {
  private readonly given: GivenRoute[] = []
  /** WebSocket routes, in the order given: WS_OPEN frames carry an index into them. */
  readonly sockets: SocketRouteSpec[] = []
  /** The `modules` option: files and folders, absolute. */
  private readonly modules: string[]
  private readonly builtinOptions: BuiltinOptions
  /** Swagger UI's files, read once. */
  private docs: Map<string, { type: string, body: Buffer }> | null = null
  private get serverMaxBody (): number { return this.builtinOptions.maxBodySize ?? Infinity }

  /** The paths the main thread answers itself before routing, by the option that puts each
   * there: a route at one would never be reached. The builtins answer every method; the metrics
   * scrape GET and HEAD (a WebSocket's upgrade is a GET), passing other methods on. */
  private readonly reserved = new Map<string, { option: string, getOnly: boolean }>()

  constructor (modules: string[], builtins: BuiltinOptions) {
    this.modules = modules
    this.builtinOptions = builtins
    const b = builtins
    const taken: [string | null | undefined, string][] = [[b.livePath, 'health.live'], [b.readyPath, 'health.ready'], [b.openapiPath, 'docs.openapi']]
    // The docs page and the two files it loads (openapi.ts, docsAssets), served only with the spec.
    if (b.openapiPath !== null && b.docsPath !== null) {
      for (const path of [b.docsPath, `${b.docsPath}/swagger-ui.css`, `${b.docsPath}/swagger-ui-bundle.js`]) taken.push([path, 'docs.ui'])
    }
    for (const [path, option] of taken) if (typeof path === 'string') this.reserved.set(path, { option, getOnly: false })
    if (typeof b.metricsPath === 'string') this.reserved.set(b.metricsPath, { option: 'metrics.path', getOnly: true })
    this.staticPrefixes = b.staticPrefixes ?? []
  }

  /** Under these, static files answer every request (static-files.ts): no route is reached. */
  private readonly staticPrefixes: readonly string[]

  /** Add a given route; ISOPOOL_ERR_ROUTE_CONFLICT naming both when it takes a method and path
   * (or the same paths under other parameter names), or a path the server answers itself. */
  add (route: GivenRoute): void {
    this.refuseReserved(route)
    const clash = this.given.find(r => r.method === route.method && pathShape(r.path) === pathShape(route.path))
    if (clash !== undefined) throw conflict(clash, route)
    this.given.push(route)
  }

  /** Add a WebSocket route (its handler resolved); ISOPOOL_ERR_ROUTE_CONFLICT naming both when
   * another takes its path, or the server answers it itself. */
  addSocket (route: SocketRouteSpec): void {
    this.refuseSocket(route)
    const clash = this.sockets.find(r => pathShape(r.path) === pathShape(route.path))
    if (clash !== undefined) throw conflict({ ...clash, method: 'WEBSOCKET', timeout: 0 }, { ...route, method: 'WEBSOCKET', timeout: 0 })
    this.sockets.push(route)
  }

  /** refuseReserved() of a WebSocket route: given (addSocket()) or declared by an isolate
   * (websocket() in a module). */
  refuseSocket (spec: SocketRouteSpec): void {
    this.refuseReserved({ ...spec, method: 'WEBSOCKET', timeout: 0 })
  }

  /** ISOPOOL_ERR_ROUTE_CONFLICT for a route at a path the server answers before routing (a
   * health check, the OpenAPI spec or its page, the metrics scrape, a static prefix's paths):
   * its requests would never reach the route, silently. A path with parameters may match one of
   * them too; it still serves every other path, so it is let be. */
  private refuseReserved (route: GivenRoute): void {
    const at = this.reserved.get(route.path)
    const m = route.method
    let option = at !== undefined && (!at.getOnly || m === 'GET' || m === 'HEAD' || m === 'WEBSOCKET') ? at.option : undefined
    const under = this.staticPrefixes.find(prefix => route.path === prefix || route.path.startsWith(prefix + '/'))
    if (under !== undefined) option = `static[${JSON.stringify(under)}]`
    if (option === undefined) return
    throw new IsopoolError('ISOPOOL_ERR_ROUTE_CONFLICT', { method: route.method, path: route.path, first: `the server itself (the ${option} option, which answers there before routing)`, second: handlerName(route) })
  }

  /** What the next generation of isolates imports: the modules are listed again now. */
  plan (): IsolatePlan {
    const modules = [...new Set([...this.given.map(r => r.module), ...this.sockets.map(r => r.module)])]
    return {
      modules,
      routes: this.given.map(r => ({ method: r.method, path: r.path, module: modules.indexOf(r.module), export: r.export, ...(r.compression === false ? { compression: false } : {}), ...(r.middleware === undefined ? {} : { middleware: r.middleware }), ...(streamsBody(r.maxBodySize, this.serverMaxBody) ? { streamBody: true } : {}) })),
      discover: discoverModules(this.modules),
      websockets: this.sockets
    }
  }

  /**
   * The routes of a generation whose isolates found `manifest`: the given ones, then the declared
   * ones, in the order the isolates number them. Throws ISOPOOL_ERR_ROUTE_CONFLICT naming both
   * when two claim one method and path.
   */
  build (manifest: ManifestRoute[], defaultTimeout: number, health: () => Health): Routes {
    const entries = [
      ...this.given,
      ...manifest.map(m => ({ method: m.method, path: m.path, module: m.module, export: m.export, timeout: m.timeout ?? defaultTimeout, rateLimit: m.rateLimit, maxBodySize: m.maxBodySize, manifest: m }))
    ]
    const seen = new Map<string, GivenRoute>()
    for (const r of entries) {
      this.refuseReserved(r)
      // By shape: /u/:id and /u/:name match the same requests (the router cannot tell them apart).
      const k = `${r.method} ${pathShape(r.path)}`
      const first = seen.get(k)
      if (first !== undefined) throw conflict(first, r)
      seen.set(k, r)
    }
    return new Routes(entries, () => this.builtins(entries, health), this.serverMaxBody)
  }

  /** The endpoints the main thread answers itself, by exact request target. */
  private builtins (entries: (GivenRoute & { manifest?: ManifestRoute })[], health: () => Health): Map<string, Builtin> {
    const o = this.builtinOptions
    const map = new Map<string, Builtin>()
    const send = (type: string, body: Buffer, extra: string[] = []): Builtin => (res) => {
      res.writeHead(200, ['content-type', type, ...NOSNIFF, 'content-length', String(body.byteLength), ...extra], true)
      res.end(body)
    }
    const probe = (live: boolean): Builtin => (res) => {
      const h = health()
      if (!live && h.notReady !== null) {
        writeError(res, new IsopoolError('ISOPOOL_ERR_NOT_READY', { reason: h.notReady }), ['cache-control', 'no-store'])
        return
      }
      send('application/json; charset=utf-8', Buffer.from(JSON.stringify({ status: 'ok', isolates: h.isolates })), ['cache-control', 'no-store'])(res)
    }
    if (o.livePath !== null) map.set(o.livePath, probe(true))
    if (o.readyPath !== null) map.set(o.readyPath, probe(false))
    if (o.openapiPath !== null) {
      map.set(o.openapiPath, send('application/json; charset=utf-8', Buffer.from(JSON.stringify(buildOpenApi(entries, o.docsInfo)))))
      if (o.docsPath !== null) {
        this.docs ??= docsAssets(o.docsPath, o.openapiPath, o.docsInfo.title)
        for (const [path, asset] of this.docs) map.set(path, send(asset.type, asset.body))
      }
    }
    return map
  }
}

/** What the health endpoints report: why the server is not ready (null when it is), and how many
 * isolates serve. */
export interface Health {
  notReady: string | null
  isolates: number
}

function handlerName (r: { module: string, export: string }): string {
  return `${modulePath(r.module)}#${r.export}`
}

/** A path with its parameter names erased: `/u/:id` and `/u/:name` are both `/u/:`. */
export function pathShape (path: string): string {
  return path.split('/').map(seg => seg.startsWith(':') ? ':' : seg).join('/')
}

/** ISOPOOL_ERR_ROUTE_CONFLICT for two routes of one method and path shape, naming both handlers
 * (and the second's path, when only its parameter names differ). */
function conflict (first: GivenRoute, second: GivenRoute): IsopoolError {
  const as = first.path === second.path ? '' : ` (as ${second.path}: the same paths under other parameter names, which one router cannot tell apart)`
  return new IsopoolError('ISOPOOL_ERR_ROUTE_CONFLICT', { method: first.method, path: first.path, first: handlerName(first), second: handlerName(second) + as })
}

/** A given route from createServer()'s `routes` or route(): checked, its handler resolved. */
export function givenRoute (root: string, method: unknown, path: string, handler: unknown, timeout: number): GivenRoute {
  const m = normalizeMethod(method, path)
  compilePath(m, path)
  return { method: m, path, ...resolveHandler(root, m, path, handler), timeout }
}

export function normalizeMethod (method: unknown, path: string): string {
  const m = typeof method === 'string' ? method.toUpperCase() : ''
  if (!(METHODS as readonly string[]).includes(m)) {
    throw new IsopoolError('ISOPOOL_ERR_INVALID_ROUTE', { method: String(method), path, reason: `method must be one of ${METHODS.join(', ')}` })
  }
  return m
}

/** Split `module#export` and turn the module into a file URL. */
export function resolveHandler (root: string, method: string, path: string, spec: unknown): { module: string, export: string } {
  if (typeof spec !== 'string' || spec.length === 0) {
    throw new IsopoolError('ISOPOOL_ERR_INVALID_ROUTE', { method, path, reason: 'the handler must be a "module#export" string' })
  }
  const hash = spec.lastIndexOf('#')
  const file = hash < 0 ? spec : spec.slice(0, hash)
  const name = hash < 0 ? 'default' : spec.slice(hash + 1)
  if (file === '' || name === '') {
    throw new IsopoolError('ISOPOOL_ERR_INVALID_ROUTE', { method, path, reason: `handler "${spec}" needs a module path and an export name` })
  }
  const url = file.startsWith('file:') ? file : pathToFileURL(isAbsolute(file) ? file : resolve(root, file)).href
  return { module: url, export: name }
}

const SOURCE = /\.(ts|mts|js|mjs)$/
const NOT_SOURCE = /\.d\.[mc]?ts$|\.(test|spec)\.[mc]?[jt]s$/

/** The `modules` option as absolute paths, each of which must exist now. */
export function modulePaths (root: string, modules: unknown): string[] {
  if (modules === undefined) return []
  if (!Array.isArray(modules) || !modules.every(m => typeof m === 'string')) fail('modules', 'must be an array of file or folder paths')
  return (modules as string[]).map((entry) => {
    const path = isAbsolute(entry) ? entry : resolve(root, entry)
    try { statSync(path) } catch { fail('modules', `${path} does not exist`) }
    return path
  })
}

/** Expand files and folders (searched recursively) into file URLs, sorted: every isolate of a
 * generation gets the same list, so they number the routes they find alike. */
export function discoverModules (modules: string[]): string[] {
  const files: string[] = []
  for (const path of modules) {
    let stat
    try { stat = statSync(path) } catch { continue } // removed since createServer(): nothing to find
    if (stat.isDirectory()) {
      const found = (readdirSync(path, { recursive: true }) as string[])
        .filter(f => SOURCE.test(f) && !NOT_SOURCE.test(f) && !f.split(sep).includes('node_modules'))
        .sort()
      files.push(...found.map(f => join(path, f)))
    } else {
      files.push(path)
    }
  }
  return [...new Set(files)].map(f => pathToFileURL(f).href)
}

function fail (option: string, reason: string): never {
  throw new IsopoolError('ISOPOOL_ERR_INVALID_OPTION', { option, reason })
}
