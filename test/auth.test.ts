// The auth helpers (jwt, bearer, apiKey, basic from isopool/handler) over real sockets: typed
// routes of test/fixtures/auth-routes.ts, JWTs signed here, and a JWKS served by a node:http
// server of this suite (its keys rotated while the server runs).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createServer as createHttpServer } from 'node:http'
import type { Server as HttpServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { CompactSign, exportJWK, generateKeyPair, SignJWT } from 'jose'
import type { CryptoKey, JWK, JWTPayload } from 'jose'
import { createServer } from 'isopool'
import { fixtures, start } from './helpers.ts'
import type { Reply, Running } from './helpers.ts'

/** The fixture's HS256 secret (test/fixtures/auth-routes.ts; not imported: importing the fixture
 * here would build its helpers in this process). */
const SECRET = 'a shared secret of the auth suite, 32+ bytes long'
const now = (): number => Math.floor(Date.now() / 1000)
const HOUR = 3600

let app: Running
let jwks: HttpServer
/** What the JWKS server serves; the suite changes it to rotate keys. */
let served: JWK[] = []
let jwksFails = false
let jwksFetches = 0
let ec1: CryptoKey
let ec2: CryptoKey
let ec2Public: CryptoKey
let ec3: CryptoKey
let rsa: CryptoKey

async function publicJwk (key: CryptoKey, kid: string, alg: string): Promise<JWK> {
  return { ...await exportJWK(key), kid, alg, use: 'sig' }
}

beforeAll(async () => {
  const [a, b, c, r] = await Promise.all([
    generateKeyPair('ES256', { extractable: true }), generateKeyPair('ES256', { extractable: true }),
    generateKeyPair('ES256', { extractable: true }), generateKeyPair('RS256', { extractable: true })
  ])
  ec1 = a.privateKey
  ec2 = b.privateKey
  ec2Public = b.publicKey
  ec3 = c.privateKey
  rsa = r.privateKey
  served = [await publicJwk(a.publicKey, 'k1', 'ES256')]
  jwks = createHttpServer((_req, res) => {
    jwksFetches++
    if (jwksFails) {
      res.writeHead(500).end('down')
      return
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: served }))
  })
  await new Promise<void>(resolve => jwks.listen(0, '127.0.0.1', resolve))
  process.env.ISOPOOL_TEST_JWKS_URL = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json`
  process.env.ISOPOOL_TEST_JWK = JSON.stringify(await publicJwk(r.publicKey, 'r1', 'RS256'))
  app = await start({ isolates: 1, modules: ['./auth-routes.ts'] })
})

afterAll(async () => {
  await app?.close()
  await new Promise(resolve => jwks?.close(resolve))
  delete process.env.ISOPOOL_TEST_JWKS_URL
  delete process.env.ISOPOOL_TEST_JWK
})

/** A token with the suite's defaults (issued now, for an hour, for isopool-test) and `claims` over them. */
async function token (claims: JWTPayload = {}, key: CryptoKey | Uint8Array = new TextEncoder().encode(SECRET), header: Record<string, unknown> = { alg: 'HS256' }): Promise<string> {
  return await new SignJWT({ sub: 'ada', iss: 'https://issuer.test', aud: 'isopool-test', iat: now(), exp: now() + HOUR, ...claims })
    .setProtectedHeader(header as { alg: string })
    .sign(key)
}

const bearerOf = (t: string): Record<string, string> => ({ authorization: `Bearer ${t}` })

/** A 401 of the helpers: its code, the reason in its message, and its challenge. */
function expect401 (r: Reply, challenge: string, reason: string): void {
  expect(r.status).toBe(401)
  expect(r.json.error).toEqual({ code: 'ISOPOOL_ERR_UNAUTHORIZED', message: `Missing or invalid credentials: ${reason}`, status: 401 })
  expect(r.headers['www-authenticate']).toBe(challenge)
}

const invalidToken = (reason: string, realm = 'api'): string => `Bearer realm="${realm}", error="invalid_token", error_description="${reason}"`

describe('jwt() with a secret', () => {
  it('resolves to the payload of a valid token', async () => {
    const r = await app.get('/jwt', bearerOf(await token()))
    expect(r.status).toBe(200)
    expect(r.json).toEqual({ sub: 'ada', aud: 'isopool-test' })
    // The scheme's name is case-insensitive.
    expect((await app.get('/jwt', { authorization: `bearer ${await token()}` })).status).toBe(200)
  })

  it('tells expired, not yet valid, wrong audience and wrong issuer apart', async () => {
    const cases: [JWTPayload, string][] = [
      [{ iat: now() - 2 * HOUR, exp: now() - HOUR }, 'the token has expired'],
      [{ nbf: now() + HOUR }, 'the token is not valid yet'],
      [{ aud: 'another-api' }, 'the token is not meant for this audience'],
      [{ iss: 'https://elsewhere.test' }, 'the token\'s issuer is not accepted']
    ]
    for (const [claims, reason] of cases) {
      const r = await app.get('/jwt', bearerOf(await token(claims)))
      expect401(r, invalidToken(reason), reason)
    }
  })

  it('refuses a token signed with another secret, in another algorithm, unsigned, or malformed', async () => {
    const other = await token({}, new TextEncoder().encode('another secret, just as long as the first'))
    expect401(await app.get('/jwt', bearerOf(other)), invalidToken('the token\'s signature does not verify'), 'the token\'s signature does not verify')
    const hs384 = await token({}, new TextEncoder().encode(SECRET), { alg: 'HS384' })
    expect401(await app.get('/jwt', bearerOf(hs384)), invalidToken('the token\'s algorithm is not accepted'), 'the token\'s algorithm is not accepted')
    const [head, payload] = (await token()).split('.')
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${payload}.`
    expect401(await app.get('/jwt', bearerOf(none)), invalidToken('the token\'s algorithm is not accepted'), 'the token\'s algorithm is not accepted')
    // Correctly signed, but its payload is no JSON claims set.
    const notClaims = await new CompactSign(new TextEncoder().encode('not json')).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(SECRET))
    for (const bad of ['not-a-jwt', `${head}.${payload}`, notClaims]) {
      expect401(await app.get('/jwt', bearerOf(bad)), invalidToken('the token is malformed'), 'the token is malformed')
    }
  })

  it('answers a request without a token with the bare challenge, and a malformed header with invalid_request', async () => {
    expect401(await app.get('/jwt'), 'Bearer realm="api"', 'no bearer token was sent')
    // Credentials of another scheme are no bearer token.
    expect401(await app.get('/jwt', { authorization: 'Basic YWRhOmxvdmVsYWNl' }), 'Bearer realm="api"', 'no bearer token was sent')
    const reason = 'the Authorization header is not Bearer and one token'
    for (const header of ['Bearer', 'Bearer two tokens', 'Bearer ä']) {
      expect401(await app.get('/jwt', { authorization: header }), `Bearer realm="api", error="invalid_request", error_description="${reason}"`, reason)
    }
  })

  it('never puts the secret in an answer', async () => {
    const r = await app.get('/jwt', bearerOf(await token({}, new TextEncoder().encode('another secret, just as long as the first'))))
    expect(r.text).not.toContain(SECRET)
    expect(String(r.headers['www-authenticate'])).not.toContain(SECRET)
  })
})

