// Auth helpers: dependencies (see ./dependencies.ts) that read a request's credentials and
// resolve to who is calling — a JWT's payload, what a bearer token's verify() returns, an API
// key's principal, a Basic user — or answer 401 with their scheme's WWW-Authenticate challenge.
//
//   const user = jwt({ jwks: 'https://id.example.com/.well-known/jwks.json', algorithms: ['RS256'], audience: 'api' })
//   export const me = route({ method: 'GET', path: '/me', deps: { user } }, (req, { user }) => ({ sub: user.sub }))
//
// Everything a check needs is built when the helper is called, at its module's import (once per
// isolate): options checked, keys imported, known secrets hashed, challenges and 401s written.
// Per request a helper reads one header and runs its check. State is per isolate: each isolate
// fetches and caches a remote key set for itself.

import { createPublicKey, hash, KeyObject, timingSafeEqual, webcrypto } from 'node:crypto'
import { createRequire } from 'node:module'
import type { createLocalJWKSet as CreateLocalJWKSet } from 'jose/jwks/local'
import type { createRemoteJWKSet as CreateRemoteJWKSet } from 'jose/jwks/remote'
import type { jwtVerify as JwtVerify } from 'jose/jwt/verify'
import type { JSONWebKeySet, JWK, JWTPayload, JWTVerifyOptions, RemoteJWKSetOptions } from 'jose'
import { HttpError, IsopoolError } from '../shared/errors.ts'
import type { SecurityScheme } from '../shared/protocol.ts'
import { depends } from './dependencies.ts'
import type { Dependency } from './dependencies.ts'
import type { IsolateRequest } from './request.ts'

// ── credentials in headers: pure parsing ───────────────────────────────────────────────────

/** `Bearer <token68>` (RFC 6750 §2.1); the scheme's name is case-insensitive. */
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i
const BASIC = /^Basic +([A-Za-z0-9+/]+=*) *$/i
const SCHEME_BEARER = /^Bearer(?: |$)/i
const SCHEME_BASIC = /^Basic(?: |$)/i

/**
 * The token of an `Authorization: Bearer <token>` header: the token; null when there is no
 * header or it names another scheme (no bearer credentials were sent); false when it says Bearer
 * but what follows is not one token.
 */
export function bearerToken (header: unknown): string | null | false {
  if (typeof header !== 'string') return null
  const m = BEARER.exec(header)
  if (m !== null) return m[1]
  return SCHEME_BEARER.test(header) ? false : null
}

/**
 * The user and password of an `Authorization: Basic <base64(user:password)>` header (RFC 7617),
 * UTF-8; null when there is none or it names another scheme; false when it says Basic but is not
 * base64 of a `user:password` pair. The user is what precedes the first colon.
 */
export function basicCredentials (header: unknown): { user: string, password: string } | null | false {
  if (typeof header !== 'string') return null
  const m = BASIC.exec(header)
  if (m === null) return SCHEME_BASIC.test(header) ? false : null
  if (m[1].replace(/=+$/, '').length % 4 === 1) return false // no base64 ends like that
  const pair = Buffer.from(m[1], 'base64').toString('utf8')
  const colon = pair.indexOf(':')
  if (colon < 0) return false
  return { user: pair.slice(0, colon), password: pair.slice(colon + 1) }
}

// ── constant-time comparison ────────────────────────────────────────────────────────────────

/**
 * SHA-256 of a secret. Every digest has the same length, so timingSafeEqual can compare two
 * secrets of any lengths, and its time says nothing of how much of one matched.
 */
export function digest (secret: string | Uint8Array): Buffer {
  return hash('sha256', secret, 'buffer')
}

/** Whether two secrets are equal, in a time that does not depend on where they differ. */
export function safeEqual (a: string | Uint8Array, b: string | Uint8Array): boolean {
  return timingSafeEqual(digest(a), digest(b))
}

/** Where `presented` (a digest) is among the `known` digests, or -1. Compares with each of them,
 * found or not, so the time says nothing of which matched. */
