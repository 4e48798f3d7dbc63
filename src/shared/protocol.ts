// The control plane between the main thread and an isolate: what a worker is started with and
// the few messages that cross by postMessage. Requests and responses never travel here; they
// cross in the rings (see ring.ts and frame.ts).

import type { WireError } from './errors.ts'

/** A module URL as messages show it: the file path for a file: URL, else the URL itself. Both
 * sides name handlers this way (`/app/users.ts#getUser`) in their errors. */
export function modulePath (url: string): string {
  return url.startsWith('file:') ? decodeURIComponent(new URL(url).pathname) : url
}

/** A route whose own maxBodySize is above the server's streams its body (an upload route): the
 * one rule both sides apply, so they agree on every route without a message. */
export function streamsBody (own: number | undefined, serverMaxBody: number): boolean {
  return own !== undefined && own > serverMaxBody
}

/** One route as an isolate sees it: where its handler lives and how to read its params. */
export interface RouteSpec {
  method: string
  path: string
  /** Index into IsolateInit.modules. */
  module: number
  /** Export name; 'default' for a module's default export. */
  export: string
  /** The route's own middleware, `module URL#export` each, run after the global ones. */
  middleware?: string[]
  /** false: never compress this route's answers, whatever the compression option says. */
  compression?: boolean
  /** Its maxBodySize is above the server's: its body streams, under credit, and its handler runs
   * at the head (req.stream()). */
  streamBody?: true
}

/** One WebSocket route as an isolate sees it: its path (for req.params) and its handler object. */
export interface SocketRouteSpec {
  path: string
  /** Module URL (file:). */
  module: string
  /** Export name; 'default' for a module's default export. */
  export: string
}

/** A websocket() declaration an isolate found in the `modules`, as the main thread sees it:
 * numbered after the given WebSocket routes, module by module and export by export in name
 * order, as the isolates number them. Options as declared (the main thread checks them). */
export interface ManifestSocket extends SocketRouteSpec {
  maxPayload?: number
  idleTimeout?: number
  perMessageDeflate?: boolean
}

/** Response compression as an isolate applies it (the compression option, resolved). */
export interface CompressionConfig {
  /** Bodies smaller than this many bytes go as they are. */
  threshold: number
  /** The encodings the server may use, in its order of preference: br, gzip, zstd, deflate. */
  encodings: string[]
}

/** One line of a handler's req.log (or an isolate's own error log), for the main thread's logger. */
export interface LogRecord {
  /** pino's level name: trace, debug, info, warn, error, fatal. */
  level: string
  /** Date.now() when it was logged. */
  time: number
  msg: string
  /** The bindings (the request id, a child's) and the merging object, made cloneable. */
  fields: Record<string, unknown>
}

/** workerData of every isolate. */
export interface IsolateInit {
  index: number
  requestRing: SharedArrayBuffer
  responseRing: SharedArrayBuffer
  /** The claim table (claims.ts): the isolate claims each request there before it runs it. */
  claims: SharedArrayBuffer
  /** The claim table's epoch: the main thread's performance.timeOrigin, in whole ms. */
  epoch: number
  /** Module URLs (file:), imported once each at start-up. */
  modules: string[]
  /** Routes given to createServer/route(): route indexes 0 … routes.length - 1. */
  routes: RouteSpec[]
  /** Module URLs whose route() exports are routes too, numbered after `routes`, module by
   * module in this order and export by export in name order: every isolate numbers them alike. */
  discover: string[]
  dev: boolean
  /** Deepest nesting of a typed route's JSON or MessagePack body (the maxBodyDepth option). */
  maxBodyDepth: number
  /** Microseconds the isolate keeps looking for requests after it ran dry, before it sleeps; 0 for never. */
  poll: number
  /** The main thread has a logger (the logger option): req.log's lines and handler errors go to
   * it (LogRecord messages), at `level` or above. Null: req.log is silent, handler errors go to
   * stderr. */
  log: { level: string } | null
  /** Response compression (the compression option), or null when it is off. */
  compression: CompressionConfig | null
  /** Global middleware, `module URL#export` each, run for every routed request. */
  middleware: string[]
  /** WebSocket routes: WS_OPEN frames carry an index into this list. */
  websockets: SocketRouteSpec[]
  /** The server's maxBodySize: a declared route whose own is above it streams its body. */
  maxBodySize: number
}

