// Rate limits: a token bucket per key (token-bucket.ts) on the main thread, so a limit holds over
// every isolate together. Checked once a request has matched a route (builtins such as /healthz,
// unknown paths and preflights are never limited), before it waits for an isolate:
//
//   route.rateLimit   undefined → the server's rateLimit (if any) · false → none
//                     { max, window } → the route's own buckets (the same key as the server's)
//
// Every limited answer — the handler's, or the 429 — says where its client stands, in the IETF
// draft's fields (draft-ietf-httpapi-ratelimit-headers-07: one combined field and the policy),
// and with `legacyHeaders: true` in the older draft's separate ones too (draft 06, what some
// clients still read):
//
//   ratelimit: limit=100, remaining=42, reset=37          ratelimit-policy: 100;w=60
//   ratelimit-limit: 100      ratelimit-remaining: 42      ratelimit-reset: 37   (legacyHeaders)
//
// and a 429 carries Retry-After, the seconds until its bucket has a token again, and the separate
// fields whatever legacyHeaders says (refusals are rare; they are what a client's back-off reads).
//
// Per request: the key (req.ip, one field lookup, or the user's function), one map lookup and
// the arithmetic, two fields in res.extra (the separate ones are three more: bytes every answer
// carries and every client parses, which cost more than all the rest — bench/README.md). A
// route's own limiter is found once per route of a generation of routes (a WeakMap), and kept
// across reloads by method, path and limit.

import { IsopoolError } from '../shared/errors.ts'
import { headLines, writeError } from './http1.ts'
import type { Http1Request, Http1Response } from './http1.ts'
import { knownKeys } from './options.ts'
import type { RateLimitOptions, RouteRateLimit } from './options.ts'
import { fieldReader, fieldRecord } from './request-fields.ts'
import { badOption } from './services.ts'
import type { AdmittedRoute, RequestService } from './services.ts'
import { TokenBuckets } from './token-bucket.ts'

const MAX_MS = 0x7fffffff
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const RATE_LIMIT_OPTION_NAMES: { [K in keyof Required<RateLimitOptions>]: true } = { max: true, window: true, key: true, legacyHeaders: true }
const ROUTE_RATE_LIMIT_NAMES: { [K in keyof Required<RouteRateLimit>]: true } = { max: true, window: true }

/** What is wrong with a route's `rateLimit` (false, or { max, window } in whole numbers), or null. */
export function routeRateLimitProblem (value: unknown): string | null {
  if (value === undefined || value === false) return null
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'rateLimit must be false or { max, window }'
  for (const k of Object.keys(value)) if (!Object.hasOwn(ROUTE_RATE_LIMIT_NAMES, k)) return `rateLimit has no option "${k}" (a route's limit takes max and window; the key is the server's)`
  const { max, window } = value as Record<string, unknown>
  if (!isCount(max, 1e9)) return `rateLimit.max must be an integer from 1 to 1000000000, got ${String(max)}`
  if (!isCount(window, MAX_MS)) return `rateLimit.window must be an integer of milliseconds from 1 to ${MAX_MS}, got ${String(window)}`
  return null
}

function isCount (v: unknown, max: number): boolean {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= max
}

/** The key function of the rateLimit option's `key`, built once. */
function compileKey (key: RateLimitOptions['key']): (req: Http1Request) => string {
  if (key === undefined || key === 'ip') return (req) => req.ip
  if (typeof key === 'function') {
    return (req) => String(key({ method: req.method, url: req.url, ip: req.ip, headers: fieldRecord(req.head) }))
  }
  if (typeof key !== 'string' || !TOKEN.test(key)) badOption('rateLimit.key', 'must be \'ip\', a request header\'s name, or a function of the request')
  const read = fieldReader(key as string)
  // A request without the header counts by its address: a client cannot escape its limit by
  // leaving the header out.
  return (req) => read(req.head) ?? req.ip
}

/** One limit: its buckets and the fields that never change. */
interface Limiter {
  buckets: TokenBuckets
  /** The start of the combined field, up to its remaining count: `ratelimit: limit=N, remaining=`. */
  combined: string
  /** The lines every answer gets that never change: ratelimit-policy (and ratelimit-limit). */
  fixed: string
  /** Also the separate fields (legacyHeaders). */
  legacy: boolean
  /** The end of the lines from the combined field's reset on, for the reset they were made
   * for: it changes at most once a second for a key, and most answers find it made. */
  reset: number
  tail: string
}

