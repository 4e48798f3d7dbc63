// createServer's options: their defaults and their validation, in one place.

import { availableParallelism } from 'node:os'
import { IsopoolError } from '../shared/errors.ts'
import type { HttpMethod } from '../shared/http-syntax.ts'
import { RING_MAX_CAPACITY, RING_MIN_CAPACITY } from '../shared/ring.ts'
import { PLACEMENT_POLICIES } from './placement.ts'
import type { PlacementPolicy } from './placement.ts'
import { modulePaths } from './route-table.ts'

export interface RouteDefinition extends RouteOptions {
  method: HttpMethod | Lowercase<HttpMethod>
  path: string
  /** `module#export`; without `#` the default export. Relative modules resolve against `root`. */
  handler: string
}

/** A WebSocket route in createServer({ routes }): `{ path: '/chat', websocket: './chat.ts#chat' }`. */
export interface WebSocketRouteDefinition extends WebSocketOptions {
  /** 'GET' if given: a WebSocket connection starts as a GET. */
  method?: 'GET' | 'get'
  path: string
  /** `module#export` of a WebSocketHandler object; relative modules resolve against `root`. */
  websocket: string
}

/** A WebSocket route's options (routes entries, server.websocket()). */
export interface WebSocketOptions {
  /** Bytes of a message at most; a larger one closes the connection with 1009. Default 1 MiB. */
  maxPayload?: number
  /** Milliseconds without a message either way (or a ping or pong from the client) after which the
   * connection is closed with 1001; 0 for never. Default 0. */
  idleTimeout?: number
  /** Negotiate permessage-deflate (RFC 7692) with clients that offer it. Default false. */
  perMessageDeflate?: boolean
}

export interface ResolvedWebSocketOptions {
  maxPayload: number
  idleTimeout: number
  perMessageDeflate: boolean
}

const WEBSOCKET_OPTION_NAMES: { [K in keyof Required<WebSocketOptions>]: true } = { maxPayload: true, idleTimeout: true, perMessageDeflate: true }
const WEBSOCKET_ROUTE_NAMES: { [K in keyof Required<WebSocketRouteDefinition>]: true } = { ...WEBSOCKET_OPTION_NAMES, method: true, path: true, websocket: true }

/** A WebSocket route's options, checked (ISOPOOL_ERR_INVALID_OPTION), with their defaults. */
export function resolveWebSocketOptions (options: unknown, path: string): ResolvedWebSocketOptions {
  const where = ` of WebSocket route ${path}`
  if (options !== undefined) knownKeys(options, WEBSOCKET_OPTION_NAMES, '', where)
  const o = (options ?? {}) as WebSocketOptions
  if (o.perMessageDeflate !== undefined && typeof o.perMessageDeflate !== 'boolean') fail(`perMessageDeflate${where}`, `must be true or false, got ${typeof o.perMessageDeflate}`)
  return {
    maxPayload: integer(`maxPayload${where}`, o.maxPayload ?? 1024 * 1024, 1, 1024 * 1024 * 1024),
    idleTimeout: integer(`idleTimeout${where}`, o.idleTimeout ?? 0, 0, MAX_MS),
    perMessageDeflate: o.perMessageDeflate ?? false
  }
}

export interface RouteOptions {
  /** Milliseconds this route's handler has before 504; overrides the server's `timeout`. */
  timeout?: number
  /** This route's own middleware (`module#export`, relative to `root`), run after the global ones. */
  middleware?: string[]
  /** This route's own rate limit, or false for none (overrides the server's `rateLimit`). */
  rateLimit?: RouteRateLimit | false
  /** false: never compress this route's answers. */
  compression?: boolean
  /** Largest request body this route takes, in bytes (413 past it); overrides the server's
   * `maxBodySize`. Above the server's, the route streams its body: the handler runs once the
   * head is in and reads the body as it arrives (`req.stream()`, docs/streaming.md). */
  maxBodySize?: number
}

