// Rate limits over real sockets: a token bucket per key on the main thread, so one limit holds
// over every isolate; 429 with Retry-After past it; the RateLimit fields on every limited answer;
// a route's own limit (server.route() options, a route() declaration) or none; keys by address,
// header or function. The window is long (10 minutes) so that nothing refills while a test runs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Agent, request } from 'undici'
import { createServer } from 'isopool'
import { fixtures, start } from './helpers.ts'
import type { Reply, Running } from './helpers.ts'

const WINDOW = 600_000

function count (replies: Reply[]): Record<number, number> {
  const out: Record<number, number> = {}
  for (const r of replies) out[r.status] = (out[r.status] ?? 0) + 1
  return out
}

describe('the server\'s limit', () => {
  let app: Running
  beforeAll(async () => {
    app = await start({ isolates: 2, rateLimit: { max: 20, window: WINDOW } }, [['GET', '/whoami', './client-info.ts#whoami']])
  })
  afterAll(() => app.close())

  it('lets max requests of a burst through over all isolates together, and refuses the rest 429', async () => {
    const replies = await Promise.all(Array.from({ length: 80 }, () => app.get('/whoami')))
    expect(count(replies)).toEqual({ 200: 20, 429: 60 })
    const refused = replies.find(r => r.status === 429)!
    expect(refused.json.error.code).toBe('ISOPOOL_ERR_RATE_LIMITED')
    expect(refused.json.error.status).toBe(429)
    // A token comes back every WINDOW / max ms = 30 s.
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(29)
    expect(Number(refused.headers['retry-after'])).toBeLessThanOrEqual(30)
    expect(refused.headers['ratelimit-policy']).toBe('20;w=600')
    const [, limit, remaining, reset] = /^limit=(\d+), remaining=(\d+), reset=(\d+)$/.exec(String(refused.headers.ratelimit))!.map(Number)
    expect([limit, remaining]).toEqual([20, 0])
    expect(reset).toBeGreaterThan(590)
    expect(reset).toBeLessThanOrEqual(600)
    // The older draft's separate fields: on a 429 always, on an admitted answer only with
    // legacyHeaders.
    expect(refused.headers['ratelimit-limit']).toBe('20')
    expect(refused.headers['ratelimit-remaining']).toBe('0')
    expect(Number(refused.headers['ratelimit-reset'])).toBe(reset)
    const admitted = replies.find(r => r.status === 200)!
    expect(admitted.headers.ratelimit).toMatch(/^limit=20, remaining=\d+, reset=\d+$/)
    expect(admitted.headers['ratelimit-limit']).toBeUndefined()
    expect(admitted.headers['ratelimit-remaining']).toBeUndefined()
    // The x-request-id goes on a 429 too.
    expect(refused.headers['x-request-id']).toBeDefined()
  })

  it('does not limit the builtins or unknown paths', async () => {
    // The bucket of 127.0.0.1 is empty now.
    expect((await app.get('/whoami')).status).toBe(429)
    const health = await app.get('/healthz')
    expect(health.status).toBe(200)
    expect(health.headers.ratelimit).toBeUndefined()
    expect((await app.get('/nope')).status).toBe(404)
  })
})

describe('the RateLimit fields on answers that pass', () => {
  it('count down remaining', async () => {
    const app = await start({ isolates: 1, rateLimit: { max: 3, window: WINDOW } }, [['GET', '/whoami', './client-info.ts#whoami']])
    try {
      const first = await app.get('/whoami')
      expect(first.status).toBe(200)
      expect(first.headers.ratelimit).toMatch(/^limit=3, remaining=2, reset=\d+$/)
      expect(first.headers['ratelimit-policy']).toBe('3;w=600')
      expect(first.headers['retry-after']).toBeUndefined()
      expect((await app.get('/whoami')).headers.ratelimit).toMatch(/^limit=3, remaining=1, reset=\d+$/)
      expect((await app.get('/whoami')).headers.ratelimit).toMatch(/^limit=3, remaining=0, reset=\d+$/)
      expect((await app.get('/whoami')).status).toBe(429)
    } finally {
      await app.close()
    }
  })
})

