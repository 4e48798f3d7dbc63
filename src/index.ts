// isopool's public API. Explicit named exports only: what is not listed here is internal. The
// handler entry (isopool/handler, src/handler.ts) is re-exported whole, so one import serves a
// script that starts a server and declares routes alike.

import { Server } from './main/server.ts'
import type { ServerOptions } from './main/options.ts'

export { Server } from './main/server.ts'
export type { ListenOptions, ListenResult } from './main/server.ts'
export type { HttpLimits, ResourceLimits, RouteDefinition, RouteOptions, ServerOptions } from './main/options.ts'
export { ERRORS } from './shared/errors.ts'
export {
  depends, HttpError, IsopoolError, route, setup
} from './handler.ts'
export type {
  Dependency, DepValues, ErrorCode, ExtraBodyPolicy, FileField, Form, FormFile, FormLimits, HeaderValue, HttpMethod, QueryValue, Request,
  Resource, RouteConfig, RouteDeclaration, RouteHandler, TypedRequest, ValidationIssue, WireError
} from './handler.ts'

/** Create a server; `createServer(4)` is `createServer({ isolates: 4 })`. */
export function createServer (options?: number | ServerOptions): Server {
  return new Server(options)
}
