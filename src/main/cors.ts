// CORS on the main thread. Two kinds of request concern it:
//
//   OPTIONS + Origin + Access-Control-Request-Method   a preflight: answered 204 here, before
//                                                      routing, for any path (no OPTIONS route
//                                                      needed), and never sent to an isolate
//   anything else with an Origin                       the answer gets Access-Control-Allow-Origin
//                                                      (and -Credentials, -Expose-Headers) in
//                                                      res.extra, so a 404, a 413, a 503 or a
//                                                      504 carries them as a handler's answer does
//
// An origin the policy refuses gets no CORS field at all (a preflight still gets its 204): the
// browser then refuses the answer to the page, which is all CORS can do; a server never trusts
// CORS to keep a request out. Whenever the answer depends on the Origin (any policy but a plain
// `*`), every answer says `Vary: Origin`, so a cache never gives one origin's answer to another.
//
// Everything but the Origin test is worked out once: the fields are constant strings, and the
// origin matcher is compiled from the option (a Set for listed origins, RegExps without state).

import type { CorsOptions } from './options.ts'
import { knownKeys } from './options.ts'
import { headLines } from './http1.ts'
import type { Http1Request, Http1Response } from './http1.ts'
import { fieldListReader, fieldReader } from './request-fields.ts'
import { badOption } from './services.ts'
import type { RequestService } from './services.ts'

/** Whether an Origin is allowed. */
export type OriginMatcher = (origin: string) => boolean

/** The methods a preflight allows by default: those isopool routes. */
const DEFAULT_METHODS = ['GET', 'HEAD', 'PUT', 'PATCH', 'POST', 'DELETE']
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const readRequestMethod = fieldReader('access-control-request-method')
const readRequestHeaders = fieldListReader('access-control-request-headers')

const CORS_OPTION_NAMES: { [K in keyof Required<CorsOptions>]: true } = {
  origin: true, credentials: true, methods: true, allowedHeaders: true, exposedHeaders: true, maxAge: true
}

/** A RegExp as a matcher: a copy without the g and y flags, whose test() would keep state. */
function regexpMatcher (re: RegExp): RegExp {
  return re.global || re.sticky ? new RegExp(re.source, re.flags.replace(/[gy]/g, '')) : re
}

/**
 * The Origin test of a cors `origin` option, compiled once: true or `*` (any), false (none), an
 * exact origin, a RegExp, a list of both, or a function (called per request).
 * Throws ISOPOOL_ERR_INVALID_OPTION for anything else.
 */
export function compileOrigin (option: unknown): OriginMatcher {
  if (option === undefined || option === true || option === '*') return () => true
  if (option === false) return () => false
  if (typeof option === 'string') return (origin) => origin === option
  if (option instanceof RegExp) {
    const re = regexpMatcher(option)
    return (origin) => re.test(origin)
  }
  if (typeof option === 'function') {
    const fn = option as (origin: string) => unknown
    return (origin) => fn(origin) === true
  }
  if (Array.isArray(option)) {
    const exact = new Set<string>()
    const patterns: RegExp[] = []
    for (const o of option) {
      if (typeof o === 'string') exact.add(o)
      else if (o instanceof RegExp) patterns.push(regexpMatcher(o))
      else badOption('cors.origin', `a list of origins may hold strings and RegExps, got ${o === null ? 'null' : typeof o}`)
    }
    if (patterns.length === 0) return (origin) => exact.has(origin)
    return (origin) => {
      if (exact.has(origin)) return true
      for (let i = 0; i < patterns.length; i++) if (patterns[i].test(origin)) return true
      return false
    }
  }
  return badOption('cors.origin', `must be true, false, an origin, a RegExp, a list of origins and RegExps, or a function, got ${option === null ? 'null' : typeof option}`)
}

/** The cors option checked and with its defaults. */
interface CorsPolicy {
  matches: OriginMatcher
  /** Access-Control-Allow-Origin is `*` (any origin, no credentials); else the Origin, echoed. */
  star: boolean
  credentials: boolean
  /** Access-Control-Allow-Methods. */
  methods: string
  /** Access-Control-Allow-Headers, or null to echo Access-Control-Request-Headers. */
  allowedHeaders: string | null
  /** Access-Control-Expose-Headers, or null for none. */
  exposedHeaders: string | null
  /** Access-Control-Max-Age, or null for none. */
  maxAge: string | null
}

