// Request ids over real sockets: a valid x-request-id is taken, anything else replaced by a
// fresh one; the handler's req.id is the same value, and every answer carries it back —
// handler answers, coded errors of the main thread, preflights.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { request } from 'undici'
import { createServer } from 'isopool'
import { start } from './helpers.ts'
import type { Running } from './helpers.ts'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

let app: Running
beforeAll(async () => {
  app = await start({ isolates: 1, maxBodySize: 100, cors: true }, [['GET', '/whoami', './client-info.ts#whoami'], ['POST', '/whoami', './client-info.ts#whoami']])
})
afterAll(() => app.close())

describe('request ids', () => {
  it('makes one when none came: a UUID, sent back, and the handler\'s req.id', async () => {
    const r = await app.get('/whoami')
    expect(r.status).toBe(200)
    expect(r.headers['x-request-id']).toMatch(UUID)
    expect(r.json.id).toBe(r.headers['x-request-id'])
    const again = await app.get('/whoami')
    expect(again.headers['x-request-id']).not.toBe(r.headers['x-request-id'])
  })

  it('takes a valid x-request-id as it came, in any case of the name', async () => {
    const r = await app.get('/whoami', { 'x-request-id': 'abc-123_XYZ:/=+' })
    expect(r.headers['x-request-id']).toBe('abc-123_XYZ:/=+')
    expect(r.json.id).toBe('abc-123_XYZ:/=+')
    const mixed = await app.get('/whoami', { 'X-Request-ID': 'Mixed.Case' })
    expect(mixed.json.id).toBe('Mixed.Case')
    const longest = 'a'.repeat(200)
    expect((await app.get('/whoami', { 'x-request-id': longest })).json.id).toBe(longest)
  })

  it('replaces one too long, with spaces, or empty', async () => {
    for (const bad of ['a'.repeat(201), 'x'.repeat(500), 'has spaces', 'tab\there', '']) {
      const r = await app.get('/whoami', { 'x-request-id': bad })
      expect(r.headers['x-request-id'], JSON.stringify(bad)).toMatch(UUID)
      expect(r.json.id).toBe(r.headers['x-request-id'])
    }
  })

  it('is not the id field of the head: a header whose value is "x-request-id" is not mistaken for it', async () => {
    const r = await app.get('/whoami', { 'x-note': 'x-request-id', 'x-other': 'evil' })
    expect(r.json.id).toMatch(UUID)
  })

  it('goes on the main thread\'s own answers: 404, 413, a preflight, a builtin', async () => {
    const missing = await app.get('/nope', { 'x-request-id': 'req-404' })
    expect(missing.status).toBe(404)
    expect(missing.headers['x-request-id']).toBe('req-404')
    const big = await app.post('/whoami', 'x'.repeat(500), { 'x-request-id': 'req-413' })
    expect(big.status).toBe(413)
    expect(big.headers['x-request-id']).toBe('req-413')
    const pre = await request(app.url + '/anything', { method: 'OPTIONS', headers: { origin: 'https://a.example', 'access-control-request-method': 'PUT', 'x-request-id': 'req-pre' }, dispatcher: app.agent })
    await pre.body.dump()
    expect(pre.statusCode).toBe(204)
    expect(pre.headers['x-request-id']).toBe('req-pre')
    const health = await app.get('/healthz')
    expect(health.status).toBe(200)
    expect(health.headers['x-request-id']).toMatch(UUID)
  })
})

describe('requestId: false', () => {
  it('sends none and gives handlers an empty req.id', async () => {
    const off = await start({ isolates: 1, requestId: false }, [['GET', '/whoami', './client-info.ts#whoami']])
    try {
      const r = await off.get('/whoami', { 'x-request-id': 'given' })
      expect(r.headers['x-request-id']).toBeUndefined()
      expect(r.json.id).toBe('')
    } finally {
      await off.close()
    }
  })

  it('refuses a value that is not a boolean', () => {
    expect(() => createServer({ isolates: 1, requestId: 'yes' as unknown as boolean })).toThrow(expect.objectContaining({ code: 'ISOPOOL_ERR_INVALID_OPTION' }))
  })
})