/** A route() declaration an isolate found, as the main thread sees it. Schemas are JSON Schema. */
export interface ManifestRoute {
  method: string
  path: string
  /** Module URL and export name. */
  module: string
  export: string
  schemas: {
    params?: unknown
    query?: unknown
    headers?: unknown
    cookies?: unknown
    body?: unknown
    response?: Record<string, unknown>
  }
  /** The media types its body may come as, the preferred first (a route with a body schema or a
   * form): application/json and application/msgpack, or a form's two. */
  bodyTypes?: string[]
  /** A form route's file fields, by name. */
  fileFields?: Record<string, FileField>
  timeout?: number
  /** Its own rate limit (requests per window ms, on the main thread), or false for none. */
  rateLimit?: { max: number, window: number } | false
  /** false: its answers are never compressed (read by the isolates, which number routes alike). */
  compression?: boolean
  /** Its own body limit in bytes (above the server's: the body streams). */
  maxBodySize?: number
  summary?: string
  description?: string
  tags?: string[]
  /** The auth helpers (jwt(), bearer(), apiKey(), basic()) among its dependencies, by OpenAPI
   * security scheme name: the route requires each of them. */
  security?: Record<string, SecurityScheme>
}

/** An OpenAPI security scheme, as an auth helper describes itself for the API document. */
export type SecurityScheme =
  | { type: 'http', scheme: 'bearer' | 'basic', bearerFormat?: string }
  | { type: 'apiKey', in: 'header', name: string }

/** A file field of a form route, as declared in route({ fileFields }). */
export interface FileField {
  /** More than one file may come in the field. */
  multiple?: boolean
  description?: string
}

/** One problem of a request that failed validation (the `details` of a 422). */
export interface ValidationIssue {
  /** Which part of the request: params, query, headers, cookies or body. */
  in: string
  /** Where, as an accessor path: `body.items[2].price`. */
  path: string
  message: string
  expected: string
  received: unknown
}

/** isolate → main */
export type IsolateMessage =
  | { type: 'ready', manifest: ManifestRoute[], sockets?: ManifestSocket[] }
  | { type: 'error', error: WireError }
  | { type: 'log', records: LogRecord[] }
  /** The answer to a { type: 'metrics' } request with the same id. */
  | { type: 'metrics', id: number, metrics: IsolateMetrics }

/** What an isolate reports of itself for /metrics. */
export interface IsolateMetrics {
  /** This thread's CPU time since it started (process.threadCpuUsage()), in microseconds. */
  cpu: { user: number, system: number }
  /** The handler-defined metrics (isopool/handler's counter() and histogram()): what they
   * counted since the last report (deltas), which the main thread adds up over every isolate. */
  handler: HandlerMetricDelta[]
}

/** What one handler-defined metric counted since the last report. */
export interface HandlerMetricDelta {
  type: 'counter' | 'histogram'
  name: string
  help: string
  labelNames: string[]
  /** A histogram's upper bounds, ascending (without +Inf). */
  buckets?: number[]
  /** Per label set (values in labelNames' order): a counter's increase, or a histogram's
   * observations per bucket (buckets.length + 1 counts, the last for +Inf), sum and count. */
  series: { labels: string[], value?: number, counts?: number[], sum?: number, count?: number }[]
}

/** main → isolate */
export type MainMessage =
  | { type: 'stop' }
  /** Report IsolateMetrics, answered with the same id. */
  | { type: 'metrics', id: number }
