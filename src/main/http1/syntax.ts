// The HTTP/1.1 message syntax the connection parser applies (RFC 9112): pure functions and
// patterns over the strings and bytes of a request, with no state, unit-tested and fuzzed on
// their own (test/unit/http1-syntax.test.ts) and against llhttp by way of node:http
// (test/http1-differential.test.ts). The rules both threads share — tokens, field values,
// statuses, the method list — are in src/shared/http-syntax.ts.
//
// Where RFC 9112 lets a recipient be lenient and llhttp is not, this is as strict as llhttp: a
// server behind a front end must never read a message's framing otherwise than the front end
// did, and the safe way to agree is to refuse what either might read two ways.

import { IsopoolError } from '../../shared/errors.ts'
import { requestHead, withField } from '../../shared/head-text.ts'
import { BAD_VALUE, METHODS, TOKEN } from '../../shared/http-syntax.ts'

export const CRLF = 0x0a0d // "\r\n" read as a little-endian uint16
export const HEAD_END = '\r\n\r\n'
/** Request line: method SP request-target SP HTTP/1.x; the target is visible ASCII only (a raw
 * byte ≥ 0x80 or a control character in it is refused, as llhttp does). */
export const REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([\x21-\x7e]+) HTTP\/1\.([01])$/
/** A Connection header value that lists `close`, in a request or a handler's response. Only SP
 * and HTAB are whitespace here: `\s` would take U+00A0 (a latin1 byte 0xA0) for one. */
export const CLOSE = /(?:^|,)[ \t]*close[ \t]*(?:,|$)/i
/** A Connection header value that lists `keep-alive` (what an HTTP/1.0 client asks for). */
export const KEEP_ALIVE = /(?:^|,)[ \t]*keep-alive[ \t]*(?:,|$)/i
/** A Connection header value that lists `upgrade`: with an Upgrade field, the client means to
 * switch protocols after this request, and what follows on the connection is no longer HTTP/1.1
 * to it or to a front end that lets the switch through. */
export const UPGRADE = /(?:^|,)[ \t]*upgrade[ \t]*(?:,|$)/i
/** A field line whose value ends in OWS holding a HTAB (see the Transfer-Encoding check). */
export const TRAILING_TAB = /\t[ \t]*$/
/** A chunk-size line longer than this is refused (extensions included), however it arrives. */
export const MAX_CHUNK_LINE = 4096
/** Header fields per request; more → 431. */
export const MAX_HEADERS = 500

/** Where the request line starts: empty lines before it are ignored (RFC 9112 §2.2), bare LF
 * ones too, as llhttp does. Outside any message, they cannot move a boundary; a bare CR is still
 * refused (it is one, to some readers, inside a message). */
