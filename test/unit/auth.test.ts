// The auth helpers (src/isolate/auth.ts) without sockets: reading credentials from headers, the
// constant-time comparison, what a jose failure is called, options refused at creation, and the
// helpers' checks run on a request object of their own.
import { describe, expect, it } from 'vitest'
import { generateKeyPairSync } from 'node:crypto'
import { SignJWT } from 'jose'
import {
  apiKey, basic, basicCredentials, bearer, bearerToken, challenge, digest, findDigest, jwt, safeEqual, securitySchemes, tokenProblem
} from '../../src/isolate/auth.ts'
import { depends } from '../../src/isolate/dependencies.ts'
import type { Dependency } from '../../src/isolate/dependencies.ts'
import type { IsolateRequest } from '../../src/isolate/request.ts'
import { HttpError } from '../../src/shared/errors.ts'

const req = (headers: Record<string, string> = {}): IsolateRequest => ({ headers }) as unknown as IsolateRequest
const run = (dep: Dependency, headers: Record<string, string> = {}): unknown => (dep.fn as (req: IsolateRequest, deps: object) => unknown)(req(headers), {})

/** What a helper's check threw, synchronously or as a rejection. */
async function refusal (f: () => unknown): Promise<HttpError> {
  try {
    await f()
  } catch (err) {
    expect(err).toBeInstanceOf(HttpError)
    return err as HttpError
  }
  throw new Error('expected a refusal')
}

describe('bearerToken', () => {
  it('takes the token68 after Bearer, whatever the scheme\'s case', () => {
    expect(bearerToken('Bearer abc.DEF-_~+/=')).toBe('abc.DEF-_~+/=')
    expect(bearerToken('bearer   abc  ')).toBe('abc')
    expect(bearerToken('BEARER a==')).toBe('a==')
  })

  it('is null without bearer credentials, false for a malformed Bearer header', () => {
    for (const none of [undefined, '', 'Basic YTpi', 'Bearerabc', 'Token abc', ['Bearer abc']]) expect(bearerToken(none)).toBeNull()
    for (const bad of ['Bearer', 'Bearer ', 'Bearer a b', 'Bearer a=b', 'Bearer ä', 'Bearer "a"']) expect(bearerToken(bad)).toBe(false)
  })
})

describe('basicCredentials', () => {
  const b64 = (s: string): string => Buffer.from(s).toString('base64')

  it('splits user and password at the first colon, as UTF-8', () => {
    expect(basicCredentials(`Basic ${b64('ada:love:lace')}`)).toEqual({ user: 'ada', password: 'love:lace' })
    expect(basicCredentials(`basic ${b64('émile:')}`)).toEqual({ user: 'émile', password: '' })
    expect(basicCredentials(`Basic ${b64(':secret')}`)).toEqual({ user: '', password: 'secret' })
  })

  it('is null without Basic credentials, false for a malformed Basic header', () => {
    for (const none of [undefined, '', 'Bearer abc', 'Basicabc']) expect(basicCredentials(none)).toBeNull()
    for (const bad of ['Basic', 'Basic ', `Basic ${b64('no colon')}`, 'Basic !!!!', 'Basic a', 'Basic abcde', `Basic ${b64('a:b')} x`]) expect(basicCredentials(bad)).toBe(false)
  })
})

describe('constant-time comparison', () => {
  it('compares secrets of any lengths through equal-length digests', () => {
    expect(digest('x').byteLength).toBe(32)
    expect(digest(new Uint8Array(1000)).byteLength).toBe(32)
    expect(safeEqual('secret', 'secret')).toBe(true)
    expect(safeEqual('secret', 'secret!')).toBe(false)
    expect(safeEqual('', 'a')).toBe(false)
    expect(safeEqual(new TextEncoder().encode('é'), 'é')).toBe(true)
  })

  it('finds a digest among the known ones, the first that matches, or -1', () => {
    const known = ['a', 'b', 'a'].map(digest)
    expect(findDigest(known, digest('a'))).toBe(0)
    expect(findDigest(known, digest('b'))).toBe(1)
    expect(findDigest(known, digest('c'))).toBe(-1)
    expect(findDigest([], digest('a'))).toBe(-1)
  })
})