/** A route's own limit: `max` requests per `window` ms (the key is the server's). */
export interface RouteRateLimit {
  max: number
  window: number
}

/** The cors option's object form (src/main/cors.ts). */
export interface CorsOptions {
  /** Origins allowed: one, a list, a RegExp, a function of the Origin, or true for any (echoed
   * back, so credentials work). Default true. */
  origin?: boolean | string | RegExp | (string | RegExp)[] | ((origin: string) => boolean)
  /** Send Access-Control-Allow-Credentials: true (then the origin is always echoed, never `*`). */
  credentials?: boolean
  /** Methods a preflight allows. Default the routed methods: GET, HEAD, PUT, PATCH, POST, DELETE. */
  methods?: string[]
  /** Request headers a preflight allows. Default: those it asks for (Access-Control-Request-Headers). */
  allowedHeaders?: string[]
  /** Response headers the browser may read. */
  exposedHeaders?: string[]
  /** Seconds a preflight may be cached (Access-Control-Max-Age). */
  maxAge?: number
}

/** The compression option's object form. */
export interface CompressionOptions {
  /** Bodies smaller than this many bytes go as they are. Default 1024. */
  threshold?: number
  /** Encodings to use, in the server's order of preference. Default ['br', 'gzip', 'zstd', 'deflate']. */
  encodings?: ('br' | 'gzip' | 'zstd' | 'deflate')[]
}

/** The rateLimit option (src/main/rate-limit.ts). */
export interface RateLimitOptions {
  /** Requests one key may make per window. */
  max: number
  /** The window in ms: a bucket of `max` tokens refills over it. */
  window: number
  /** Whose requests count together: 'ip' (default), a request header's name, or a function of the
   * request (run on the main thread) returning the key. */
  key?: 'ip' | string | ((req: { method: string, url: string, ip: string, headers: Record<string, string | string[]> }) => string)
  /** Also send the older draft's separate fields, RateLimit-Limit, -Remaining and -Reset, beside
   * RateLimit and RateLimit-Policy. Default false. */
  legacyHeaders?: boolean
}

export function routeTimeout (method: string, path: string, options: RouteOptions | undefined, fallback: number): number {
  if (options?.timeout === undefined) return fallback
  const t = options.timeout
  if (typeof t !== 'number' || !Number.isInteger(t) || t < 0 || t > MAX_MS) {
    throw new IsopoolError('ISOPOOL_ERR_INVALID_ROUTE', { method, path, reason: `timeout must be an integer of milliseconds, got ${String(t)}` })
  }
  return t
}

/** The largest a route's own maxBodySize may be: bodies are counted in doubles, exactly to 2^53. */
export const MAX_ROUTE_BODY = Number.MAX_SAFE_INTEGER

/** What is wrong with a route's `maxBodySize` (an integer of bytes from 0 to 2^53 - 1), or null. */
export function routeBodyLimitProblem (value: unknown): string | null {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= MAX_ROUTE_BODY) return null
  return `maxBodySize must be an integer of bytes from 0 to ${MAX_ROUTE_BODY}, got ${String(value)}`
}