export function findDigest (known: readonly Buffer[], presented: Buffer): number {
  let found = -1
  for (let i = 0; i < known.length; i++) {
    if (timingSafeEqual(known[i], presented) && found < 0) found = i
  }
  return found
}

// ── challenges and the 401 ──────────────────────────────────────────────────────────────────

/** What a quoted-string parameter of a challenge may hold as it is: visible ASCII and space,
 * without `"` and `\`. Realms and descriptions are ours, so they are kept to it, never escaped. */
const QUOTABLE = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/

/** `Scheme name="value", …` */
export function challenge (scheme: string, params: readonly (readonly [string, string])[]): string {
  return params.length === 0 ? scheme : `${scheme} ${params.map(([k, v]) => `${k}="${v}"`).join(', ')}`
}

/** The 401 of a failed check: coded ISOPOOL_ERR_UNAUTHORIZED, carrying the challenge. Made when
 * a helper is created (or on a reason's first use), then thrown as it is: a failed request only
 * looks it up, and a flood of bad credentials costs no stack trace each. */
function unauthorized (reason: string, wwwAuthenticate: string): HttpError {
  const message = new IsopoolError('ISOPOOL_ERR_UNAUTHORIZED', { reason }).message
  return new HttpError(401, message, { code: 'ISOPOOL_ERR_UNAUTHORIZED', headers: Object.freeze({ 'www-authenticate': wwwAuthenticate }) })
}

function badOption (option: string, reason: string): IsopoolError {
  return new IsopoolError('ISOPOOL_ERR_INVALID_OPTION', { option, reason })
}

function checkRealm (helper: string, realm: unknown): string {
  if (realm === undefined) return 'api'
  if (typeof realm !== 'string' || realm === '' || !QUOTABLE.test(realm)) throw badOption(`${helper}({ realm })`, 'must be a non-empty string of visible ASCII characters and spaces, without " and \\')
  return realm
}

/** The principal a user's check returned: `true` stands for the credential itself (`name`). */
type Principal<R, Name> = Exclude<Awaited<R>, boolean | null | undefined | 0 | ''> | (true extends Awaited<R> ? Name : never)

/** A user's check answered: falsy is a refusal, `true` the credential itself, else the principal. */
function verdict (value: unknown, credential: string, refused: HttpError): unknown {
  if (value === true) return credential
  if (!value) throw refused // false, null, undefined, 0, '': no principal
  return value
}

/** Apply verdict() to a check's answer, synchronously when the check was synchronous. */
function settle (value: unknown, credential: string, refused: HttpError): unknown {
  if (isThenable(value)) return Promise.resolve(value).then(v => verdict(v, credential, refused))
  return verdict(value, credential, refused)
}

/** A promise, or anything that a dependency's run would await as one. */
function isThenable (value: unknown): value is PromiseLike<unknown> {
  return value !== null && typeof value === 'object' && typeof (value as PromiseLike<unknown>).then === 'function'
}

// ── the security schemes, for the API document ─────────────────────────────────────────────

const SCHEMES = new WeakMap<Dependency, [name: string, scheme: SecurityScheme]>()

function withScheme<T> (dep: Dependency<T>, name: string, scheme: SecurityScheme): Dependency<T> {
  SCHEMES.set(dep, [name, scheme])
  return dep
}

/**
 * The security schemes of the auth helpers among a route's dependencies and what they need, by
 * scheme name; undefined when there are none. Each helper answers 401 when its check fails, so
 * a route requires every one it depends on.
 */
export function securitySchemes (deps: Record<string, unknown> | undefined): Record<string, SecurityScheme> | undefined {
  if (deps === undefined) return undefined
  let out: Record<string, SecurityScheme> | undefined
  const seen = new Set<unknown>()
  const visit = (dep: unknown): void => {
    if (typeof dep !== 'object' || dep === null || seen.has(dep)) return
    seen.add(dep)
    const found = SCHEMES.get(dep as Dependency)
    if (found !== undefined) (out ??= {})[found[0]] = found[1]
    const needs = (dep as Partial<Dependency>).needs
    if (typeof needs === 'object' && needs !== null) for (const d of Object.values(needs)) visit(d)
  }
  for (const d of Object.values(deps)) visit(d)
  return out
}

