// Every error isopool raises, in one table: a stable code, a message template and, for those that
// reach a client, an HTTP status. Errors cross the thread boundary as { code, message, status }
// (WireError) and are rebuilt with IsopoolError.fromWire on the other side.
//
// A code, once published, keeps its meaning forever; a retired code stays in RETIRED_CODES and is
// never reused. docs/errors.md documents every code (a test checks it).

export const ERRORS = {
  // ── client errors, answered by the main thread or the isolate ──────────────────────────────
  ISOPOOL_ERR_NOT_FOUND: { status: 404, message: 'No route matches {method} {path}' },
  ISOPOOL_ERR_METHOD_NOT_ALLOWED: { status: 405, message: '{method} is not allowed on {path}; allowed: {allow}' },
  ISOPOOL_ERR_BODY_TOO_LARGE: { status: 413, message: 'Request body exceeds the limit of {limit} bytes' },
  ISOPOOL_ERR_INVALID_JSON: { status: 400, message: 'Request body is not valid JSON: {reason}' },
  ISOPOOL_ERR_INVALID_MSGPACK: { status: 400, message: 'Request body is not valid MessagePack: {reason}' },
  ISOPOOL_ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Content-Type {type} is not accepted here; expected {expected}' },
  ISOPOOL_ERR_FORM_LIMIT: { status: 413, message: 'The form exceeds a limit: {what} (limit {limit})' },
  ISOPOOL_ERR_VALIDATION: { status: 422, message: 'The request does not match the route\'s schema: {count} problem(s), {listed} listed in details' },
  ISOPOOL_ERR_BODY_TOO_DEEP: { status: 400, message: 'The request body nests deeper than the limit of {limit} levels' },
  ISOPOOL_ERR_BAD_REQUEST: { status: 400, message: 'Bad request: {reason}' },
  ISOPOOL_ERR_HEADERS_TOO_LARGE: { status: 431, message: 'Request headers are larger than the limit' },
  ISOPOOL_ERR_REQUEST_TIMEOUT: { status: 408, message: 'The request was not received in time' },
  ISOPOOL_ERR_EXPECTATION_FAILED: { status: 417, message: 'Expectation {expect} is not supported; only 100-continue is' },
  ISOPOOL_ERR_TRANSFER_CODING: { status: 501, message: 'Transfer-Encoding {coding} is not supported; only chunked is' },
  ISOPOOL_ERR_UNAUTHORIZED: { status: 401, message: 'Missing or invalid credentials: {reason}' },
  ISOPOOL_ERR_RATE_LIMITED: { status: 429, message: 'Rate limit exceeded: {max} requests per {window} ms; retry in {retry} s' },
  ISOPOOL_ERR_METHOD_NOT_IMPLEMENTED: { status: 501, message: 'Method {method} is not implemented by this server' },
  ISOPOOL_ERR_RANGE_NOT_SATISFIABLE: { status: 416, message: 'The range {range} is not satisfiable: the file has {size} bytes' },
  ISOPOOL_ERR_UPGRADE_REQUIRED: { status: 426, message: '{path} takes WebSocket connections only: {reason}' },
  ISOPOOL_ERR_BODY_ABORTED: { status: 400, message: 'The request body did not arrive whole: the request was given up while it was streaming' },
  // ── errors of the handler, answered by the isolate ─────────────────────────────────────────
  ISOPOOL_ERR_HTTP: { status: 500, message: '{message}' },
  ISOPOOL_ERR_HANDLER: { status: 500, message: 'Internal server error' },
  ISOPOOL_ERR_RESPONSE_SCHEMA: { status: 500, message: 'The response of {route} does not match its schema: {problems}' },
  ISOPOOL_ERR_INVALID_RESULT: { status: 500, message: 'Handler {handler} returned a value that cannot be sent: {type}' },
  ISOPOOL_ERR_MIDDLEWARE: { status: 500, message: 'Middleware {middleware} returned {type}, not a Response' },
  ISOPOOL_ERR_MIDDLEWARE_NEXT: { status: 500, message: 'Middleware {middleware} called next() more than once' },
  // ── server-side conditions a client sees ───────────────────────────────────────────────────
  ISOPOOL_ERR_OVERLOADED: { status: 503, message: 'Server is overloaded, retry later' },
  ISOPOOL_ERR_QUEUE_WAIT: { status: 503, message: 'The request would wait about {wait} ms for an isolate, more than maxQueueWait ({limit} ms)' },
  ISOPOOL_ERR_QUEUE_EXPIRED: { status: 503, message: 'The request waited {wait} ms for an isolate, more than maxQueueWait ({limit} ms)' },
  ISOPOOL_ERR_SHUTTING_DOWN: { status: 503, message: 'Server is shutting down' },
  ISOPOOL_ERR_ISOLATE_EXITED: { status: 502, message: 'The isolate handling this request stopped: {reason}' },
  ISOPOOL_ERR_RESPONSE_INVALID: { status: 500, message: 'The response could not be sent: {reason}' },
  ISOPOOL_ERR_TIMEOUT: { status: 504, message: 'The handler did not answer within {timeout} ms' },
  ISOPOOL_ERR_NO_ISOLATE: { status: 503, message: 'No isolate could take the request within {timeout} ms' },
  ISOPOOL_ERR_NOT_READY: { status: 503, message: 'Not ready: {reason}' },
  ISOPOOL_ERR_AUTH_UNAVAILABLE: { status: 503, message: 'Credentials could not be checked: {reason}' },
  ISOPOOL_ERR_INTERNAL: { status: 500, message: 'Internal server error' },
  ISOPOOL_ERR_BODY_RELEASED: { status: 500, message: 'The body of {method} {url} was first read after its handler had returned; read it while the handler runs' },
  ISOPOOL_ERR_BODY_CONSUMED: { status: 500, message: 'The streamed request body was already read: req.stream(), text(), json(), msgpack() and form() read it once between them' },
  ISOPOOL_ERR_BODY_STREAMED: { status: 500, message: 'The body of {method} {url} streams (its route takes more than the server\'s maxBodySize): read it with req.stream(), or await req.text(), req.json(), req.form()' },
  // ── start-up and configuration: thrown to the caller, never sent to a client ───────────────
  ISOPOOL_ERR_MODULE_IMPORT: { status: undefined, message: 'Cannot import module {module}: {reason}' },
  ISOPOOL_ERR_EXPORT_MISSING: { status: undefined, message: 'Module {module} has no export "{export}"' },
  ISOPOOL_ERR_EXPORT_NOT_FUNCTION: { status: undefined, message: 'Export "{export}" of module {module} is a {type}, not a function' },
  ISOPOOL_ERR_ISOLATE_START: { status: undefined, message: 'Isolate {isolate} stopped before it was ready: {reason}' },
  ISOPOOL_ERR_INVALID_OPTION: { status: undefined, message: 'Invalid option {option}: {reason}' },
  ISOPOOL_ERR_INVALID_ROUTE: { status: undefined, message: 'Invalid route {method} {path}: {reason}' },
  ISOPOOL_ERR_ROUTE_CONFLICT: { status: undefined, message: 'Route {method} {path} is declared twice: by {first} and by {second}' },
  ISOPOOL_ERR_ALREADY_LISTENING: { status: undefined, message: 'Cannot {action} after listen()' },
  ISOPOOL_ERR_NOT_LISTENING: { status: undefined, message: 'Cannot {action}: the server is not listening' },
  ISOPOOL_ERR_LISTEN: { status: undefined, message: 'Cannot listen on {address}: {reason}' },
  ISOPOOL_ERR_SETUP_NOT_LOADED: { status: undefined, message: 'The setup() resource {resource} is never opened, so {routes} would fail on every request that reads it: {reason}' },
  ISOPOOL_ERR_INVALID_METRIC: { status: undefined, message: 'Invalid metric {name}: {reason}' },
  ISOPOOL_ERR_WEBSOCKET_HANDLER: { status: undefined, message: 'Export "{export}" of module {module} is not a WebSocket handler: {reason}' },
  ISOPOOL_ERR_WEBSOCKET_USE: { status: undefined, message: 'Cannot {action}: {reason}' },
  // ── the transport: a broken frame means a bug or memory corruption, never user input ────────
  ISOPOOL_ERR_FRAME_INVALID: { status: undefined, message: 'Malformed frame: {reason}' },
  ISOPOOL_ERR_FRAME_TOO_LARGE: { status: undefined, message: 'Frame of {size} bytes exceeds the ring limit of {max} bytes' }
} as const satisfies Record<string, { status: number | undefined, message: string }>

