// The HTTP/1.1 message syntax the connection parser applies (RFC 9112): pure functions and
// patterns over the bytes and strings of a request, with no state. The rules both threads share
// (tokens, field values, statuses) are in src/shared/http-syntax.ts.

export const CRLF = 0x0a0d // "\r\n" read as a little-endian uint16
export const HEAD_END = '\r\n\r\n'
/** Request line: method SP request-target SP HTTP/1.x */
export const REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([^\x00-\x20\x7f]+) HTTP\/1\.([01])$/
export const CHUNK_SIZE = /^([0-9A-Fa-f]{1,8})[\t ]*(?:;[^\r\n]*)?$/
/** A Connection header value that lists `close`, in a request or a handler's response. */
export const CLOSE = /(?:^|,)\s*close\s*(?:,|$)/i
/** A Connection header value that lists `keep-alive` (what an HTTP/1.0 client asks for). */
export const KEEP_ALIVE = /(?:^|,)\s*keep-alive\s*(?:,|$)/i
/** A Content-Length value: digits only (RFC 9112 §6.3), short enough to be a safe integer. */
export const CONTENT_LENGTH = /^\d{1,15}$/
/** A chunk-size line longer than this is refused (extensions included). */
export const MAX_CHUNK_LINE = 4096
/** Header fields per request; more → 431. */
export const MAX_HEADERS = 500

/** Where the request line starts: empty lines before it are ignored (RFC 9112 §2.2). */
export function skipEmptyLines (buf: Buffer): number {
  let from = 0
  while (from + 1 < buf.byteLength && buf.readUInt16LE(from) === CRLF) from += 2
  return from
}

/** `s` without leading and trailing optional whitespace (SP and HTAB). */
export function trimOws (s: string): string {
  let a = 0
  let b = s.length
  while (a < b && (s.charCodeAt(a) === 32 || s.charCodeAt(a) === 9)) a++
  while (b > a && (s.charCodeAt(b - 1) === 32 || s.charCodeAt(b - 1) === 9)) b--
  return a === 0 && b === s.length ? s : s.slice(a, b)
}
