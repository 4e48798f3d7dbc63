// isopool's HTTP/1.1 layer, the main thread's accept loop on node:net: what the rest of the main
// thread uses of it. The layer itself is in src/main/http1/: the connection's parse state machine
// (connection.ts), response serialization and the one coded-error writer (response.ts), and the
// pure syntax rules of the parser (syntax.ts).

export { Http1Request, Http1Server } from './http1/connection.ts'
export type { Http1Limits, Refusal, RefusalListener, RequestListener } from './http1/connection.ts'
export { headLines, Http1Response, writeError, writeHandlerHead } from './http1/response.ts'
export type { CloseListener, FinishListener } from './http1/response.ts'