export interface ServerOptions {
  /** Files or folders (searched recursively) whose route() exports are routes. Relative to root. */
  modules?: string[]
  /** Number of isolates, or 'auto' for one per available core. Default 'auto'. */
  isolates?: number | 'auto'
  /** Base directory for relative module paths. Default process.cwd(). */
  root?: string
  routes?: (RouteDefinition | WebSocketRouteDefinition)[]
  /** Largest request body accepted, in bytes; larger gets 413. Default 1 MiB. */
  maxBodySize?: number
  /** Data bytes of each ring (two per isolate), a power of two. Default 256 KiB. */
  ringSize?: number
  /** Deepest nesting of arrays and objects in a typed route's JSON or MessagePack body; deeper
   * gets 400 (ISOPOOL_ERR_BODY_TOO_DEEP) before it is validated. Default 128. */
  maxBodyDepth?: number
  /**
   * Milliseconds a request may expect to wait for an isolate: one whose expected wait — the work
   * ahead of it at its routes' learned costs, spread over the isolates — is longer gets 503
   * (ISOPOOL_ERR_QUEUE_WAIT) at once, with a Retry-After of that wait, and one that has waited
   * longer is shed (ISOPOOL_ERR_QUEUE_EXPIRED). 0 for no limit by time. Default 1 000.
   */
  maxQueueWait?: number
  /** Memory backstop: requests that may wait in the main thread at once; past it, 503
   * (ISOPOOL_ERR_OVERLOADED). Default 65 536. */
  maxQueue?: number
  /** Memory backstop: bytes the waiting requests may hold (heads, about 2 KiB of objects each,
   * and what of a body one socket read brings, up to 64 KiB); past it, 503
   * (ISOPOOL_ERR_OVERLOADED). Default 64 MiB. */
  maxQueueBytes?: number
  /** Requests in flight on one isolate before it counts as busy (at most 65 535). Default 512.
   * A response stream counts only until its head: then its handler has returned, and the
   * stream (an SSE client's, for hours) takes no place. */
  maxInFlight?: number
  /**
   * Isolates started ahead of need, idle and ready, that take the place of one that dies at once
   * (instead of after a start-up: importing every module and running setup()). Each costs what an
   * idle isolate does: its heap, its modules, its setup() resources. Default 0.
   */
  spares?: number
  /** Seconds sent in Retry-After with a 503. Default 1. */
  retryAfter?: number
  /** Development mode: 500 bodies carry the error's message and stack. Default NODE_ENV === 'development'. */
  dev?: boolean
  /** Milliseconds a handler has to answer before the client gets 504; 0 for none. Per route too. Default 30 000. */
  timeout?: number
  /**
   * Milliseconds an isolate may go without any progress (no request taken, no response given)
   * while its event loop stays busy and it has requests in flight, before it is terminated and
   * replaced — the only way to stop a handler stuck in synchronous code. 0 for never.
   * Default: twice `timeout`, at least 5 000.
   */
  hardTimeout?: number
  /** V8 heap limits of each isolate (worker_threads' resourceLimits). An isolate that runs out dies alone. */
  resourceLimits?: ResourceLimits
  /** Milliseconds close() waits for requests in flight before answering the rest 503. Default 10 000. */
  shutdownTimeout?: number
  /** Paths of the health endpoints, answered by the main thread; false turns one off. */
  health?: { live?: string | false, ready?: string | false } | false
  /** Limits of the HTTP/1.1 layer (src/main/http1.ts). Defaults are node:http's. */
  http?: HttpLimits
  /** Paths of the OpenAPI document and the Swagger UI page, served by the main thread; false
   * turns one or both off. `title` and `version` go into the document's info. */
  docs?: { openapi?: string | false, ui?: string | false, title?: string, version?: string } | false
  /**
   * Microseconds an isolate keeps looking for requests after it ran out of them, before it
   * sleeps: requests that come one at a time then cost no cross-thread wake-up (~50 µs a round
   * trip on a VM, 5 with polling: bench/micro/wake.ts), for CPU spent polling after every burst.
   * 0 for never. Default 'auto': 100 when the machine has a core for every isolate, one for the
   * main thread and one to spare, else 0.
   */
  poll?: number | 'auto'
  /**
   * Which isolate a request goes to (src/main/placement.ts): 'spread', the one with the least
   * expected work; 'warm', light requests to an isolate already awake while its expected work is
   * small, spreading only when needed (fewer cross-thread wake-ups); or a PlacementPolicy of your
   * own. Default 'spread'.
   */
  placement?: 'spread' | 'warm' | PlacementPolicy
  /** Middleware run for every routed request, in the isolates: `module#export` each, relative to
   * `root`; a middleware is `(req, next) => Response | Promise<Response>`. */
  middleware?: string[]
  /** CORS: preflights answered 204 on the main thread, the headers on every response. Default off. */
  cors?: boolean | CorsOptions
  /** Compress answers by Accept-Encoding, in the isolates. Default off. */
  compression?: boolean | CompressionOptions
  /** Take a valid x-request-id or make one, send it back, and give it to handlers as req.id.
   * Default true. */
  requestId?: boolean
  /** The access log and req.log: pino on the main thread, one JSON line per request. true (stdout),
   * pino options, a pino logger, or false. Default false. */
  logger?: boolean | Record<string, unknown> | object
  /** Whom to believe about the client's address (req.ip): false (the socket's peer, default),
   * true (the first address of X-Forwarded-For / Forwarded), a number of proxy hops, or the
   * proxies' addresses (a list or a comma-separated string). */
  trustProxy?: boolean | number | string | string[]
  /** Prometheus metrics at `path` (default /metrics), answered by the main thread. Default off. */
  metrics?: boolean | { path?: string }
  /** A token bucket per key on the main thread, global over the isolates: 429 past it. Default off. */
  rateLimit?: RateLimitOptions | false
  /** Static files: URL prefix → folder (relative to `root`), served by the main thread. */
  static?: Record<string, string>
  /**
   * Development: watch `root` (recursively) and reload() when a .ts, .js, .mjs, .cjs or .json file
   * changes. Default false.
   */
  watch?: boolean
}