describe('jwt() with a JWKS URL', () => {
  it('verifies with the key the token names, fetches the set again for a key it lacks, and tries each key for a token without kid', async () => {
    const r = await app.get('/jwks', bearerOf(await token({}, ec1, { alg: 'ES256', kid: 'k1' })))
    expect(r.status).toBe(200)
    expect(r.json).toEqual({ sub: 'ada' })
    const fetched = jwksFetches
    expect(fetched).toBeGreaterThanOrEqual(1)
    // Known key: served from the cache.
    expect((await app.get('/jwks', bearerOf(await token({}, ec1, { alg: 'ES256', kid: 'k1' })))).status).toBe(200)
    expect(jwksFetches).toBe(fetched)

    // Rotation: the issuer publishes k2 and signs with it.
    const k2 = await publicJwk(ec2Public, 'k2', 'ES256')
    served = [...served, k2]
    const rotated = await app.get('/jwks', bearerOf(await token({}, ec2, { alg: 'ES256', kid: 'k2' })))
    expect(rotated.status).toBe(200)
    expect(jwksFetches).toBe(fetched + 1)

    // No kid, two keys that fit: the one that verifies wins.
    expect((await app.get('/jwks', bearerOf(await token({}, ec2, { alg: 'ES256' })))).status).toBe(200)
    const unsignedByAny = await app.get('/jwks', bearerOf(await token({}, ec3, { alg: 'ES256' })))
    expect401(unsignedByAny, invalidToken('the token\'s signature does not verify'), 'the token\'s signature does not verify')
  })

  it('refuses a token whose key is not in the set, or is not the key its kid names', async () => {
    expect401(await app.get('/jwks', bearerOf(await token({}, ec3, { alg: 'ES256', kid: 'k3' }))), invalidToken('no known key matches the token'), 'no known key matches the token')
    expect401(await app.get('/jwks', bearerOf(await token({}, ec3, { alg: 'ES256', kid: 'k1' }))), invalidToken('the token\'s signature does not verify'), 'the token\'s signature does not verify')
    expect401(await app.get('/jwks', bearerOf(await token({ exp: now() - HOUR, iat: now() - 2 * HOUR }, ec1, { alg: 'ES256', kid: 'k1' }))), invalidToken('the token has expired'), 'the token has expired')
    // A valid HS256 token is refused by an ES256 route, without trying the secret.
    expect401(await app.get('/jwks', bearerOf(await token())), invalidToken('the token\'s algorithm is not accepted'), 'the token\'s algorithm is not accepted')
  })

  it('answers 503 ISOPOOL_ERR_AUTH_UNAVAILABLE when the key set cannot be fetched', async () => {
    jwksFails = true
    try {
      const before = jwksFetches
      const r = await app.get('/jwks', bearerOf(await token({}, ec3, { alg: 'ES256', kid: 'k-unpublished' })))
      expect(r.status).toBe(503)
      expect(r.json.error).toEqual({ code: 'ISOPOOL_ERR_AUTH_UNAVAILABLE', message: 'Internal server error', status: 503 })
      expect(jwksFetches).toBe(before + 1)
    } finally {
      jwksFails = false
    }
  })
})

