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
export { counter, histogram } from './handler.ts'
export type { Counter, CounterOptions, Histogram, HistogramOptions, MetricLabels } from './handler.ts'
export { apiKey, basic, bearer, jwt } from './handler.ts'
export type { ApiKeyOptions, BasicOptions, BearerOptions, JwtAlgorithm, JwtOptions } from './handler.ts'
export type { LogFn, RequestLog } from './handler.ts'
export type { Middleware } from './handler.ts'
export { sse } from './handler.ts'
export type { SseEvent, SseOptions, SseSource } from './handler.ts'
export { publish, websocket } from './handler.ts'
export type { IsopoolWebSocket, WebSocketConfig, WebSocketDeclaration, WebSocketHandler, WebSocketMessage, WebSocketPayload } from './handler.ts'
export type { WebSocketOptions, WebSocketRouteDefinition } from './main/options.ts'
export type { FormPart, StreamedForm } from './handler.ts'
export type { CorsOptions, RateLimitOptions, RouteRateLimit } from './main/options.ts'
export type { IsolateState, PlacementPolicy } from './main/placement.ts'

/** Create a server; `createServer(4)` is `createServer({ isolates: 4 })`. */
export function createServer (options?: number | ServerOptions): Server {
  return new Server(options)
}
