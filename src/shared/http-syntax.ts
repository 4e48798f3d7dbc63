// HTTP syntax rules both sides apply (RFC 9110): what a header name and value may be, which
// response headers the server owns, and which status codes a response may carry. The isolate
// checks what a handler asks for before it frames it; the main thread checks again before a byte
// reaches the socket. One copy of each rule, so the two never disagree.

/** RFC 9110 token: a method or a header name. */
export const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
/** A character a field value may not hold: control characters but HTAB (obs-text is allowed). */
export const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/

/**
 * Response headers the server writes itself, from what it actually sends: a handler's are dropped
 * on every path (a returned Response, an HttpError's headers). Two Content-Lengths, or a
 * Transfer-Encoding over a body framed by length, would let a client or a proxy read the
 * response (and the next one on the connection) differently from how it was sent. Connection is
 * not here: the main thread takes `close` from it and writes the header itself.
 */
export function isServerOwnedHeader (name: string): boolean {
  switch (name.length) {
    case 10: return name.toLowerCase() === 'keep-alive'
    case 14: return name.toLowerCase() === 'content-length'
    case 17: return name.toLowerCase() === 'transfer-encoding'
    default: return false
  }
}

/** A status code a response may carry: 100–599 (RFC 9110 §15), an integer. */
export function isStatus (status: unknown): status is number {
  return typeof status === 'number' && Number.isInteger(status) && status >= 100 && status <= 599
}

/** What isopool sends with every answer it writes itself (errors, health, the API document, the
 * docs page): the client must take the content type as given, never sniff one. */
export const NOSNIFF: readonly [string, string] = ['x-content-type-options', 'nosniff']

/** The methods a route may have (RFC 9110 §9), in the order Allow lists them. */
export const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const
export type HttpMethod = typeof METHODS[number]
