// isopool's public API. Explicit named exports only: what is not listed here is internal.

import { Server } from './main/server.ts'
import type { ServerOptions } from './main/options.ts'

export { Server } from './main/server.ts'
export type { ListenOptions, ListenResult } from './main/server.ts'
export type { HttpLimits, HttpMethod, ResourceLimits, RouteDefinition, RouteOptions, ServerOptions } from './main/options.ts'
export { HttpError, IsopoolError, ERRORS } from './shared/errors.ts'
export type { ErrorCode, WireError } from './shared/errors.ts'
export type { IsolateRequest as Request, QueryValue, HeaderValue } from './isolate/request.ts'
export { route } from './isolate/typed-route.ts'
export { depends, setup } from './isolate/dependencies.ts'
export type { Dependency, DepValues, Resource } from './isolate/dependencies.ts'
export type { ExtraBodyPolicy, RouteConfig, RouteDeclaration, RouteHandler, TypedRequest } from './isolate/typed-route.ts'
export type { ValidationIssue } from './shared/protocol.ts'
export type { Form, FormFile, FormLimits } from './isolate/form.ts'

/** Create a server; `createServer(4)` is `createServer({ isolates: 4 })`. */
export function createServer (options?: number | ServerOptions): Server {
  return new Server(options)
}