// ── bearer({ verify }) ─────────────────────────────────────────────────────────────────────

export interface BearerOptions<R> {
  /** Check a token: resolve to its principal; falsy, or a throw, refuses it (401). An HttpError
   * or IsopoolError it throws is the answer as it is (a 403, say). */
  verify: (token: string, req: IsolateRequest) => R
  /** The realm of the challenge. Default `api`. */
  realm?: string
}

/** The challenges and 401s of a Bearer scheme. */
interface BearerAnswers {
  /** No bearer credentials were sent. */
  missing: HttpError
  /** An Authorization header that says Bearer without one token. */
  malformed: HttpError
  /** The 401 for a token refused for `reason` (one of a few fixed sentences), made once each. */
  invalid: (reason: string) => HttpError
}

function bearerAnswers (realm: string): BearerAnswers {
  const made = new Map<string, HttpError>()
  return {
    missing: unauthorized('no bearer token was sent', challenge('Bearer', [['realm', realm]])),
    malformed: unauthorized('the Authorization header is not Bearer and one token', challenge('Bearer', [['realm', realm], ['error', 'invalid_request'], ['error_description', 'the Authorization header is not Bearer and one token']])),
    invalid (reason) {
      let err = made.get(reason)
      if (err === undefined) {
        err = unauthorized(reason, challenge('Bearer', [['realm', realm], ['error', 'invalid_token'], ['error_description', reason]]))
        made.set(reason, err)
      }
      return err
    }
  }
}

function tokenOf (req: IsolateRequest, answers: BearerAnswers): string {
  const token = bearerToken(req.headers.authorization)
  if (token === null) throw answers.missing
  if (token === false) throw answers.malformed
  return token
}

/**
 * A dependency that takes the token of `Authorization: Bearer <token>` and resolves to what
 * `verify(token, req)` returns for it. No token, a malformed header, or a token verify refuses
 * (falsy, or it throws) is a 401 with `WWW-Authenticate: Bearer realm="…"`.
 */
export function bearer<R> (options: BearerOptions<R>): Dependency<Principal<R, string> | Promise<Principal<R, string>>> {
  if (typeof options !== 'object' || options === null || typeof options.verify !== 'function') throw badOption('bearer({ verify })', 'must be a function (token, req) that returns the principal, or something falsy to refuse the token')
  const answers = bearerAnswers(checkRealm('bearer', options.realm))
  const refused = answers.invalid('the token is not accepted')
  const verify = options.verify
  const pass = (err: unknown): never => {
    throw err instanceof HttpError || err instanceof IsopoolError ? err : refused
  }
  const dep = depends(function bearer (req: IsolateRequest) {
    const token = tokenOf(req, answers)
    let value: unknown
    try {
      value = verify(token, req)
    } catch (err) {
      return pass(err)
    }
    if (isThenable(value)) return Promise.resolve(value).then(v => verdict(v, token, refused), pass)
    return verdict(value, token, refused)
  }) as Dependency<Principal<R, string> | Promise<Principal<R, string>>>
  return withScheme(dep, 'bearer', { type: 'http', scheme: 'bearer' })
}

// ── jwt(…) ───────────────────────────────────────────────────────────────────────────────────

export type JwtAlgorithm = 'HS256' | 'HS384' | 'HS512' | 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512' | 'ES256' | 'ES384' | 'ES512' | 'EdDSA' | 'Ed25519'

