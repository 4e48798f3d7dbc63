// The control plane between the main thread and an isolate: what a worker is started with and
// the few messages that cross by postMessage. Requests and responses never travel here; they
// cross in the rings (see ring.ts and frame.ts).

import type { WireError } from './errors.ts'

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
  /** Module URLs (file:), imported once each at start-up. */
  modules: string[]
  /** Indexed by the route index carried in every REQ_HEAD frame. */
  routes: RouteSpec[]
  dev: boolean
}

/** isolate → main */
export type IsolateMessage =
  | { type: 'ready' }
  | { type: 'error', error: WireError }

/** main → isolate */
export type MainMessage =
  | { type: 'stop' }