export function skipEmptyLines (buf: Buffer): number {
  let from = 0
  const n = buf.byteLength
  while (from < n) {
    if (buf[from] === 10) from++
    else if (from + 1 < n && buf.readUInt16LE(from) === CRLF) from += 2
    else break
  }
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

/** RFC 9110 tchar, by character code. */
const TCHAR = new Uint8Array(128)
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TCHAR[c.charCodeAt(0)] = 1
const isTchar = (c: number): boolean => c < 128 && TCHAR[c] === 1

/** A method isopool serves (a route may have it); any other is 501 (RFC 9110 §9.1). */
export function isKnownMethod (method: string): boolean {
  return (METHODS as readonly string[]).includes(method)
}

/**
 * What can still become of `line`, a request line whose CRLF has not arrived yet: 'ok' while it
 * can still be a valid one; 'method' when its method cannot be one this server implements (what
 * llhttp judges from the first byte that fits no method); 'line' when it cannot be a request line
 * at all. A client sending something else — TLS to the plain port, a stray protocol — is refused as
 * soon as its first bytes show it, not after maxHeaderSize bytes or the headers timeout.
 */
export function judgeRequestLine (line: string): 'ok' | 'method' | 'line' {
  let i = 0
  const n = line.length
  while (i < n && isTchar(line.charCodeAt(i))) i++
  const method = line.slice(0, i)
  if (i === n) return METHODS.some(m => m.startsWith(method)) ? 'ok' : 'method'
  if (i === 0 || line.charCodeAt(i) !== 32) return 'line'
  if (!isKnownMethod(method)) return 'method'
  const t = ++i
  while (i < n && line.charCodeAt(i) > 0x20 && line.charCodeAt(i) < 0x7f) i++
  if (i === n) return 'ok'
  if (i === t || line.charCodeAt(i) !== 32) return 'line'
  const version = line.slice(i + 1)
  return version.length <= 8 && ('HTTP/1.0'.startsWith(version) || 'HTTP/1.1'.startsWith(version)) ? 'ok' : 'line'
}

/** The position of the first bare CR (not followed by LF) or bare LF (not after CR) in
 * `buf[from, to)`, or -1. A head may hold neither (RFC 9112 §2.2): one is refused as soon as it
 * arrives, not when the head would have ended. A CR at `to - 1` may be a CRLF cut in two. */
export function bareLineBreak (buf: Buffer, from: number, to: number): number {
  for (let i = buf.indexOf(10, from); i >= 0 && i < to; i = buf.indexOf(10, i + 1)) {
    if (i === 0 || buf[i - 1] !== 13) return i
  }
  for (let i = buf.indexOf(13, from); i >= 0 && i < to - 1; i = buf.indexOf(13, i + 1)) {
    if (buf[i + 1] !== 10) return i
  }
  return -1
}

/** The form of a request target (RFC 9112 §3.2). Authority-form is CONNECT's alone, asterisk-form
 * a server-wide OPTIONS's. */
export function targetForm (target: string): 'origin' | 'absolute' | 'authority' | 'asterisk' {
  if (target.charCodeAt(0) === 47) return 'origin' // '/'
  if (target === '*') return 'asterisk'
  return ABSOLUTE.test(target) ? 'absolute' : 'authority'
}

/** An absolute-form target as llhttp takes one: a scheme of letters, `://`, and an authority of
 * RFC 3986 authority characters (unreserved, sub-delims, `%`, `:`, `[`, `]`, and one `@` ending
 * the userinfo) up to the path or query. A `"`, `\`, `#`, `{` or a second `@` in the authority is
 * refused: a proxy and a server could read the host two ways. The path and query are held to the
 * request line's rule, as in origin-form. */
const ABSOLUTE = /^[A-Za-z]+:\/\/(?:[A-Za-z0-9\-._~!$&'()*+,;=:[\]%]*@)?[A-Za-z0-9\-._~!$&'()*+,;=:[\]%]*(?:[/?]|$)/

/** A Content-Length value (RFC 9112 §6.2: 1*DIGIT, leading zeros allowed): its length, or -1 when
 * it is not one or too large to be exact. A list ("5, 5") is refused, as llhttp does. */
export function parseContentLength (value: string): number {
  const n = value.length
  if (n === 0) return -1
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i)
    if (c < 48 || c > 57) return -1
  }
  const length = Number(value)
  return length <= Number.MAX_SAFE_INTEGER ? length : -1
}

/** Hex digit value by character code, -1 for none. */
function hexValue (c: number): number {
  if (c >= 48 && c <= 57) return c - 48
  if (c >= 97 && c <= 102) return c - 87
  if (c >= 65 && c <= 70) return c - 55
  return -1
}

/**
 * A chunk-size line without its CRLF (RFC 9112 §7.1): `1*HEXDIG *( ";" ext-name [ "=" ext-value ] )`
 * with ext-name a token and ext-value a token or a quoted-string. Returns the chunk size, or -1
 * when the line is not one — whitespace anywhere (RFC 9112 allows "bad whitespace" around ";"
 * and "=" that llhttp refuses), control characters, a name or value that is not a token, an
 * unclosed quote — or the size too large to be exact. Leading zeros are allowed in any number.
 */
export function parseChunkLine (line: string): number {
  const n = line.length
  let i = 0
  let size = 0
  for (; i < n; i++) {
    const v = hexValue(line.charCodeAt(i))
    if (v < 0) break
    size = size * 16 + v
    if (size > Number.MAX_SAFE_INTEGER) return -1
  }
  if (i === 0) return -1
  while (i < n) {
    if (line.charCodeAt(i) !== 59) return -1 // ';'
    const name = ++i
    while (i < n && isTchar(line.charCodeAt(i))) i++
    if (i === name) return -1
    if (i === n || line.charCodeAt(i) !== 61) continue // no '=': the next must be ';' or the end
    i++
    if (i < n && line.charCodeAt(i) === 34) { // '"': a quoted-string
      i++
      for (;;) {
        if (i >= n) return -1 // not closed
        const c = line.charCodeAt(i)
        if (c === 34) { i++; break }
        if (c === 92) { // '\': quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
          const q = line.charCodeAt(i + 1)
          if (i + 1 >= n || !(q === 9 || (q >= 0x20 && q !== 0x7f))) return -1
          i += 2
          continue
        }
        // qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text
        if (!(c === 9 || c === 32 || c === 0x21 || (c >= 0x23 && c <= 0x7e) || c >= 0x80) || c > 0xff) return -1
        i++
      }
    } else {
      const value = i
      while (i < n && isTchar(line.charCodeAt(i))) i++
      if (i === value) return -1
    }
  }
  return size
}