export type ErrorCode = keyof typeof ERRORS

/** Codes that were published once and must never be given a new meaning. */
export const RETIRED_CODES: readonly string[] = []

/** The shape an error has on the wire and in every JSON error body. */
export interface WireError {
  code: string
  message: string
  status?: number
  /** Structured detail, e.g. the list of validation problems of a 422. */
  details?: unknown
}

function format (template: string, params: Record<string, unknown>): string {
  return template.replace(/\{(\w+)\}/g, (_, k: string) => (k in params ? String(params[k]) : `{${k}}`))
}

export class IsopoolError extends Error {
  readonly code: string
  readonly status: number | undefined
  readonly params: Record<string, unknown>
  readonly details: unknown

  constructor (code: ErrorCode, params: Record<string, unknown> = {}, options?: { cause?: unknown, status?: number, details?: unknown }) {
    super(format(ERRORS[code].message, params), options?.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'IsopoolError'
    this.code = code
    this.status = options?.status ?? ERRORS[code].status
    this.params = params
    this.details = options?.details
  }

  toWire (): WireError {
    const wire: WireError = { code: this.code, message: this.message }
    if (this.status !== undefined) wire.status = this.status
    if (this.details !== undefined) wire.details = this.details
    return wire
  }

  /** Rebuild an error that crossed a thread boundary. Unknown codes keep their text. */
  static fromWire (wire: WireError): IsopoolError {
    const known = Object.hasOwn(ERRORS, wire.code) ? wire.code as ErrorCode : 'ISOPOOL_ERR_HANDLER'
    const err = new IsopoolError(known, {}, { status: wire.status, details: wire.details })
    // The message was already formatted on the other side; keep it and the original code.
    err.message = wire.message
    ;(err as { code: string }).code = wire.code
    return err
  }
}

const HTTP_ERROR = Symbol.for('isopool.HttpError')

/**
 * Thrown by a handler to answer with `status` and a JSON error body
 * `{ "error": { "code", "message", "status" } }`. `code` defaults to ISOPOOL_ERR_HTTP.
 */
export class HttpError extends Error {
  readonly status: number
  readonly code: string
  readonly headers: Record<string, string> | undefined