describe('legacyHeaders: true', () => {
  it('sends the older draft\'s separate fields too, on a route\'s own limit as well', async () => {
    const server = createServer({ isolates: 1, root: fixtures, rateLimit: { max: 2, window: WINDOW, legacyHeaders: true } })
      .route('GET', '/whoami', './client-info.ts#whoami')
      .route('GET', '/own', './client-info.ts#whoami', { rateLimit: { max: 1, window: WINDOW } })
    const { url } = await server.listen()
    try {
      const first = await request(url + '/whoami')
      await first.body.dump()
      expect(first.headers.ratelimit).toMatch(/^limit=2, remaining=1, reset=\d+$/)
      expect(first.headers['ratelimit-policy']).toBe('2;w=600')
      expect(first.headers['ratelimit-limit']).toBe('2')
      expect(first.headers['ratelimit-remaining']).toBe('1')
      expect(Number(first.headers['ratelimit-reset'])).toBe(Number(/reset=(\d+)/.exec(String(first.headers.ratelimit))![1]))
      const own = [await request(url + '/own'), await request(url + '/own')]
      for (const r of own) await r.body.dump()
      expect(own.map(r => r.statusCode)).toEqual([200, 429])
      expect(own[1].headers['ratelimit-limit']).toBe('1')
      expect(own[1].headers['ratelimit-remaining']).toBe('0')
      expect(own[1].headers['retry-after']).toBeDefined()
    } finally {
      await server.close()
    }
  })

  it('must be a boolean', () => {
    expect(() => createServer({ isolates: 1, root: fixtures, rateLimit: { max: 2, window: WINDOW, legacyHeaders: 'yes' as never } })).toThrow(expect.objectContaining({ code: 'ISOPOOL_ERR_INVALID_OPTION' }))
  })
})

describe('a route\'s own limit', () => {
  let app: Running
  beforeAll(async () => {
    const server = createServer({ isolates: 2, root: fixtures, modules: ['./rate-limited'], rateLimit: { max: 5, window: WINDOW } })
      .route('GET', '/own', './client-info.ts#whoami', { rateLimit: { max: 2, window: WINDOW } })
      .route('GET', '/free', './client-info.ts#whoami', { rateLimit: false })
      .route('GET', '/shared', './client-info.ts#whoami')
    const { url } = await server.listen()
    const agent = new Agent({ connections: 32 })
    const get = async (path: string): Promise<Reply> => {
      const res = await request(url + path, { dispatcher: agent })
      const body = Buffer.from(await res.body.arrayBuffer())
      return { status: res.statusCode, headers: res.headers, body, text: body.toString(), json: undefined }
    }
    app = { server, url, agent, get, post: () => { throw new Error('unused') }, async close () { await server.close(); await agent.close() } }
  })
  afterAll(() => app.close())

  it('has its own buckets, apart from the server\'s', async () => {
    const own = await Promise.all(Array.from({ length: 6 }, () => app.get('/own')))
    expect(count(own)).toEqual({ 200: 2, 429: 4 })
    expect(own.find(r => r.status === 429)!.headers.ratelimit).toMatch(/^limit=2, remaining=0, /)
    // The server's bucket for this client is untouched by /own.
    const shared = await Promise.all(Array.from({ length: 7 }, () => app.get('/shared')))
    expect(count(shared)).toEqual({ 200: 5, 429: 2 })
  })

  it('false: never limited, no RateLimit fields', async () => {
    const free = await Promise.all(Array.from({ length: 12 }, () => app.get('/free')))
    expect(count(free)).toEqual({ 200: 12 })
    expect(free[0].headers.ratelimit).toBeUndefined()
  })

  it('a route() declaration\'s rateLimit works the same: its own, false, or the server\'s', async () => {
    const limited = await Promise.all(Array.from({ length: 5 }, () => app.get('/declared/limited')))
    expect(count(limited)).toEqual({ 200: 2, 429: 3 })
    const free = await Promise.all(Array.from({ length: 8 }, () => app.get('/declared/free')))
    expect(count(free)).toEqual({ 200: 8 })
    // /declared/plain shares the server's bucket, which /shared has emptied.
    const plain = await app.get('/declared/plain')
    expect(plain.status).toBe(429)
    expect(plain.headers.ratelimit).toMatch(/^limit=5, /)
  })

  it('keeps its buckets across a reload', async () => {
    await app.server.reload()
    expect((await app.get('/own')).status).toBe(429)
    expect((await app.get('/declared/limited')).status).toBe(429)
  })
})