describe('jwt() with an inline public key', () => {
  it('verifies RS256 tokens with it, with the clock tolerance given', async () => {
    expect((await app.get('/jwk', bearerOf(await token({}, rsa, { alg: 'RS256' })))).json).toEqual({ sub: 'ada' })
    // Expired 10 s ago: within the route's 30 s of tolerance.
    expect((await app.get('/jwk', bearerOf(await token({ exp: now() - 10 }, rsa, { alg: 'RS256' })))).status).toBe(200)
    const late = await app.get('/jwk', bearerOf(await token({ exp: now() - 120 }, rsa, { alg: 'RS256' })))
    expect401(late, invalidToken('the token has expired'), 'the token has expired')
    const wrongKey = await token({}, ec1, { alg: 'ES256' })
    expect401(await app.get('/jwk', bearerOf(wrongKey)), invalidToken('the token\'s algorithm is not accepted'), 'the token\'s algorithm is not accepted')
  })
})

describe('bearer()', () => {
  it('resolves to what verify returns, sync or async', async () => {
    expect((await app.get('/bearer', bearerOf('good-token'))).json).toEqual({ name: 'ada' })
    expect((await app.get('/bearer', bearerOf('later-token'))).json).toEqual({ name: 'grace' })
  })

  it('answers 401 when verify refuses or throws, and passes on an HttpError it throws', async () => {
    expect401(await app.get('/bearer', bearerOf('unknown-token')), invalidToken('the token is not accepted', 'tokens'), 'the token is not accepted')
    expect401(await app.get('/bearer', bearerOf('broken-token')), invalidToken('the token is not accepted', 'tokens'), 'the token is not accepted')
    expect401(await app.get('/bearer'), 'Bearer realm="tokens"', 'no bearer token was sent')
    const forbidden = await app.get('/bearer', bearerOf('forbidden-token'))
    expect(forbidden.status).toBe(403)
    expect(forbidden.json.error.code).toBe('APP_FORBIDDEN')
  })
})