export interface ResourceLimits {
  maxOldGenerationSizeMb?: number
  maxYoungGenerationSizeMb?: number
  codeRangeSizeMb?: number
  stackSizeMb?: number
}

export interface HttpLimits {
  /** Largest request head (request line and headers) in bytes; larger gets 431. Default 16 KiB. */
  maxHeaderSize?: number
  /** Milliseconds to receive the whole head; slower clients get 408 (slow-loris). Default 60 000. */
  headersTimeout?: number
  /** Milliseconds to receive the whole request; slower clients get 408. Default 300 000. */
  requestTimeout?: number
  /** Milliseconds an idle keep-alive connection stays open. Default 5 000. */
  keepAliveTimeout?: number
  /** Memory backstop: open connections at most; one more is closed as it is accepted. Default 65 536. */
  maxConnections?: number
}

export interface ResolvedOptions {
  isolates: number
  /** Files and folders (absolute) to discover route() exports in, listed again at each start. */
  modules: string[]
  root: string
  maxBodySize: number
  ringSize: number
  maxBodyDepth: number
  maxQueue: number
  maxQueueBytes: number
  maxQueueWait: number
  maxInFlight: number
  spares: number
  retryAfter: number
  dev: boolean
  poll: number
  placement: PlacementPolicy
  timeout: number
  hardTimeout: number
  resourceLimits: ResourceLimits | undefined
  shutdownTimeout: number
  livePath: string | null
  readyPath: string | null
  http: Required<HttpLimits> & { checkInterval: number }
  watch: boolean
  openapiPath: string | null
  docsPath: string | null
  docsInfo: { title: string, version: string }
  /** The options as given: each service (src/main/services.ts) resolves and checks its own. */
  given: ServerOptions
}