/** Trailer fields that would frame the message: refused in a trailer section (RFC 9110 §6.5.1), as
 * llhttp refuses them. */
export function isFramingField (line: string): boolean {
  const colon = line.indexOf(':')
  const name = line.slice(0, colon).toLowerCase()
  return name === 'content-length' || name === 'transfer-encoding'
}

/**
 * Whether `line` (without its CRLF) is a field line: `token ":" OWS value OWS` with no control
 * character but HTAB in the value (obs-text allowed), and no leading whitespace (obs-fold is
 * refused, RFC 9112 §5.2). What the head's fields must be, and the trailer section's.
 */
export function isFieldLine (line: string): boolean {
  const colon = line.indexOf(':')
  if (colon <= 0) return false
  for (let i = 0; i < colon; i++) if (!isTchar(line.charCodeAt(i))) return false
  for (let i = colon + 1; i < line.length; i++) {
    const c = line.charCodeAt(i)
    if ((c < 0x20 && c !== 9) || c === 0x7f || c > 0xff) return false
  }
  return true
}

/** A request head as parseHead() read it, or the coded error it is refused with. */
export interface ParsedHead {
  /** null when the head is taken; else what to answer (400, 417, 431, 501) before closing. */
  error: IsopoolError | null
  /** The request line's method; '?' when there is no valid request line (a refusal to a head
   * that cannot be told to be HEAD's has a body). */
  method: string
  url: string
  http10: boolean
  /** The head text handed on (src/shared/head-text.ts): request line, then each field as sent,
   * its value without OWS. */
  head: string
  /** The body's length; -1 for chunked. */
  bodyLength: number
  /** Whether the connection may carry another request after this one. */
  keepAlive: boolean
  /** 100 Continue is owed once the body is asked for (HTTP/1.1, a body, Expect: 100-continue). */
  expectContinue: boolean
  /** The first Origin field's value, and the first X-Request-Id's; undefined when none came. The
   * services read these two on every request (CORS, the request id), and this loop sees every
   * name anyway: found here, they cost a length test per field rather than another scan of the
   * head text each (a case-insensitive RegExp, ~0.15 µs a request). */
  origin: string | undefined
  requestId: string | undefined
}

function refuse (method: string, error: IsopoolError): ParsedHead {
  return { error, method, url: '', http10: false, head: '', bodyLength: 0, keepAlive: false, expectContinue: false, origin: undefined, requestId: undefined }
}

const bad = (method: string, reason: string): ParsedHead => refuse(method, new IsopoolError('ISOPOOL_ERR_BAD_REQUEST', { reason }))

/**
 * Read a request head: `text` is its bytes as latin1, from the request line to the last field
 * line, without the empty line that ends it. Pure: what the connection does with the verdict (the
 * body's framing, the answer to a refusal) is the connection's.
 */