describe('apiKey()', () => {
  it('resolves to a listed key, refuses others and answers a missing one', async () => {
    expect((await app.get('/key', { 'x-api-key': 'key-two' })).json).toEqual({ key: 'key-two' })
    const challenge = 'ApiKey realm="api", header="x-api-key"'
    expect401(await app.get('/key', { 'x-api-key': 'key-three' }), challenge, 'the API key is not accepted')
    // A prefix or an extension of a key is not the key.
    expect401(await app.get('/key', { 'x-api-key': 'key-' }), challenge, 'the API key is not accepted')
    expect401(await app.get('/key', { 'x-api-key': 'key-one2' }), challenge, 'the API key is not accepted')
    expect401(await app.get('/key'), challenge, 'no API key was sent in x-api-key')
    expect401(await app.get('/key', { 'x-token': 'key-one' }), challenge, 'no API key was sent in x-api-key')
  })

  it('resolves to the principal a record gives the key, from the header named', async () => {
    expect((await app.get('/key-record', { 'x-token': 'admin-key' })).json).toEqual({ role: 'admin' })
    expect((await app.get('/key-record', { 'X-Token': 'reader-key' })).json).toEqual({ role: 'reader' })
    expect401(await app.get('/key-record', { 'x-token': 'role' }), 'ApiKey realm="api", header="x-token"', 'the API key is not accepted')
  })
})

describe('basic()', () => {
  const basicOf = (pair: string): Record<string, string> => ({ authorization: `Basic ${Buffer.from(pair).toString('base64')}` })
  const challenge = 'Basic realm="api", charset="UTF-8"'

  it('resolves to the user, UTF-8 names and passwords with colons included', async () => {
    expect((await app.get('/basic', basicOf('ada:lovelace'))).json).toEqual({ user: 'ada' })
    expect((await app.get('/basic', basicOf('émile:pässwörd:with:colons'))).json).toEqual({ user: 'émile' })
  })

  it('refuses a wrong password or user, and a malformed or missing header', async () => {
    expect401(await app.get('/basic', basicOf('ada:babbage')), challenge, 'wrong user name or password')
    expect401(await app.get('/basic', basicOf('charles:lovelace')), challenge, 'wrong user name or password')
    expect401(await app.get('/basic', basicOf('ada:')), challenge, 'wrong user name or password')
    const malformed = 'the Authorization header is not Basic and base64 of user:password'
    expect401(await app.get('/basic', basicOf('no colon here')), challenge, malformed)
    expect401(await app.get('/basic', { authorization: 'Basic !!!' }), challenge, malformed)
    expect401(await app.get('/basic', { authorization: 'Basic' }), challenge, malformed)
    expect401(await app.get('/basic'), challenge, 'no Basic credentials were sent')
    expect401(await app.get('/basic', bearerOf('good-token')), challenge, 'no Basic credentials were sent')
  })

  it('resolves to what a users function returns', async () => {
    expect((await app.get('/basic-check', basicOf('grace:hopper'))).json).toEqual({ name: 'Grace Hopper' })
    expect401(await app.get('/basic-check', basicOf('grace:cobol')), 'Basic realm="checked", charset="UTF-8"', 'wrong user name or password')
  })
})

describe('the API document', () => {
  it('declares each helper\'s security scheme and the routes that require it', async () => {
    const doc = (await app.get('/openapi.json')).json
    expect(doc.components.securitySchemes).toEqual({
      jwt: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
      bearer: { type: 'http', scheme: 'bearer' },
      apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' },
      'apiKey.x-token': { type: 'apiKey', in: 'header', name: 'x-token' },
      basic: { type: 'http', scheme: 'basic' }
    })
    expect(doc.paths['/jwt'].get.security).toEqual([{ jwt: [] }])
    expect(doc.paths['/key-record'].get.security).toEqual([{ 'apiKey.x-token': [] }])
    expect(doc.paths['/jwt'].get.responses['401']).toBeDefined()
    expect(doc.paths['/open'].get.security).toBeUndefined()
    expect(doc.paths['/open'].get.responses['401']).toBeUndefined()
  })
})

describe('options', () => {
  it('fails listen() when a helper is given a wrong option, naming it', async () => {
    const server = createServer({ isolates: 1, root: fixtures, modules: ['./auth-bad-options.ts'] })
    await expect(server.listen({ port: 0, host: '127.0.0.1' })).rejects.toMatchObject({
      code: 'ISOPOOL_ERR_MODULE_IMPORT',
      message: expect.stringContaining('Invalid option jwt({ algorithms }): RS256 needs a public key (jwks or publicKey), not a secret')
    })
  })
})