function tokenList (option: string, value: unknown): string | null {
  if (value === undefined) return null
  if (!Array.isArray(value) || !value.every(v => typeof v === 'string' && TOKEN.test(v))) {
    badOption(option, 'must be a list of header or method names')
  }
  return (value as string[]).join(', ')
}

/** The cors option, checked once: null when it is off. */
export function corsPolicy (option: unknown): CorsPolicy | null {
  if (option === undefined || option === false) return null
  if (option !== true) knownKeys(option, CORS_OPTION_NAMES, 'cors.')
  const o = (option === true ? {} : option) as CorsOptions
  if (o.credentials !== undefined && typeof o.credentials !== 'boolean') badOption('cors.credentials', 'must be true or false')
  const credentials = o.credentials === true
  if (o.maxAge !== undefined && (typeof o.maxAge !== 'number' || !Number.isInteger(o.maxAge) || o.maxAge < 0)) {
    badOption('cors.maxAge', `must be a whole number of seconds, got ${String(o.maxAge)}`)
  }
  return {
    matches: compileOrigin(o.origin),
    // `*` only when asked for by name: `true` echoes the origin (so credentials can work), and
    // with credentials a browser refuses `*`.
    star: o.origin === '*' && !credentials,
    credentials,
    methods: tokenList('cors.methods', o.methods) ?? DEFAULT_METHODS.join(', '),
    allowedHeaders: tokenList('cors.allowedHeaders', o.allowedHeaders),
    exposedHeaders: tokenList('cors.exposedHeaders', o.exposedHeaders),
    maxAge: o.maxAge === undefined ? null : String(o.maxAge)
  }
}


/** The CORS service, or null when the cors option is off. */
export function corsService (option: unknown): RequestService | null {
  const p = corsPolicy(option)
  if (p === null) return null
  const { matches, star, credentials, methods, allowedHeaders, exposedHeaders, maxAge } = p
  // The constant parts of each answer, built once.
  const varyOnly: readonly string[] = star ? [] : ['vary', 'Origin']
  const simpleTail: string[] = []
  if (credentials) simpleTail.push('access-control-allow-credentials', 'true')
  if (exposedHeaders !== null) simpleTail.push('access-control-expose-headers', exposedHeaders)
  if (!star) simpleTail.push('vary', 'Origin')
  const starFields: readonly string[] = ['access-control-allow-origin', '*', ...simpleTail]
  const preflightTail: string[] = ['access-control-allow-methods', methods]
  if (credentials) preflightTail.push('access-control-allow-credentials', 'true')
  if (allowedHeaders !== null) preflightTail.push('access-control-allow-headers', allowedHeaders)
  if (maxAge !== null) preflightTail.push('access-control-max-age', maxAge)
  const preflightVary = [star ? '' : 'Origin', allowedHeaders === null ? 'Access-Control-Request-Headers' : ''].filter(v => v !== '').join(', ')
  if (preflightVary !== '') preflightTail.push('vary', preflightVary)
  const refusedPreflight: readonly string[] = star ? [] : ['vary', 'Origin']
  // …and as head lines (res.extra) for every other answer.
  const varyLine = headLines(varyOnly)
  const tailLines = headLines(simpleTail)
  const starLines = headLines(starFields)

  const preflight = (req: Http1Request, res: Http1Response, origin: string): void => {
    let fields: string[]
    if (!matches(origin)) {
      fields = refusedPreflight.slice()
    } else {
      fields = ['access-control-allow-origin', star ? '*' : origin, ...preflightTail]
      if (allowedHeaders === null) {
        const asked = readRequestHeaders(req.head)
        if (asked !== undefined && asked !== '') fields.push('access-control-allow-headers', asked)
      }
    }
    // No Content-Length: a 204 has no body, and says nothing of one (RFC 9110 §8.6).
    res.writeHead(204, fields, true)
    res.end()
  }

  return {
    begin (req: Http1Request, res: Http1Response): boolean {
      const origin = req.origin // the first Origin, found by the head's parser
      if (origin === undefined) {
        res.extra += varyLine
        return true
      }
      if (req.method === 'OPTIONS' && readRequestMethod(req.head) !== undefined) {
        preflight(req, res, origin)
        return false
      }
      // The Origin echoed is a field value the HTTP layer has checked (no CR, LF or NUL).
      if (star) res.extra += starLines
      else if (matches(origin)) res.extra += 'access-control-allow-origin: ' + origin + '\r\n' + tailLines
      else res.extra += varyLine
      return true
    }
  }
}