describe('challenge', () => {
  it('writes the scheme and its quoted parameters', () => {
    expect(challenge('Bearer', [])).toBe('Bearer')
    expect(challenge('Bearer', [['realm', 'api'], ['error', 'invalid_token']])).toBe('Bearer realm="api", error="invalid_token"')
  })
})

describe('tokenProblem', () => {
  const claimError = (claim: string, reason: string): object => ({ code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim, reason })

  it('names what is wrong with the token', () => {
    expect(tokenProblem({ code: 'ERR_JWT_EXPIRED', claim: 'exp' })).toBe('the token has expired')
    expect(tokenProblem(claimError('nbf', 'check_failed'))).toBe('the token is not valid yet')
    expect(tokenProblem(claimError('aud', 'check_failed'))).toBe('the token is not meant for this audience')
    expect(tokenProblem(claimError('iss', 'check_failed'))).toBe('the token\'s issuer is not accepted')
    expect(tokenProblem(claimError('iat', 'check_failed'))).toBe('the token was issued in the future')
    expect(tokenProblem(claimError('sub', 'check_failed'))).toBe('the token\'s sub claim is not accepted')
    expect(tokenProblem(claimError('exp', 'missing'))).toBe('the token has no exp claim')
    expect(tokenProblem(claimError('exp', 'invalid'))).toBe('the token\'s exp claim is not a number')
    expect(tokenProblem({ code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' })).toBe('the token\'s signature does not verify')
    expect(tokenProblem({ code: 'ERR_JOSE_ALG_NOT_ALLOWED' })).toBe('the token\'s algorithm is not accepted')
    expect(tokenProblem({ code: 'ERR_JWKS_NO_MATCHING_KEY' })).toBe('no known key matches the token')
    for (const code of ['ERR_JWS_INVALID', 'ERR_JWT_INVALID', 'ERR_JOSE_NOT_SUPPORTED']) expect(tokenProblem({ code })).toBe('the token is malformed')
  })

  it('keeps a claim name that a header could not carry out of the sentence', () => {
    expect(tokenProblem(claimError('a"b', 'missing'))).toBe('the token lacks a required claim')
    expect(tokenProblem(claimError('a\\b', 'check_failed'))).toBe('a claim of the token is not accepted')
  })

  it('is null for failures that are not the token\'s', () => {
    for (const err of [{ code: 'ERR_JWKS_TIMEOUT' }, { code: 'ERR_JWKS_INVALID' }, { code: 'ERR_JOSE_GENERIC' }, new TypeError('fetch failed'), null, 'boom', undefined]) {
      expect(tokenProblem(err)).toBeNull()
    }
  })
})

describe('options refused at creation', () => {
  const refused = (f: () => unknown, option: string, reason: string | RegExp): void => {
    let thrown: unknown
    try { f() } catch (err) { thrown = err }
    expect(thrown).toMatchObject({ code: 'ISOPOOL_ERR_INVALID_OPTION' })
    const message = (thrown as Error).message
    expect(message.startsWith(`Invalid option ${option}: `)).toBe(true)
    if (typeof reason === 'string') expect(message).toContain(reason)
    else expect(message).toMatch(reason)
  }
  const { publicKey: rsaPublic, privateKey: rsaPrivate } = generateKeyPairSync('rsa', { modulusLength: 2048 })

  it('jwt(): one key source, the algorithms it can verify, claim options of the right types', () => {
    refused(() => jwt({ algorithms: ['HS256'] } as never), 'jwt()', 'needs exactly one of secret, jwks and publicKey; got none')
    refused(() => jwt({ secret: 's', publicKey: rsaPublic, algorithms: ['HS256'] }), 'jwt()', 'got secret and publicKey')
    refused(() => jwt({ publicKey: rsaPublic } as never), 'jwt({ algorithms })', 'must list the accepted algorithms')
    expect(() => jwt({ secret: 's' })).not.toThrow() // HS256
    refused(() => jwt({ secret: 's', algorithms: [] }), 'jwt({ algorithms })', 'must list the accepted algorithms')
    refused(() => jwt({ secret: 's', algorithms: ['none' as 'HS256'] }), 'jwt({ algorithms })', '"none" is not a JWS algorithm')
    refused(() => jwt({ secret: 's', algorithms: ['RS256'] }), 'jwt({ algorithms })', 'RS256 needs a public key (jwks or publicKey), not a secret')
    refused(() => jwt({ publicKey: rsaPublic, algorithms: ['HS256'] }), 'jwt({ algorithms })', 'HS256 needs a secret, not a public key')
    refused(() => jwt({ publicKey: rsaPublic, algorithms: ['ES256'] }), 'jwt({ algorithms })', 'a rsa key cannot verify ES256')
    refused(() => jwt({ publicKey: rsaPrivate, algorithms: ['RS256'] }), 'jwt({ publicKey })', 'must be a public key, not a private one')
    refused(() => jwt({ publicKey: 'not pem', algorithms: ['RS256'] }), 'jwt({ publicKey })', /./)
    refused(() => jwt({ publicKey: 42 as never, algorithms: ['RS256'] }), 'jwt({ publicKey })', 'must be a KeyObject, a CryptoKey, a JWK or PEM text')
    refused(() => jwt({ secret: '', algorithms: ['HS256'] }), 'jwt({ secret })', 'must not be empty')
    refused(() => jwt({ secret: 7 as never, algorithms: ['HS256'] }), 'jwt({ secret })', 'must be a string or a Uint8Array')
    refused(() => jwt({ jwks: 'not a url', algorithms: ['RS256'] }), 'jwt({ jwks })', 'is not a URL')
    refused(() => jwt({ jwks: 'file:///etc/jwks.json', algorithms: ['RS256'] }), 'jwt({ jwks })', 'must be an http: or https: URL, not file:')
    refused(() => jwt({ jwks: { keys: 'none' } as never, algorithms: ['RS256'] }), 'jwt({ jwks })', 'must be a URL or a JSON Web Key Set')
    refused(() => jwt({ jwks: 'https://id.test/jwks', jwksOptions: { timeoutDuration: -1 }, algorithms: ['RS256'] }), 'jwt({ jwksOptions })', 'timeoutDuration')
    refused(() => jwt({ secret: 's', algorithms: ['HS256'], audience: 3 as never }), 'jwt({ audience })', 'must be a non-empty string or array of them')
    refused(() => jwt({ secret: 's', algorithms: ['HS256'], issuer: [] }), 'jwt({ issuer })', 'must be a non-empty string or array of them')
    refused(() => jwt({ secret: 's', algorithms: ['HS256'], requiredClaims: [] }), 'jwt({ requiredClaims })', 'must be a non-empty array of non-empty strings')
    refused(() => jwt({ secret: 's', algorithms: ['HS256'], requiredClaims: 'exp' as never }), 'jwt({ requiredClaims })', 'must be a non-empty array of non-empty strings')
    refused(() => jwt({ secret: 's', algorithms: ['HS256'], clockTolerance: -1 }), 'jwt({ clockTolerance })', 'must be a number of seconds')
    refused(() => jwt({ secret: 's', algorithms: ['HS256'], realm: 'a "quoted" realm' }), 'jwt({ realm })', 'without " and \\')
  })

  it('bearer(), apiKey(), basic(): what they need', () => {
    refused(() => bearer({} as never), 'bearer({ verify })', 'must be a function')
    refused(() => apiKey({ keys: [] }), 'apiKey({ keys })', 'must hold at least one key')
    refused(() => apiKey({ keys: [''] }), 'apiKey({ keys })', 'must be non-empty strings')
    refused(() => apiKey({ keys: 'k' as never }), 'apiKey({ keys })', 'must be a list or Set of keys')
    refused(() => apiKey({ keys: ['k'], header: 'x api key' }), 'apiKey({ header })', 'must be a header name')
    refused(() => basic({ users: {} }), 'basic({ users })', 'must hold at least one user')
    refused(() => basic({ users: { ada: 1 } as never }), 'basic({ users })', 'must map each user name to its password')
    refused(() => basic({ users: ['ada'] as never }), 'basic({ users })', 'must be a record from user name to password')
  })

  it('accepts every key source jwt() takes', () => {
    const jwk = rsaPublic.export({ format: 'jwk' })
    expect(() => jwt({ publicKey: rsaPublic.export({ format: 'pem', type: 'spki' }) as string, algorithms: ['RS256', 'PS256'] })).not.toThrow()
    expect(() => jwt({ publicKey: jwk, algorithms: ['RS256'] })).not.toThrow()
    expect(() => jwt({ jwks: { keys: [jwk] }, algorithms: ['RS256'] })).not.toThrow()
    expect(() => jwt({ jwks: new URL('https://id.test/jwks.json'), algorithms: ['ES256', 'EdDSA'] })).not.toThrow()
    expect(() => jwt({ secret: new Uint8Array(32), algorithms: ['HS256', 'HS512'] })).not.toThrow()
  })
})

describe('the checks, on a request', () => {
  it('apiKey() with a Set, a record and a function', async () => {
    expect(run(apiKey({ keys: new Set(['k1', 'k2']) }), { 'x-api-key': 'k2' })).toBe('k2')
    expect(run(apiKey({ keys: { k1: { id: 1 } } }), { 'x-api-key': 'k1' })).toEqual({ id: 1 })
    const fn = apiKey({ header: 'Authorization-Key', keys: (key) => key === 'yes' ? true : key === 'who' ? { id: 'w' } : null })
    expect(run(fn, { 'authorization-key': 'yes' })).toBe('yes')
    expect(run(fn, { 'authorization-key': 'who' })).toEqual({ id: 'w' })
    const no = await refusal(() => run(fn, { 'authorization-key': 'no' }))
    expect(no.status).toBe(401)
    expect(no.headers).toEqual({ 'www-authenticate': 'ApiKey realm="api", header="authorization-key"' })
    // A thenable that is no Promise is awaited too, and its falsy verdict refuses.
    const thenable = apiKey({ keys: (key) => ({ then: (resolve: (v: unknown) => void) => resolve(key === 'then' ? { id: 't' } : 0) }) })
    await expect(run(thenable, { 'x-api-key': 'then' })).resolves.toEqual({ id: 't' })
    expect((await refusal(() => run(thenable, { 'x-api-key': 'other' }))).status).toBe(401)
    const later = apiKey({ keys: async (key) => key === 'async' })
    await expect(run(later, { 'x-api-key': 'async' })).resolves.toBe('async')
    expect((await refusal(() => run(later, { 'x-api-key': 'sync' }))).message).toBe('Missing or invalid credentials: the API key is not accepted')
  })

  it('basic() lets an error of its users function through', async () => {
    const failing = basic({ users: () => { throw new HttpError(503, 'directory down') } })
    const err = await refusal(() => run(failing, { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }))
    expect(err.status).toBe(503)
  })

  it('bearer() refuses a falsy verdict asynchronously too', async () => {
    const dep = bearer({ verify: async (t) => t === 'ok' && { sub: t } })
    await expect(run(dep, { authorization: 'Bearer ok' })).resolves.toEqual({ sub: 'ok' })
    expect((await refusal(() => run(dep, { authorization: 'Bearer nope' }))).headers).toEqual({
      'www-authenticate': 'Bearer realm="api", error="invalid_token", error_description="the token is not accepted"'
    })
  })

  it('jwt() with several HMAC algorithms verifies each with its own key, and reports a missing required claim', async () => {
    const secret = new TextEncoder().encode('unit secret')
    const dep = jwt({ secret, algorithms: ['HS256', 'HS512'], requiredClaims: ['exp'] })
    for (const alg of ['HS256', 'HS512']) {
      const t = await new SignJWT({ sub: alg }).setProtectedHeader({ alg }).setExpirationTime('1h').sign(secret)
      await expect(run(dep, { authorization: `Bearer ${t}` })).resolves.toMatchObject({ sub: alg })
    }
    const forever = await new SignJWT({ sub: 'x' }).setProtectedHeader({ alg: 'HS256' }).sign(secret)
    const err = await refusal(() => run(dep, { authorization: `Bearer ${forever}` }))
    expect(err.message).toBe('Missing or invalid credentials: the token has no exp claim')
  })
})

describe('securitySchemes', () => {
  it('collects the helpers a route depends on, through what its dependencies need', () => {
    const user = jwt({ secret: 's', algorithms: ['HS256'] })
    const key = apiKey({ header: 'x-key', keys: ['k'] })
    const account = depends((_req, { user }) => user, { user })
    expect(securitySchemes({ account, key })).toEqual({
      jwt: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
      'apiKey.x-key': { type: 'apiKey', in: 'header', name: 'x-key' }
    })
    expect(securitySchemes({ plain: depends(() => 1) })).toBeUndefined()
    expect(securitySchemes(undefined)).toBeUndefined()
  })
})