// The names each options object takes, at run time: an unknown one (a typo, `isolate: 2`) fails
// createServer() instead of being ignored. Typed against the interfaces, so an option added to
// one of them and not here fails `tsc`.
const SERVER_OPTION_NAMES: { [K in keyof Required<ServerOptions>]: true } = {
  modules: true, isolates: true, root: true, routes: true, maxBodySize: true, ringSize: true, maxBodyDepth: true, maxQueueWait: true,
  maxQueue: true, maxQueueBytes: true, maxInFlight: true, placement: true, spares: true, retryAfter: true, dev: true, timeout: true, hardTimeout: true,
  resourceLimits: true, shutdownTimeout: true, health: true, http: true, docs: true, poll: true, watch: true,
  middleware: true, cors: true, compression: true, requestId: true, logger: true, trustProxy: true, metrics: true, rateLimit: true, static: true
}
const HTTP_OPTION_NAMES: { [K in keyof Required<HttpLimits>]: true } = {
  maxHeaderSize: true, headersTimeout: true, requestTimeout: true, keepAliveTimeout: true, maxConnections: true
}
const RESOURCE_LIMIT_NAMES: { [K in keyof Required<ResourceLimits>]: true } = {
  maxOldGenerationSizeMb: true, maxYoungGenerationSizeMb: true, codeRangeSizeMb: true, stackSizeMb: true
}
const HEALTH_OPTION_NAMES: { [K in keyof Required<Exclude<ServerOptions['health'], false | undefined>>]: true } = { live: true, ready: true }
const DOCS_OPTION_NAMES: { [K in keyof Required<Exclude<ServerOptions['docs'], false | undefined>>]: true } = {
  openapi: true, ui: true, title: true, version: true
}
const ROUTE_OPTION_NAMES: { [K in keyof Required<RouteOptions>]: true } = { timeout: true, middleware: true, rateLimit: true, compression: true, maxBodySize: true }
const ROUTE_DEFINITION_NAMES: { [K in keyof Required<RouteDefinition>]: true } = { ...ROUTE_OPTION_NAMES, method: true, path: true, handler: true }

/**
 * Throw ISOPOOL_ERR_INVALID_OPTION for the first key of `value` that `known` does not name
 * (`prefix` + key in the message, with the closest known name when one is close), and for a
 * `value` that is not an object. `where` says whose options they are, for the reason.
 */
export function knownKeys (value: unknown, known: Record<string, true>, prefix: string, where = ''): void {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    const got = value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value
    fail(prefix === '' ? 'options' : prefix.slice(0, -1), `must be an object, got ${got}${where === '' ? '' : ` (the options${where})`}`)
  }
  for (const key of Object.keys(value as object)) {
    if (Object.hasOwn(known, key)) continue
    const near = closest(key, Object.keys(known))
    fail(prefix + key, `unknown option${where}${near === null ? `; known: ${Object.keys(known).join(', ')}` : `; did you mean "${near}"?`}`)
  }
}

/** The known name closest to `name` by edit distance (ignoring case), if close enough to be a typo. */
function closest (name: string, known: string[]): string | null {
  let best: string | null = null
  let bestDistance = Infinity
  for (const k of known) {
    const d = editDistance(name.toLowerCase(), k.toLowerCase())
    if (d < bestDistance) { best = k; bestDistance = d }
  }
  return best !== null && bestDistance <= Math.max(1, Math.floor(best.length / 3)) ? best : null
}

/** Edits (insert, delete, replace, swap two neighbours) that turn `a` into `b`. */
function editDistance (a: string, b: string): number {
  if (a.length > 64 || b.length > 64) return Infinity // not a typo of a known name
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => i === 0 ? j : j === 0 ? i : 0))
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1)
    }
  }
  return d[a.length][b.length]
}

/** Check a route given in `routes: [...]` (index `i`) before it is added. */
export function checkRouteDefinition (r: unknown, i: number): void {
  if (r !== null && typeof r === 'object' && 'websocket' in r) {
    knownKeys(r, WEBSOCKET_ROUTE_NAMES, `routes[${i}].`, ` of WebSocket route ${String((r as WebSocketRouteDefinition).path)}`)
    const method = (r as WebSocketRouteDefinition).method
    if (method !== undefined && String(method).toUpperCase() !== 'GET') fail(`routes[${i}].method`, `a WebSocket route's method is GET (or not given), got ${String(method)}`)
    return
  }
  const at = r !== null && typeof r === 'object' ? ` of route ${String((r as RouteDefinition).method).toUpperCase()} ${String((r as RouteDefinition).path)}` : ''
  knownKeys(r, ROUTE_DEFINITION_NAMES, `routes[${i}].`, at)
}

/** Check the options of server.route(method, path, handler, options). */
export function checkRouteOptions (options: unknown, method: string, path: string): void {
  if (options !== undefined) knownKeys(options, ROUTE_OPTION_NAMES, '', ` of route ${method} ${path}`)
}