  constructor (status: number, message?: string, options?: { code?: string, headers?: Record<string, string>, cause?: unknown }) {
    super(message ?? `HTTP ${status}`, options?.cause === undefined ? undefined : { cause: options.cause })
    if (!Number.isInteger(status) || status < 400 || status > 599) {
      throw new RangeError(`HttpError status must be an integer from 400 to 599, got ${status}`)
    }
    this.name = 'HttpError'
    this.status = status
    this.code = options?.code ?? 'ISOPOOL_ERR_HTTP'
    this.headers = options?.headers
  }

  /** Recognizes HttpErrors even from a second copy of this module. */
  static [Symbol.hasInstance] (value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[HTTP_ERROR] === true
  }

  get [HTTP_ERROR] (): true { return true }
}

/** What an error response carries when nothing better can be built: fixed, so it cannot fail. */
export const FALLBACK_ERROR_BODY = '{"error":{"code":"ISOPOOL_ERR_INTERNAL","message":"Internal server error","status":500}}'

/**
 * The JSON body every error response carries. Total: it never throws. `details` that JSON cannot
 * hold (a BigInt, a cycle, a getter that throws: what a handler may put there) are left out; if
 * even code and message cannot be written, the fixed FALLBACK_ERROR_BODY is the answer.
 */
export function errorBody (err: WireError): string {
  try {
    return JSON.stringify({ error: err })
  } catch {}
  try {
    return JSON.stringify({ error: { code: String(err.code), message: String(err.message), ...(err.status === undefined ? {} : { status: err.status }) } })
  } catch {}
  return FALLBACK_ERROR_BODY
}