export function parseHead (text: string): ParsedHead {
  const lineEnd = text.indexOf('\r\n')
  const m = REQUEST_LINE.exec(lineEnd < 0 ? text : text.slice(0, lineEnd))
  if (m === null) return bad('?', 'invalid request line')
  const method = m[1]
  const url = m[2]
  const http10 = m[3] === '0'
  // Method tokens are case-sensitive: GET is a method this server implements, get is not.
  if (!isKnownMethod(method)) return refuse(method, new IsopoolError('ISOPOOL_ERR_METHOD_NOT_IMPLEMENTED', { method: JSON.stringify(method).slice(0, 40) }))
  const form = targetForm(url)
  if (form === 'authority') return bad(method, 'an authority-form target is only for CONNECT')
  if (form === 'asterisk' && method !== 'OPTIONS') return bad(method, 'an asterisk-form target is only for OPTIONS')
  let head = requestHead(method, url)
  let length = -2 // none yet
  let chunked = false
  let host = false
  let keepAlive = !http10
  let expectContinue = false
  let upgrade = 0 // 1: Connection lists upgrade; 2: an Upgrade field
  let origin: string | undefined
  let requestId: string | undefined
  let count = 0
  let at = lineEnd
  while (at >= 0) {
    const next = text.indexOf('\r\n', at + 2)
    const line = next < 0 ? text.slice(at + 2) : text.slice(at + 2, next)
    at = next
    if (++count > MAX_HEADERS) return refuse(method, new IsopoolError('ISOPOOL_ERR_HEADERS_TOO_LARGE'))
    const colon = line.indexOf(':')
    if (colon <= 0) return bad(method, 'invalid header line')
    const name = line.slice(0, colon)
    if (!TOKEN.test(name)) return bad(method, 'invalid header name')
    const value = trimOws(line.slice(colon + 1))
    if (BAD_VALUE.test(value)) return bad(method, `invalid character in header ${name}`)
    head = withField(head, name, value)
    // The fields that frame the message or steer the connection, told apart by length first.
    switch (name.length) {
      case 4:
        if (name.toLowerCase() === 'host') {
          if (host) return bad(method, 'duplicate host header')
          host = true
        }
        break
      case 6: {
        const lower = name.toLowerCase()
        // Expect is HTTP/1.1's: an HTTP/1.0 request's is ignored (RFC 9110 §10.1.1).
        if (!http10 && lower === 'expect') {
          if (value.toLowerCase() !== '100-continue') return refuse(method, new IsopoolError('ISOPOOL_ERR_EXPECTATION_FAILED', { expect: value }))
          expectContinue = true
        } else if (origin === undefined && lower === 'origin') {
          origin = value
        }
        break
      }
      case 7:
        if (value !== '' && name.toLowerCase() === 'upgrade') upgrade |= 2
        break
      case 10:
        if (name.toLowerCase() === 'connection') {
          if (CLOSE.test(value)) keepAlive = false
          else if (http10 && KEEP_ALIVE.test(value)) keepAlive = true
          if (UPGRADE.test(value)) upgrade |= 1
        }
        break
      case 12:
        if (requestId === undefined && (name.charCodeAt(0) | 0x20) === 0x78 && name.toLowerCase() === 'x-request-id') requestId = value // x
        break
      case 14:
        if (name.toLowerCase() === 'content-length') {
          // Digits only (leading zeros allowed), and once: a second Content-Length, even one
          // that says the same, is refused as llhttp refuses it (RFC 9112 §6.3 allows either);
          // framing an intermediary might read otherwise is never guessed at.
          if (length !== -2) return bad(method, 'more than one content-length header')
          length = parseContentLength(value)
          if (length < 0) return bad(method, 'invalid content-length')
        }
        break
      case 17:
        if (name.toLowerCase() === 'transfer-encoding') {
          // Only a single chunked (RFC 9112 §6.1: another coding is 501); a second
          // Transfer-Encoding line would append a coding. A HTAB after the coding is OWS to
          // RFC 9110 but not to llhttp, which then reads no chunked coding: refused, so that
          // neither reading is taken.
          if (TRAILING_TAB.test(line)) return bad(method, 'invalid transfer-encoding')
          if (chunked || value.toLowerCase() !== 'chunked') {
            return refuse(method, new IsopoolError('ISOPOOL_ERR_TRANSFER_CODING', { coding: chunked ? `chunked, ${value}` : value }))
          }
          chunked = true
        }
        break
    }
  }
  if (!http10 && !host) return bad(method, 'missing host header')
  if (chunked && length !== -2) return bad(method, 'both content-length and transfer-encoding')
  if (http10 && chunked) return bad(method, 'transfer-encoding on HTTP/1.0')
  // A protocol switch this server does not make (RFC 9110 §7.8 lets it answer as if none was
  // asked): the request is answered and the connection closed after it, so that the bytes the
  // client sends as the new protocol are never read as HTTP/1.1 requests, as llhttp never does.
  if (upgrade === 3) keepAlive = false
  const bodyLength = chunked ? -1 : length === -2 ? 0 : length
  return { error: null, method, url, http10, head, bodyLength, keepAlive, expectContinue: expectContinue && bodyLength !== 0, origin, requestId }
}

/**
 * Whether `line` (without its CRLF) may stand in a trailer section: a field line (isFieldLine),
 * and not one that would frame the message; a reason when not. Trailer fields are then dropped.
 */
export function trailerLineError (line: string): string | null {
  if (!isFieldLine(line)) return 'invalid trailer field'
  if (isFramingField(line)) return 'a trailer field may not frame the message'
  return null
}