export function resolveOptions (input: number | ServerOptions = {}): ResolvedOptions {
  const o: ServerOptions = typeof input === 'number' ? { isolates: input } : input
  if (o === null || typeof o !== 'object') fail('options', 'must be an object or a number of isolates')
  knownKeys(o, SERVER_OPTION_NAMES, '')
  if (o.routes !== undefined && !Array.isArray(o.routes)) fail('routes', 'must be an array of { method, path, handler } routes')
  if (o.http !== undefined) knownKeys(o.http, HTTP_OPTION_NAMES, 'http.')
  if (o.resourceLimits !== undefined) knownKeys(o.resourceLimits, RESOURCE_LIMIT_NAMES, 'resourceLimits.')
  if (o.health !== undefined && o.health !== false) knownKeys(o.health, HEALTH_OPTION_NAMES, 'health.')
  if (o.docs !== undefined && o.docs !== false) knownKeys(o.docs, DOCS_OPTION_NAMES, 'docs.')
  const isolates = o.isolates === undefined || o.isolates === 'auto'
    ? Math.max(1, availableParallelism())
    : integer('isolates', o.isolates, 1, 1024)
  const timeout = integer('timeout', o.timeout ?? 30_000, 0, MAX_MS)
  const root = o.root === undefined ? process.cwd() : stringOption('root', o.root)
  return {
    isolates,
    modules: modulePaths(root, o.modules),
    root,
    maxBodySize: integer('maxBodySize', o.maxBodySize ?? 1024 * 1024, 0, 0xfffffffe),
    ringSize: powerOfTwo('ringSize', o.ringSize ?? 256 * 1024, RING_MIN_CAPACITY, RING_MAX_CAPACITY),
    maxBodyDepth: integer('maxBodyDepth', o.maxBodyDepth ?? 128, 1, 10_000),
    maxQueue: integer('maxQueue', o.maxQueue ?? 65_536, 0, 1 << 24),
    maxQueueBytes: integer('maxQueueBytes', o.maxQueueBytes ?? 64 * 1024 * 1024, 0, 2 ** 40),
    maxQueueWait: integer('maxQueueWait', o.maxQueueWait ?? 1000, 0, MAX_MS),
    // A request's claim slot travels in the REQ_HEAD frame's 16-bit aux (src/shared/claims.ts).
    maxInFlight: integer('maxInFlight', o.maxInFlight ?? 512, 1, 0xffff),
    spares: integer('spares', o.spares ?? 0, 0, 64),
    retryAfter: integer('retryAfter', o.retryAfter ?? 1, 0, 86400),
    dev: o.dev ?? process.env.NODE_ENV === 'development',
    // Polling takes CPU: only where nobody waits for the cores it takes. Under load a polling
    // thread keeps its core busy, so there must be one to spare beyond the isolates and the main
    // thread (on 2 cores, 1 isolate polling cost a third of the throughput: bench/README.md).
    poll: o.poll === undefined || o.poll === 'auto'
      ? (availableParallelism() >= isolates + 2 ? 100 : 0)
      : integer('poll', o.poll, 0, 10_000),
    placement: placementOption(o.placement),
    timeout,
    hardTimeout: o.hardTimeout === undefined ? (timeout === 0 ? 0 : Math.max(2 * timeout, 5000)) : integer('hardTimeout', o.hardTimeout, 0, MAX_MS),
    resourceLimits: o.resourceLimits,
    shutdownTimeout: integer('shutdownTimeout', o.shutdownTimeout ?? 10_000, 0, MAX_MS),
    livePath: builtinPath('health.live', o.health === false ? false : o.health?.live, '/healthz'),
    readyPath: builtinPath('health.ready', o.health === false ? false : o.health?.ready, '/readyz'),
    http: httpLimits(o.http),
    watch: o.watch ?? false,
    openapiPath: builtinPath('docs.openapi', o.docs === false ? false : o.docs?.openapi, '/openapi.json'),
    docsPath: builtinPath('docs.ui', o.docs === false || o.docs?.openapi === false ? false : o.docs?.ui, '/docs'),
    docsInfo: { title: (o.docs === false ? undefined : o.docs?.title) ?? 'isopool API', version: (o.docs === false ? undefined : o.docs?.version) ?? '1.0.0' },
    given: o
  }
}

