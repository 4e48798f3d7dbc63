// isopool/handler: what handler modules import. Everything here runs inside an isolate, and
// importing it loads no main-thread code (the server, the HTTP layer, the router): an isolate
// imports the handler modules, and the handler modules import this.

export { HttpError, IsopoolError } from './shared/errors.ts'
export type { ErrorCode, WireError } from './shared/errors.ts'
export type { IsolateRequest as Request, QueryValue, HeaderValue } from './isolate/request.ts'
export { route } from './isolate/typed-route.ts'
export type { ExtraBodyPolicy, RouteConfig, RouteDeclaration, RouteHandler, TypedRequest } from './isolate/typed-route.ts'
export type { Middleware } from './isolate/middleware.ts'
export { depends, setup } from './isolate/dependencies.ts'
export type { Dependency, DepValues, Resource } from './isolate/dependencies.ts'
export { counter, histogram } from './isolate/metrics.ts'
export type { Counter, CounterOptions, Histogram, HistogramOptions, MetricLabels } from './isolate/metrics.ts'
export { apiKey, basic, bearer, jwt } from './isolate/auth.ts'
export type { ApiKeyOptions, BasicOptions, BearerOptions, JwtAlgorithm, JwtOptions } from './isolate/auth.ts'
export type { LogFn, RequestLog } from './isolate/log.ts'
export type { FileField, ValidationIssue } from './shared/protocol.ts'
export type { Form, FormFile, FormLimits, FormPart, StreamedForm } from './isolate/form.ts'
export type { HttpMethod } from './shared/http-syntax.ts'
export { sse } from './isolate/sse.ts'
export type { SseEvent, SseOptions, SseSource } from './isolate/sse.ts'
export { publish, websocket } from './isolate/websocket.ts'
export type { IsopoolWebSocket, WebSocketConfig, WebSocketDeclaration, WebSocketHandler, WebSocketMessage, WebSocketPayload } from './isolate/websocket.ts'