function limiter (max: number, window: number, legacy: boolean, now: () => number): Limiter {
  const policy = `${max};w=${Math.ceil(window / 1000)}`
  return {
    buckets: new TokenBuckets(max, window, now),
    combined: `ratelimit: limit=${max}, remaining=`,
    fixed: headLines(legacy ? ['ratelimit-policy', policy, 'ratelimit-limit', String(max)] : ['ratelimit-policy', policy]),
    legacy,
    reset: -1,
    tail: ''
  }
}

/**
 * The rate-limit service. There is one whatever the options say: a route may bring its own limit
 * (server.route()'s options, or a route() declaration found in an isolate) after the services
 * are made. A request on a route without a limit pays one property read and one comparison.
 */
export function rateLimitService (option: unknown, clock?: () => number): RequestService {
  const now = clock ?? ((): number => performance.now())
  let global: Limiter | null = null
  let keyOf: (req: Http1Request) => string = (req) => req.ip
  let legacy = false
  if (option !== undefined && option !== false) {
    knownKeys(option, RATE_LIMIT_OPTION_NAMES, 'rateLimit.')
    const o = option as RateLimitOptions
    if (!isCount(o.max, 1e9)) badOption('rateLimit.max', `must be an integer from 1 to 1000000000, got ${String(o.max)}`)
    if (!isCount(o.window, MAX_MS)) badOption('rateLimit.window', `must be an integer of milliseconds from 1 to ${MAX_MS}, got ${String(o.window)}`)
    if (o.legacyHeaders !== undefined && typeof o.legacyHeaders !== 'boolean') badOption('rateLimit.legacyHeaders', `must be true or false, got ${typeof o.legacyHeaders}`)
    legacy = o.legacyHeaders === true
    keyOf = compileKey(o.key)
    global = limiter(o.max, o.window, legacy, now)
  }
  const byRoute = new WeakMap<AdmittedRoute, Limiter>()
  /** Routes' own limiters by method, path and limit: a reload's routes find their buckets. */
  const kept = new Map<string, Limiter>()
  const routeLimiter = (route: AdmittedRoute, own: RouteRateLimit): Limiter => {
    let l = byRoute.get(route)
    if (l !== undefined) return l
    const name = `${route.method} ${route.path} ${own.max}/${own.window}`
    l = kept.get(name)
    if (l === undefined) kept.set(name, l = limiter(own.max, own.window, legacy, now))
    byRoute.set(route, l)
    return l
  }

  return {
    admit (req: Http1Request, res: Http1Response, route: AdmittedRoute): boolean {
      const own = route.rateLimit
      let l: Limiter
      if (own === undefined) {
        if (global === null) return true
        l = global
      } else if (own === false) {
        return true
      } else {
        l = routeLimiter(route, own)
      }
      const b = l.buckets
      // The request's start (read by the server, microseconds ago in this same call) is the
      // bucket's time too: one clock read a request fewer. With a clock of the caller's, that
      // clock.
      const ok = b.take(keyOf(req), clock === undefined && req.startedAt > 0 ? req.startedAt : now())
      const reset = Math.ceil(b.resetMs / 1000)
      // Head lines, not fields: the constant ones were joined when the limit was made, the rest
      // from the reset on when the reset last changed.
      if (l.legacy) {
        const remaining = String(b.remaining)
        res.extra += l.combined + remaining + ', reset=' + reset + '\r\nratelimit-remaining: ' + remaining +
          '\r\nratelimit-reset: ' + reset + '\r\n' + l.fixed
      } else {
        if (reset !== l.reset) {
          l.reset = reset
          l.tail = ', reset=' + reset + '\r\n' + l.fixed
        }
        res.extra += l.combined + b.remaining + l.tail
      }
      if (ok) return true
      const retry = Math.ceil(b.retryMs / 1000)
      // A refusal is rare and is what a client's back-off reads, so it carries the older draft's
      // three fields too, whatever legacyHeaders says: clients of either draft find the numbers.
      const fields = l.legacy
        ? ['retry-after', String(retry)]
        : ['retry-after', String(retry), 'ratelimit-limit', String(b.max), 'ratelimit-remaining', String(b.remaining), 'ratelimit-reset', String(reset)]
      writeError(res, new IsopoolError('ISOPOOL_ERR_RATE_LIMITED', { max: b.max, window: b.window, retry }), fields)
      return false
    }
  }
}