function httpLimits (h: HttpLimits | undefined): Required<HttpLimits> & { checkInterval: number } {
  const limits: HttpLimits = {
    ...(h?.maxHeaderSize === undefined ? {} : { maxHeaderSize: integer('http.maxHeaderSize', h.maxHeaderSize, 1024, 1 << 24) }),
    ...(h?.headersTimeout === undefined ? {} : { headersTimeout: integer('http.headersTimeout', h.headersTimeout, 0, MAX_MS) }),
    ...(h?.requestTimeout === undefined ? {} : { requestTimeout: integer('http.requestTimeout', h.requestTimeout, 0, MAX_MS) }),
    ...(h?.keepAliveTimeout === undefined ? {} : { keepAliveTimeout: integer('http.keepAliveTimeout', h.keepAliveTimeout, 0, MAX_MS) }),
    ...(h?.maxConnections === undefined ? {} : { maxConnections: integer('http.maxConnections', h.maxConnections, 1, 1 << 24) })
  }
  // node:http's defaults, and its rule that the head's limit fits in the request's.
  const headers = limits.headersTimeout ?? 60_000
  const request = limits.requestTimeout ?? 300_000
  const keepAlive = limits.keepAliveTimeout ?? 5_000
  if (request > 0 && headers > request) fail('http.headersTimeout', `must not exceed http.requestTimeout (${request} ms), got ${headers}`)
  // The timeouts are checked on one timer for all connections, not one per request: at a
  // quarter of the shortest, so that each is kept to within a quarter of itself.
  const shortest = Math.min(headers || Infinity, request || Infinity, keepAlive || Infinity)
  return {
    maxHeaderSize: limits.maxHeaderSize ?? 16_384,
    headersTimeout: headers,
    requestTimeout: request,
    keepAliveTimeout: keepAlive,
    maxConnections: limits.maxConnections ?? 65_536,
    checkInterval: Math.max(50, Math.min(30_000, Math.floor(shortest / 4)))
  }
}

const MAX_MS = 0x7fffffff

function builtinPath (option: string, value: string | false | undefined, fallback: string): string | null {
  if (value === false) return null
  if (value === undefined) return fallback
  if (typeof value !== 'string' || !value.startsWith('/')) fail(option, 'must be a path starting with "/", or false')
  return value
}

function integer (option: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fail(option, `must be an integer from ${min} to ${max}, got ${String(value)}`)
  }
  return value as number
}

/** The placement option: a policy's name, or a policy object (one with a pick method). */
function placementOption (value: unknown): PlacementPolicy {
  if (value === undefined) return PLACEMENT_POLICIES[DEFAULT_PLACEMENT]
  if (typeof value === 'string' && Object.hasOwn(PLACEMENT_POLICIES, value)) return PLACEMENT_POLICIES[value]
  if (value !== null && typeof value === 'object' && typeof (value as PlacementPolicy).pick === 'function') return value as PlacementPolicy
  fail('placement', `must be ${Object.keys(PLACEMENT_POLICIES).map(n => `'${n}'`).join(' or ')}, or an object with a pick() method, got ${typeof value === 'string' ? `'${value}'` : String(value)}`)
}

/** The placement policy when none is given (chosen by measurement: bench/README.md, issue #12). */
const DEFAULT_PLACEMENT = 'spread'

function powerOfTwo (option: string, value: unknown, min: number, max: number): number {
  const n = integer(option, value, min, max)
  if ((n & (n - 1)) !== 0) fail(option, `must be a power of two, got ${n}`)
  return n
}

function stringOption (option: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') fail(option, 'must be a non-empty string')
  return value as string
}

function fail (option: string, reason: string): never {
  throw new IsopoolError('ISOPOOL_ERR_INVALID_OPTION', { option, reason })
}
