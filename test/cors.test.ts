// CORS over real sockets: preflights answered 204 by the main thread for any path, the CORS
// fields on every answer to an allowed origin — the main thread's coded errors and the isolate's
// alike — `Vary: Origin` whenever the answer depends on it, and never `*` with credentials.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { request } from 'undici'
import { createServer } from 'isopool'
import type { ServerOptions } from 'isopool'
import { start } from './helpers.ts'
import type { Reply, Running } from './helpers.ts'
import { until } from './observe.ts'

const ROUTES: [string, string, string][] = [
  ['GET', '/me', './client-info.ts#whoami'],
  ['POST', '/me', './client-info.ts#whoami'],
  ['GET', '/slow', './client-info.ts#slow'],
  ['GET', '/counted', './client-info.ts#counted']
]
const ALLOWED = 'https://app.example'

async function send (app: Running, method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<Reply> {
  const res = await request(app.url + path, { method: method as 'GET', headers, body, dispatcher: app.agent })
  const buf = Buffer.from(await res.body.arrayBuffer())
  let json: unknown
  try { json = JSON.parse(buf.toString()) } catch {}
  return { status: res.statusCode, headers: res.headers, body: buf, text: buf.toString(), json }
}

function varies (r: Reply): string[] {
  const v = r.headers.vary
  return (Array.isArray(v) ? v.join(',') : v ?? '').split(',').map(s => s.trim().toLowerCase()).filter(s => s !== '')
}

async function withApp (options: ServerOptions, run: (app: Running) => Promise<void>): Promise<void> {
  const app = await start({ isolates: 1, ...options }, ROUTES)
  try { await run(app) } finally { await app.close() }
}

describe('a list of origins', () => {
  let app: Running
  beforeAll(async () => {
    app = await start({
      isolates: 1,
      modules: ['./typed'],
      maxBodySize: 100,
      timeout: 300,
      maxInFlight: 1,
      maxQueue: 0,
      cors: { origin: [ALLOWED, /^https:\/\/[a-z]+\.trusted\.example$/], exposedHeaders: ['x-total'], maxAge: 600 }
    }, ROUTES)
  })
  afterAll(() => app.close())

  it('answers a preflight 204 on the main thread, for a path without an OPTIONS route, echoing the asked headers', async () => {
    for (const path of ['/me', '/no/such/path']) {
      const r = await send(app, 'OPTIONS', path, { origin: ALLOWED, 'access-control-request-method': 'PUT', 'access-control-request-headers': 'content-type, x-thing' })
      expect(r.status, path).toBe(204)
      expect(r.body.byteLength).toBe(0)
      expect(r.headers['access-control-allow-origin']).toBe(ALLOWED)
      expect(r.headers['access-control-allow-methods']).toBe('GET, HEAD, PUT, PATCH, POST, DELETE')
      expect(r.headers['access-control-allow-headers']).toBe('content-type, x-thing')
      expect(r.headers['access-control-max-age']).toBe('600')
      expect(r.headers['access-control-allow-credentials']).toBeUndefined()
      expect(varies(r)).toEqual(expect.arrayContaining(['origin', 'access-control-request-headers']))
    }
    const pattern = await send(app, 'OPTIONS', '/me', { origin: 'https://api.trusted.example', 'access-control-request-method': 'GET' })
    expect(pattern.headers['access-control-allow-origin']).toBe('https://api.trusted.example')
    expect(pattern.headers['access-control-allow-headers']).toBeUndefined()
  })

  it('answers a preflight from another origin 204 without CORS fields: the browser refuses', async () => {
    const r = await send(app, 'OPTIONS', '/me', { origin: 'https://evil.example', 'access-control-request-method': 'POST' })
    expect(r.status).toBe(204)
    expect(r.headers['access-control-allow-origin']).toBeUndefined()
    expect(r.headers['access-control-allow-methods']).toBeUndefined()
    expect(varies(r)).toContain('origin')
  })

  it('an OPTIONS without Access-Control-Request-Method is no preflight: it is routed', async () => {
    const r = await send(app, 'OPTIONS', '/me', { origin: ALLOWED })
    expect(r.status).toBe(405)
    expect(r.headers['access-control-allow-origin']).toBe(ALLOWED)
  })

  it('puts the CORS fields on a handler\'s answer beside its own', async () => {
    const r = await send(app, 'GET', '/counted', { origin: ALLOWED })
    expect(r.status).toBe(200)
    expect(r.headers['x-total']).toBe('0')
    expect(r.headers['access-control-allow-origin']).toBe(ALLOWED)
    expect(r.headers['access-control-expose-headers']).toBe('x-total')
    expect(varies(r)).toContain('origin')
  })

  it('gives another origin, or none, no CORS fields, but Vary: Origin', async () => {
    for (const headers of [{ origin: 'https://evil.example' }, {}] as Record<string, string>[]) {
      const r = await send(app, 'GET', '/me', headers)
      expect(r.status).toBe(200)
      expect(r.headers['access-control-allow-origin']).toBeUndefined()
      expect(varies(r)).toContain('origin')
    }
  })

  it('puts them on the main thread\'s and the isolate\'s errors: 404, 405, 413, 422', async () => {
    const answers = [
      await send(app, 'GET', '/nope', { origin: ALLOWED }),
      await send(app, 'DELETE', '/me', { origin: ALLOWED }),
      await send(app, 'POST', '/me', { origin: ALLOWED, 'content-type': 'text/plain' }, 'x'.repeat(500)),
      await send(app, 'GET', '/users/0', { origin: ALLOWED })
    ]
    expect(answers.map(r => r.status)).toEqual([404, 405, 413, 422])
    for (const r of answers) {
      expect(r.headers['access-control-allow-origin'], String(r.status)).toBe(ALLOWED)
      expect(r.headers['access-control-expose-headers'], String(r.status)).toBe('x-total')
      expect(varies(r), String(r.status)).toContain('origin')
    }
  })

  it('puts them on a 503 (overloaded) and a 504 (timeout)', async () => {
    const busy = send(app, 'GET', '/slow?ms=1500', { origin: ALLOWED })
    await until('the slow request to take the only slot', () => app.server.inFlight === 1)
    const overloaded = await send(app, 'GET', '/me', { origin: ALLOWED })
    expect(overloaded.status).toBe(503)
    expect(overloaded.json.error.code).toBe('ISOPOOL_ERR_OVERLOADED')
    const late = await busy
    expect(late.status).toBe(504)
    for (const r of [overloaded, late]) {
      expect(r.headers['access-control-allow-origin'], String(r.status)).toBe(ALLOWED)
      expect(varies(r), String(r.status)).toContain('origin')
    }
  })
})

describe('the other policies', () => {
  it('cors: true echoes any origin, with Vary: Origin', async () => {
    await withApp({ cors: true }, async (app) => {
      const r = await send(app, 'GET', '/me', { origin: 'https://anyone.example' })
      expect(r.headers['access-control-allow-origin']).toBe('https://anyone.example')
      expect(varies(r)).toContain('origin')
      const pre = await send(app, 'OPTIONS', '/me', { origin: 'https://anyone.example', 'access-control-request-method': 'DELETE' })
      expect(pre.status).toBe(204)
      expect(pre.headers['access-control-allow-origin']).toBe('https://anyone.example')
    })
  })

  it('origin "*" sends * and no Vary; with credentials it echoes the origin instead, never *', async () => {
    await withApp({ cors: { origin: '*' } }, async (app) => {
      const r = await send(app, 'GET', '/me', { origin: 'https://a.example' })
      expect(r.headers['access-control-allow-origin']).toBe('*')
      expect(varies(r)).not.toContain('origin')
      const none = await send(app, 'GET', '/me')
      expect(none.headers.vary).toBeUndefined()
    })
    await withApp({ cors: { origin: '*', credentials: true } }, async (app) => {
      const r = await send(app, 'GET', '/nope', { origin: 'https://a.example' })
      expect(r.status).toBe(404)
      expect(r.headers['access-control-allow-origin']).toBe('https://a.example')
      expect(r.headers['access-control-allow-credentials']).toBe('true')
      expect(varies(r)).toContain('origin')
      const pre = await send(app, 'OPTIONS', '/me', { origin: 'https://a.example', 'access-control-request-method': 'PUT' })
      expect(pre.headers['access-control-allow-origin']).toBe('https://a.example')
      expect(pre.headers['access-control-allow-credentials']).toBe('true')
    })
  })

  it('allowedHeaders and methods, when given, are what a preflight allows', async () => {
    await withApp({ cors: { origin: (o: string) => o.endsWith('.ok'), methods: ['GET', 'POST'], allowedHeaders: ['content-type', 'authorization'] } }, async (app) => {
      const r = await send(app, 'OPTIONS', '/anything', { origin: 'https://x.ok', 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-secret' })
      expect(r.status).toBe(204)
      expect(r.headers['access-control-allow-origin']).toBe('https://x.ok')
      expect(r.headers['access-control-allow-methods']).toBe('GET, POST')
      expect(r.headers['access-control-allow-headers']).toBe('content-type, authorization')
      expect(r.headers['access-control-max-age']).toBeUndefined()
      expect(varies(r)).toEqual(['origin'])
      const refused = await send(app, 'GET', '/me', { origin: 'https://x.no' })
      expect(refused.headers['access-control-allow-origin']).toBeUndefined()
    })
  })

  it('off by default: no CORS field, no Vary, and a preflight is routed like any OPTIONS', async () => {
    await withApp({}, async (app) => {
      const r = await send(app, 'GET', '/me', { origin: ALLOWED })
      expect(r.headers['access-control-allow-origin']).toBeUndefined()
      expect(r.headers.vary).toBeUndefined()
      const pre = await send(app, 'OPTIONS', '/me', { origin: ALLOWED, 'access-control-request-method': 'GET' })
      expect(pre.status).toBe(405)
    })
  })

  it('createServer() refuses a cors option it cannot read', () => {
    for (const bad of [{ origin: 42 }, { credentials: 'yes' }, { maxAge: 1.5 }, { allowHeaders: ['x'] }, 'yes']) {
      expect(() => createServer({ isolates: 1, cors: bad as never }), JSON.stringify(bad)).toThrow(expect.objectContaining({ code: 'ISOPOOL_ERR_INVALID_OPTION' }))
    }
  })
})