const HMAC: Record<string, string> = { HS256: 'SHA-256', HS384: 'SHA-384', HS512: 'SHA-512' }
const ASYMMETRIC = new Set(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'])
/** The algorithms a public key of each type can verify. */
const KEY_ALGORITHMS: Record<string, RegExp> = { rsa: /^(RS|PS)/, 'rsa-pss': /^PS/, ec: /^ES/, ed25519: /^(EdDSA|Ed25519)$/, ed448: /^EdDSA$/ }

export interface JwtOptions {
  /** HS256/384/512: the shared secret (a string is taken as its UTF-8 bytes). */
  secret?: string | Uint8Array
  /** The issuer's JSON Web Key Set: its URL (fetched on the first request, cached, fetched again
   * when a token names a key it lacks: rotation), or the set itself. */
  jwks?: string | URL | JSONWebKeySet
  /** One public key: a KeyObject, a CryptoKey, a JWK, or PEM (SPKI) text. */
  publicKey?: KeyObject | webcrypto.CryptoKey | JWK | string
  /** The `alg` values accepted, so that no token chooses how it is checked: required with jwks
   * or publicKey; with a secret, default ['HS256']. */
  algorithms?: readonly JwtAlgorithm[]
  /** The accepted `aud`: a token must name one of them. */
  audience?: string | readonly string[]
  /** The accepted `iss`. */
  issuer?: string | readonly string[]
  /** Leeway for `exp` and `nbf`: seconds, or a span such as `'30s'`. Default 0. */
  clockTolerance?: number | string
  /** Claims a token must have, such as `['exp']` (without, a token with no `exp` never expires). */
  requiredClaims?: readonly string[]
  /** For a `jwks` URL: how long a fetched set is used (`cacheMaxAge`, default 10 minutes), the
   * least time between two fetches (`cooldownDuration`, 30 s), the fetch's timeout
   * (`timeoutDuration`, 5 s), and headers to send. */
  jwksOptions?: Pick<RemoteJWKSetOptions, 'cacheMaxAge' | 'cooldownDuration' | 'timeoutDuration' | 'headers'>
  /** The realm of the challenge. Default `api`. */
  realm?: string
}

interface Jose {
  jwtVerify: typeof JwtVerify
  createLocalJWKSet: typeof CreateLocalJWKSet
  createRemoteJWKSet: typeof CreateRemoteJWKSet
}

let jose: Jose | undefined

/** jose's verifier and key sets, loaded by the first jwt() call (synchronously: require of an ES
 * module), so that an isolate serving no JWT route never loads them. */
function loadJose (): Jose {
  if (jose === undefined) {
    const require = createRequire(import.meta.url)
    jose = {
      jwtVerify: (require('jose/jwt/verify') as { jwtVerify: typeof JwtVerify }).jwtVerify,
      createLocalJWKSet: (require('jose/jwks/local') as { createLocalJWKSet: typeof CreateLocalJWKSet }).createLocalJWKSet,
      createRemoteJWKSet: (require('jose/jwks/remote') as { createRemoteJWKSet: typeof CreateRemoteJWKSet }).createRemoteJWKSet
    }
  }
  return jose
}

/**
 * Why jose refused a token, as a sentence for the client (the 401's message and
 * `error_description`, never a secret, never jose's own text); null when the failure is not the
 * token's (a key set that cannot be fetched, a key that cannot be used): then the server answers.
 */
export function tokenProblem (err: unknown): string | null {
  const e = err as { code?: unknown, claim?: unknown, reason?: unknown } | null
  if (typeof e !== 'object' || e === null) return null
  // The claim's name comes from jose (or from requiredClaims), yet it goes into a header: kept
  // to what a quoted string may hold as it is.
  const claim = typeof e.claim === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(e.claim) ? e.claim : undefined
  switch (e.code) {
    case 'ERR_JWT_EXPIRED': return 'the token has expired'
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      if (e.reason === 'missing') return claim === undefined ? 'the token lacks a required claim' : `the token has no ${claim} claim`
      if (claim === undefined) return 'a claim of the token is not accepted'
      if (e.reason === 'invalid') return `the token's ${claim} claim is not a number`
      if (claim === 'nbf') return 'the token is not valid yet'
      if (claim === 'aud') return 'the token is not meant for this audience'
      if (claim === 'iss') return 'the token\'s issuer is not accepted'
      if (claim === 'iat') return 'the token was issued in the future'
      return `the token's ${claim} claim is not accepted`
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED': return 'the token\'s signature does not verify'
    case 'ERR_JOSE_ALG_NOT_ALLOWED': return 'the token\'s algorithm is not accepted'
    case 'ERR_JWKS_NO_MATCHING_KEY': return 'no known key matches the token'
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
    case 'ERR_JOSE_NOT_SUPPORTED': return 'the token is malformed'
    default: return null
  }
}

type KeyInput = Parameters<typeof JwtVerify>[1]

/**
 * A dependency that verifies the JWT of `Authorization: Bearer <token>` — its signature, with
 * one of `algorithms`, and its `exp`, `nbf`, `aud` and `iss` — and resolves to its payload. A
 * missing or refused token is a 401 whose `WWW-Authenticate: Bearer realm="…",
 * error="invalid_token", error_description="…"` says why (expired, not yet valid, wrong audience
 * or issuer, bad signature, …). A key set that cannot be fetched is a 503
 * (ISOPOOL_ERR_AUTH_UNAVAILABLE), logged.
 */
export function jwt<P extends JWTPayload = JWTPayload> (options: JwtOptions): Dependency<Promise<P>> {
  const o = options as Partial<JwtOptions> | null
  if (typeof o !== 'object' || o === null) throw badOption('jwt()', 'takes { secret | jwks | publicKey, algorithms, audience?, issuer?, clockTolerance? }')
  const given = (['secret', 'jwks', 'publicKey'] as const).filter(k => o[k] !== undefined)
  if (given.length !== 1) throw badOption('jwt()', `needs exactly one of secret, jwks and publicKey; got ${given.length === 0 ? 'none' : given.join(' and ')}`)
  const algorithms = checkAlgorithms(o.algorithms, given[0] === 'secret')
  const answers = bearerAnswers(checkRealm('jwt', o.realm))
  const { jwtVerify, createLocalJWKSet, createRemoteJWKSet } = loadJose()

  let key: KeyInput
  let keySet: string | undefined
  if (o.secret !== undefined) key = hmacKeys(o.secret, algorithms)
  else if (o.publicKey !== undefined) key = publicKey(o.publicKey, algorithms)
  else if (typeof o.jwks === 'string' || o.jwks instanceof URL) {
    const url = jwksUrl(o.jwks)
    keySet = url.href
    try {
      key = createRemoteJWKSet(url, o.jwksOptions === undefined ? undefined : { ...o.jwksOptions })
    } catch (err) {
      throw badOption('jwt({ jwksOptions })', (err as Error).message)
    }
  } else {
    try {
      key = createLocalJWKSet(o.jwks as JSONWebKeySet)
    } catch (err) {
      throw badOption('jwt({ jwks })', `must be a URL or a JSON Web Key Set ({ keys: [...] }): ${(err as Error).message}`)
    }
  }
  const verifyOptions = checkClaimOptions(o, algorithms)

  const failure = (err: unknown): Error => {
    const problem = tokenProblem(err)
    if (problem !== null) return answers.invalid(problem)
    const what = keySet === undefined ? 'the token\'s key could not be used' : `the key set ${keySet} could not be used`
    return new IsopoolError('ISOPOOL_ERR_AUTH_UNAVAILABLE', { reason: `${what}: ${(err as Error)?.message ?? String(err)}` }, { cause: err })
  }
  const verify = async (token: string): Promise<P> => {
    try {
      return (await jwtVerify<P>(token, key as Parameters<typeof jwtVerify>[1], verifyOptions)).payload
    } catch (err) {
      // A token without a `kid` matches several keys of a set (during a rotation): try each.
      if ((err as { code?: unknown })?.code === 'ERR_JWKS_MULTIPLE_MATCHING_KEYS') return verifyEach(token, err as AsyncIterable<webcrypto.CryptoKey>)
      throw failure(err)
    }
  }
  const verifyEach = async (token: string, candidates: AsyncIterable<webcrypto.CryptoKey>): Promise<P> => {
    for await (const candidate of candidates) {
      try {
        return (await jwtVerify<P>(token, candidate, verifyOptions)).payload
      } catch (err) {
        if ((err as { code?: unknown })?.code !== 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED') throw failure(err)
      }
    }
    throw answers.invalid('the token\'s signature does not verify')
  }
  const dep = depends(function jwt (req: IsolateRequest) {
    return verify(tokenOf(req, answers))
  })
  return withScheme(dep, 'jwt', { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' })
}

function checkAlgorithms (value: unknown, secret: boolean): string[] {
  // A shared secret verifies HMAC only, whatever a token's header says: HS256 is the one almost
  // every issuer signs with. A public key's algorithm is the caller's to name.
  if (value === undefined && secret) return ['HS256']
  if (!Array.isArray(value) || value.length === 0) throw badOption('jwt({ algorithms })', 'must list the accepted algorithms, such as [\'HS256\'] or [\'RS256\']')
  for (const alg of value) {
    const known = Object.hasOwn(HMAC, alg) || ASYMMETRIC.has(alg)
    if (!known) throw badOption('jwt({ algorithms })', `${JSON.stringify(alg)} is not a JWS algorithm; known: ${[...Object.keys(HMAC), ...ASYMMETRIC].join(', ')}`)
    if (secret !== Object.hasOwn(HMAC, alg)) {
      throw badOption('jwt({ algorithms })', secret ? `${alg} needs a public key (jwks or publicKey), not a secret` : `${alg} needs a secret, not a public key`)
    }
  }
  return [...new Set(value as string[])]
}

/** One HMAC CryptoKey per algorithm, imported once: jose would import a raw secret again on every
 * verification. Their import is asynchronous, so the key is a function of the token's header
 * that waits for it (jose calls it after checking the header's `alg` is among `algorithms`). */
function hmacKeys (secret: unknown, algorithms: string[]): (header: { alg?: string }) => Promise<webcrypto.CryptoKey> {
  let bytes: Uint8Array
  if (typeof secret === 'string') bytes = new TextEncoder().encode(secret)
  else if (secret instanceof Uint8Array) bytes = new Uint8Array(secret)
  else throw badOption('jwt({ secret })', 'must be a string or a Uint8Array')
  if (bytes.byteLength === 0) throw badOption('jwt({ secret })', 'must not be empty')
  const keys = Promise.all(algorithms.map(async alg => [alg, await webcrypto.subtle.importKey('raw', bytes, { name: 'HMAC', hash: HMAC[alg] }, false, ['verify'])] as const))
    .then(entries => new Map(entries))
  keys.catch(() => {}) // a failure is each request's to report, not an unhandled rejection
  return async header => (await keys).get(header.alg as string) as webcrypto.CryptoKey
}

/** A public key as jose takes it, checked against `algorithms` now rather than per token. */
function publicKey (key: unknown, algorithms: string[]): KeyObject | webcrypto.CryptoKey {
  if (key instanceof CryptoKey) {
    if (key.type !== 'public') throw badOption('jwt({ publicKey })', `must be a public key, not a ${key.type} one`)
    return key
  }
  let object: KeyObject
  try {
    if (key instanceof KeyObject) object = key
    else if (typeof key === 'string') object = createPublicKey(key)
    else if (typeof key === 'object' && key !== null && typeof (key as JWK).kty === 'string') object = createPublicKey({ key: key as JWK & { kty: string }, format: 'jwk' })
    else throw new TypeError('must be a KeyObject, a CryptoKey, a JWK or PEM text')
  } catch (err) {
    throw badOption('jwt({ publicKey })', (err as Error).message)
  }
  if (object.type !== 'public') throw badOption('jwt({ publicKey })', `must be a public key, not a ${object.type} one${object.type === 'secret' ? ' (a shared secret is the secret option)' : ''}`)
  const fits = KEY_ALGORITHMS[object.asymmetricKeyType ?? '']
  const unfit = algorithms.filter(alg => fits === undefined || !fits.test(alg))
  if (unfit.length > 0) throw badOption('jwt({ algorithms })', `a ${object.asymmetricKeyType} key cannot verify ${unfit.join(', ')}`)
  return object
}

function jwksUrl (value: string | URL): URL {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw badOption('jwt({ jwks })', `${JSON.stringify(String(value))} is not a URL`)
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw badOption('jwt({ jwks })', `must be an http: or https: URL, not ${url.protocol}`)
  return url
}

function checkClaimOptions (o: Partial<JwtOptions>, algorithms: string[]): JWTVerifyOptions {
  const strings = (name: string, v: unknown, one: boolean): void => {
    if (v === undefined) return
    const list = one && typeof v === 'string' ? [v] : v
    if (!Array.isArray(list) || list.length === 0 || !list.every(s => typeof s === 'string' && s !== '')) {
      throw badOption(`jwt({ ${name} })`, one ? 'must be a non-empty string or array of them' : 'must be a non-empty array of non-empty strings')
    }
  }
  strings('audience', o.audience, true)
  strings('issuer', o.issuer, true)
  strings('requiredClaims', o.requiredClaims, false)
  const tolerance = o.clockTolerance
  if (tolerance !== undefined && !(typeof tolerance === 'number' && Number.isFinite(tolerance) && tolerance >= 0) && typeof tolerance !== 'string') {
    throw badOption('jwt({ clockTolerance })', 'must be a number of seconds (0 or more) or a span such as \'30s\'')
  }
  return {
    algorithms,
    ...(o.audience === undefined ? {} : { audience: typeof o.audience === 'string' ? o.audience : [...o.audience] }),
    ...(o.issuer === undefined ? {} : { issuer: typeof o.issuer === 'string' ? o.issuer : [...o.issuer] }),
    ...(tolerance === undefined ? {} : { clockTolerance: tolerance }),
    ...(o.requiredClaims === undefined ? {} : { requiredClaims: [...o.requiredClaims] })
  }
}

// ── apiKey(…) ────────────────────────────────────────────────────────────────────────────────

export interface ApiKeyOptions<K> {
  /** The header that carries the key. Default `x-api-key`. */
  header?: string
  /** The accepted keys: a list or Set (resolves to the key), a record from key to principal
   * (resolves to the principal), or a check `(key, req)` that returns the principal, `true`
   * (resolves to the key) or something falsy (401), or a promise of one. */
  keys: K
  /** The realm of the challenge. Default `api`. */
  realm?: string
}

type ApiKeyValue<K> = K extends readonly string[] | ReadonlySet<string> ? string
  : K extends (key: string, req: IsolateRequest) => infer R ? (R extends Promise<unknown> ? Promise<Principal<R, string>> : Principal<R, string>)
    : K extends Record<string, infer P> ? P : never

/**
 * A dependency that reads an API key from a header (`x-api-key` by default) and resolves to it,
 * or to the principal `keys` gives it. Keys are compared in constant time (as SHA-256 digests,
 * with every known key). A missing or unknown key is a 401 with
 * `WWW-Authenticate: ApiKey realm="…", header="x-api-key"`.
 */
export function apiKey<const K extends readonly string[] | ReadonlySet<string> | Record<string, unknown> | ((key: string, req: IsolateRequest) => unknown)> (options: ApiKeyOptions<K>): Dependency<ApiKeyValue<K>> {
  if (typeof options !== 'object' || options === null) throw badOption('apiKey()', 'takes { keys, header? }')
  const header = options.header ?? 'x-api-key'
  if (typeof header !== 'string' || !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(header)) throw badOption('apiKey({ header })', 'must be a header name')
  const name = header.toLowerCase()
  const realm = checkRealm('apiKey', options.realm)
  const wwwAuthenticate = challenge('ApiKey', [['realm', realm], ['header', name]])
  const missing = unauthorized(`no API key was sent in ${name}`, wwwAuthenticate)
  const refused = unauthorized('the API key is not accepted', wwwAuthenticate)
  const read = (req: IsolateRequest): string => {
    const value = req.headers[name]
    if (typeof value !== 'string' || value === '') throw missing
    return value
  }
  const keys = options.keys as unknown
  let check: (req: IsolateRequest) => unknown
  if (typeof keys === 'function') {
    check = (req) => {
      const key = read(req)
      return settle((keys as (key: string, req: IsolateRequest) => unknown)(key, req), key, refused)
    }
  } else {
    let entries: [string, unknown][]
    if (Array.isArray(keys) || keys instanceof Set) entries = [...keys as Iterable<unknown>].map(k => [k as string, k])
    else if (typeof keys === 'object' && keys !== null) entries = Object.entries(keys)
    else throw badOption('apiKey({ keys })', 'must be a list or Set of keys, a record from key to principal, or a function (key, req)')
    if (entries.length === 0) throw badOption('apiKey({ keys })', 'must hold at least one key')
    if (!entries.every(([k]) => typeof k === 'string' && k !== '')) throw badOption('apiKey({ keys })', 'must be non-empty strings')
    const known = entries.map(([k]) => digest(k))
    const principals = entries.map(([, p]) => p)
    check = (req) => {
      const at = findDigest(known, digest(read(req)))
      if (at < 0) throw refused
      return principals[at]
    }
  }
  const dep = depends(function apiKey (req: IsolateRequest) { return check(req) }) as Dependency<ApiKeyValue<K>>
  return withScheme(dep, name === 'x-api-key' ? 'apiKey' : `apiKey.${name}`, { type: 'apiKey', in: 'header', name })
}

// ── basic(…) ─────────────────────────────────────────────────────────────────────────────────

export interface BasicOptions<U> {
  /** The users: a record from name to password (resolves to the name), or a check
   * `(user, password, req)` that returns the principal, `true` (resolves to the name) or
   * something falsy (401), or a promise of one. */
  users: U
  /** The realm of the challenge. Default `api`. */
  realm?: string
}

type BasicValue<U> = U extends (user: string, password: string, req: IsolateRequest) => infer R
  ? (R extends Promise<unknown> ? Promise<Principal<R, string>> : Principal<R, string>)
  : string

/**
 * A dependency that checks `Authorization: Basic …` credentials and resolves to the user's name
 * (or the principal `users` returns). Passwords are compared in constant time (as SHA-256
 * digests; an unknown user is compared too). Missing, malformed or wrong credentials are a 401
 * with `WWW-Authenticate: Basic realm="…", charset="UTF-8"`.
 */
export function basic<const U extends Record<string, string> | ((user: string, password: string, req: IsolateRequest) => unknown)> (options: BasicOptions<U>): Dependency<BasicValue<U>> {
  if (typeof options !== 'object' || options === null) throw badOption('basic()', 'takes { users, realm? }')
  const realm = checkRealm('basic', options.realm)
  const wwwAuthenticate = challenge('Basic', [['realm', realm], ['charset', 'UTF-8']])
  const missing = unauthorized('no Basic credentials were sent', wwwAuthenticate)
  const malformed = unauthorized('the Authorization header is not Basic and base64 of user:password', wwwAuthenticate)
  const refused = unauthorized('wrong user name or password', wwwAuthenticate)
  const read = (req: IsolateRequest): { user: string, password: string } => {
    const credentials = basicCredentials(req.headers.authorization)
    if (credentials === null) throw missing
    if (credentials === false) throw malformed
    return credentials
  }
  const users = options.users as unknown
  let check: (req: IsolateRequest) => unknown
  if (typeof users === 'function') {
    check = (req) => {
      const { user, password } = read(req)
      return settle((users as (user: string, password: string, req: IsolateRequest) => unknown)(user, password, req), user, refused)
    }
  } else if (typeof users === 'object' && users !== null && !Array.isArray(users)) {
    const entries = Object.entries(users)
    if (entries.length === 0) throw badOption('basic({ users })', 'must hold at least one user')
    if (!entries.every(([, p]) => typeof p === 'string')) throw badOption('basic({ users })', 'must map each user name to its password (a string)')
    const passwords = new Map(entries.map(([u, p]) => [u, digest(p as string)]))
    // An unknown user's password is compared with this, so that a wrong name takes the time a
    // wrong password does.
    const nobody = digest('\0')
    check = (req) => {
      const { user, password } = read(req)
      const known = passwords.get(user)
      const match = timingSafeEqual(known ?? nobody, digest(password))
      if (!match || known === undefined) throw refused
      return user
    }
  } else {
    throw badOption('basic({ users })', 'must be a record from user name to password, or a function (user, password, req)')
  }
  const dep = depends(function basic (req: IsolateRequest) { return check(req) }) as Dependency<BasicValue<U>>
  return withScheme(dep, 'basic', { type: 'http', scheme: 'basic' })
}