describe('a route\'s limit without a server limit', () => {
  it('limits that route alone', async () => {
    const server = createServer({ isolates: 1, root: fixtures, routes: [{ method: 'GET', path: '/own', handler: './client-info.ts#whoami', rateLimit: { max: 1, window: WINDOW } }] })
      .route('GET', '/other', './client-info.ts#whoami')
    const { url } = await server.listen()
    try {
      const own = [await request(url + '/own'), await request(url + '/own')]
      for (const r of own) await r.body.dump()
      expect(own.map(r => r.statusCode)).toEqual([200, 429])
      const other = await request(url + '/other')
      await other.body.dump()
      expect(other.statusCode).toBe(200)
      expect(other.headers.ratelimit).toBeUndefined()
    } finally {
      await server.close()
    }
  })
})

describe('keys', () => {
  it('the client\'s address after trustProxy: each forwarded client has its own bucket', async () => {
    const app = await start({ isolates: 1, trustProxy: true, rateLimit: { max: 1, window: WINDOW } }, [['GET', '/whoami', './client-info.ts#whoami']])
    try {
      const a = { 'x-forwarded-for': '203.0.113.1' }
      const b = { 'x-forwarded-for': '203.0.113.2' }
      expect((await app.get('/whoami', a)).status).toBe(200)
      expect((await app.get('/whoami', a)).status).toBe(429)
      expect((await app.get('/whoami', b)).status).toBe(200)
    } finally {
      await app.close()
    }
  })

  it('a header\'s value, or the address when the header is missing', async () => {
    const app = await start({ isolates: 1, rateLimit: { max: 1, window: WINDOW, key: 'X-Api-Key' } }, [['GET', '/whoami', './client-info.ts#whoami']])
    try {
      expect((await app.get('/whoami', { 'x-api-key': 'one' })).status).toBe(200)
      expect((await app.get('/whoami', { 'x-api-key': 'one' })).status).toBe(429)
      expect((await app.get('/whoami', { 'x-api-key': 'two' })).status).toBe(200)
      expect((await app.get('/whoami')).status).toBe(200)
      expect((await app.get('/whoami')).status).toBe(429)
    } finally {
      await app.close()
    }
  })

  it('a function of { method, url, ip, headers }, run on the main thread', async () => {
    const seen: unknown[] = []
    const key = (req: { method: string, url: string, ip: string, headers: Record<string, string | string[]> }): string => {
      seen.push({ method: req.method, url: req.url, ip: req.ip, user: req.headers['x-user'] })
      return String(req.headers['x-user'] ?? req.ip)
    }
    const app = await start({ isolates: 1, rateLimit: { max: 1, window: WINDOW, key } }, [['GET', '/whoami', './client-info.ts#whoami']])
    try {
      expect((await app.get('/whoami?a=1', { 'X-User': 'ada' })).status).toBe(200)
      expect((await app.get('/whoami', { 'x-user': 'ada' })).status).toBe(429)
      expect((await app.get('/whoami', { 'x-user': 'bob' })).status).toBe(200)
      expect(seen[0]).toEqual({ method: 'GET', url: '/whoami?a=1', ip: '127.0.0.1', user: 'ada' })
    } finally {
      await app.close()
    }
  })
})

describe('options', () => {
  it('createServer() refuses a rateLimit it cannot use', () => {
    for (const bad of [{ max: 0, window: 1000 }, { max: 5 }, { max: 5, window: 1.5 }, { max: 5, window: 1000, key: 'not a header' }, { max: 5, window: 1000, per: 1 }, 10]) {
      expect(() => createServer({ isolates: 1, rateLimit: bad as never }), JSON.stringify(bad)).toThrow(expect.objectContaining({ code: 'ISOPOOL_ERR_INVALID_OPTION' }))
    }
  })

  it('route() refuses a route limit it cannot use', () => {
    const s = createServer({ isolates: 1, root: fixtures })
    for (const bad of [{ max: -1, window: 10 }, { max: 1, window: 10, key: 'ip' }, true]) {
      expect(() => s.route('GET', '/x', './client-info.ts#whoami', { rateLimit: bad as never }), JSON.stringify(bad)).toThrow(expect.objectContaining({ code: 'ISOPOOL_ERR_INVALID_ROUTE' }))
    }
  })

  it('listen() refuses a route() declaration with a limit it cannot use', async () => {
    const s = createServer({ isolates: 1, root: fixtures, modules: ['./rate-limited-bad'] })
    await expect(s.listen()).rejects.toMatchObject({ code: 'ISOPOOL_ERR_INVALID_ROUTE', message: expect.stringContaining('rateLimit.max') })
  })
})
