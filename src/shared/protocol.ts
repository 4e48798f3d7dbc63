// The control plane between the main thread and an isolate: what a worker is started with and
// the few messages that cross by postMessage. Requests and responses never travel here; they
// cross in the rings (see ring.ts and frame.ts).

import type { WireError } from './errors.ts'

/** A module URL as messages show it: the file path for a file: URL, else the URL itself. Both
 * sides name handlers this way (`/app/users.ts#getUser`) in their errors. */
export function modulePath (url: string): string {
  return url.startsWith('file:') ? decodeURIComponent(new URL(url).pathname) : url
}

/** One route as an isolate sees it: where its handler lives and how to read its params. */
export interface RouteSpec {
  method: string
  path: string
  /** Index into IsolateInit.modules. */
  module: number
  /** Export name; 'default' for a module's default export. */
  export: string
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
  summary?: string
  description?: string
  tags?: string[]
}

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
  | { type: 'ready', manifest: ManifestRoute[] }
  | { type: 'error', error: WireError }

/** main → isolate */
export type MainMessage =
  | { type: 'stop' }
