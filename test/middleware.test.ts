// Middleware in the isolates, through real sockets: the global `middleware` option on every routed
// request whatever its handler answers or throws, a route's own after it, a route() declaration's
// own, what a middleware may do with the Response (change, replace, answer without next()), and
// what it may not (next() twice, a value that is not a Response). What the main thread answers
// itself (unknown paths) never passes through it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { unpack } from 'msgpackr'
import { createServer } from 'isopool'
import { fixtures, start } from './helpers.ts'
import type { Running } from './helpers.ts'

const R = './middleware-routes.ts'
const M = './middleware.ts'

let app: Running
beforeAll(async () => {
  app = await start({
    isolates: 1,
    middleware: [`${M}#tag`],
    modules: ['./middleware-typed.ts'],
    routes: [
      { method: 'GET', path: '/hello', handler: `${R}#hello` },
      { method: 'GET', path: '/count', handler: `${R}#count` },
      { method: 'GET', path: '/forbidden', handler: `${R}#forbidden` },
      { method: 'GET', path: '/bug', handler: `${R}#bug` },
      { method: 'GET', path: '/trail', handler: `${R}#trail`, middleware: [`${M}#routeTag`] },
      { method: 'GET', path: '/replace', handler: `${R}#forbidden`, middleware: [`${M}#replace`] },
      { method: 'GET', path: '/deny', handler: `${R}#hello`, middleware: [`${M}#deny`] },
      { method: 'GET', path: '/auth', handler: `${R}#hello`, middleware: [`${M}#auth`] },
      { method: 'GET', path: '/twice', handler: `${R}#hello`, middleware: [`${M}#twice`] },
      { method: 'GET', path: '/forgets', handler: `${R}#hello`, middleware: [`${M}#forgets`] },
      { method: 'GET', path: '/stringly', handler: `${R}#hello`, middleware: [`${M}#stringly`] },
      { method: 'GET', path: '/slow', handler: `${R}#slow`, middleware: [`${M}#timing`] },
      { method: 'POST', path: '/later', handler: `${R}#body`, middleware: [`${M}#later`] },
      { method: 'GET', path: '/inspect/text', handler: `${R}#text`, middleware: [`${M}#inspect`] },
      { method: 'GET', path: '/inspect/bytes', handler: `${R}#bytes`, middleware: [`${M}#inspect`] },
      { method: 'GET', path: '/inspect/nothing', handler: `${R}#nothing`, middleware: [`${M}#inspect`] },
      { method: 'GET', path: '/given/:id', handler: './middleware-typed.ts#item', middleware: [`${M}#routeTag`] }
    ]
  })
})
afterAll(() => app.close())

/** The coded error of a reply's JSON body. */
const codeOf = (r: { json: any }): string => r.json?.error?.code

describe('global middleware', () => {
  it('sees a handler\'s 200 and changes its headers; the body and type are the handler\'s', async () => {
    const r = await app.get('/hello')
    expect(r.status).toBe(200)
    expect(r.headers['x-mw']).toBe('global')
    expect(r.headers['content-type']).toBe('application/json; charset=utf-8')
    expect(r.json).toEqual({ hello: 'world' })
  })

  it('sees the result as the client would get it: msgpack when the client prefers it', async () => {
    const r = await app.get('/hello', { accept: 'application/msgpack' })
    expect(r.status).toBe(200)
    expect(r.headers['x-mw']).toBe('global')
    expect(r.headers['content-type']).toBe('application/msgpack')
    expect(unpack(r.body)).toEqual({ hello: 'world' })
  })

  it('sees a handler\'s HttpError as its coded answer, headers and all', async () => {
    const r = await app.get('/forbidden')
    expect(r.status).toBe(403)
    expect(r.headers['x-mw']).toBe('global')
    expect(r.headers['x-why']).toBe('policy')
    expect(r.headers['x-content-type-options']).toBe('nosniff')
    expect(r.json).toEqual({ error: { code: 'ISOPOOL_ERR_HTTP', message: 'not for you', status: 403 } })
  })

  it('sees a handler\'s bug as the coded 500, which leaks nothing', async () => {
    const r = await app.get('/bug')
    expect(r.status).toBe(500)
    expect(r.headers['x-mw']).toBe('global')
    expect(r.json).toEqual({ error: { code: 'ISOPOOL_ERR_HANDLER', message: 'Internal server error', status: 500 } })
  })

  it('sees a typed route\'s 422, before the route\'s own middleware and its validation', async () => {
    const r = await app.get('/items/abc')
    expect(r.status).toBe(422)
    expect(r.headers['x-mw']).toBe('global')
    expect(r.headers['x-typed']).toBe('yes')
    expect(codeOf(r)).toBe('ISOPOOL_ERR_VALIDATION')
    expect(r.json.error.details[0]).toMatchObject({ in: 'params', path: 'params.id' })
  })

  it('does not see what the main thread answers itself: unknown paths, health', async () => {
    const missing = await app.get('/nowhere')
    expect(missing.status).toBe(404)
    expect(missing.headers['x-mw']).toBeUndefined()
    const health = await app.get('/healthz')
    expect(health.status).toBe(200)
    expect(health.headers['x-mw']).toBeUndefined()
  })
})

describe('route middleware', () => {
  it('runs after the global ones on the way in, before them on the way out', async () => {
    const r = await app.get('/trail')
    expect(r.status).toBe(200)
    expect(r.json).toEqual({ trail: ['global', 'route', 'handler'] })
    expect(r.headers['x-order']).toBe('route, global')
  })

  it('of a route() declaration (functions in its config) runs after the global ones', async () => {
    const r = await app.get('/items/7')
    expect(r.status).toBe(200)
    expect(r.json).toEqual({ id: 7, trail: ['global', 'declared', 'handler'] })
    expect(r.headers['x-typed']).toBe('yes')
    expect(r.headers['x-mw']).toBe('global')
  })

  it('of a route() declaration named as module#export, relative to the declaring module', async () => {
    const r = await app.get('/named')
    expect(r.status).toBe(200)
    expect(r.json).toEqual({ trail: ['global', 'route', 'handler'] })
    expect(r.headers['x-order']).toBe('route, global')
  })

  it('of a given route naming a route() declaration: the route\'s, then the declaration\'s', async () => {
    const r = await app.get('/given/8')
    expect(r.status).toBe(200)
    expect(r.json).toEqual({ id: 8, trail: ['global', 'route', 'declared', 'handler'] })
    expect(r.headers['x-order']).toBe('route, global')
  })

  it('may replace the response', async () => {
    const r = await app.get('/replace')
    expect(r.status).toBe(201)
    expect(r.text).toBe('replaced a 403')
    expect(r.headers['x-replaced']).toBe('yes')
    expect(r.headers['x-mw']).toBe('global')
  })

  it('may throw an HttpError, answered as usual and seen by the global middleware', async () => {
    const r = await app.get('/deny')
    expect(r.status).toBe(401)
    expect(r.headers['www-authenticate']).toBe('Bearer')
    expect(r.headers['x-mw']).toBe('global')
    expect(r.json).toEqual({ error: { code: 'ISOPOOL_ERR_HTTP', message: 'who are you?', status: 401 } })
  })

  it('may answer without calling next(): the handler does not run', async () => {
    const before = (await app.get('/count')).json.calls
    const refused = await app.get('/auth')
    expect(refused.status).toBe(401)
    expect(refused.json).toEqual({ error: 'no token' })
    expect(refused.headers['x-mw']).toBe('global')
    expect((await app.get('/count')).json.calls).toBe(before)
    const let_in = await app.get('/auth', { authorization: 'Bearer open-sesame' })
    expect(let_in.status).toBe(200)
    expect(let_in.json).toEqual({ hello: 'world' })
    expect((await app.get('/count')).json.calls).toBe(before + 1)
  })

  it('refuses a second next() with a coded 500; the handler ran once', async () => {
    const before = (await app.get('/count')).json.calls
    const r = await app.get('/twice')
    expect(r.status).toBe(500)
    expect(codeOf(r)).toBe('ISOPOOL_ERR_MIDDLEWARE_NEXT')
    expect(r.headers['x-mw']).toBe('global')
    expect((await app.get('/count')).json.calls).toBe(before + 1)
  })

  it('answers a middleware that returns no Response with a coded 500', async () => {
    for (const path of ['/forgets', '/stringly']) {
      const r = await app.get(path)
      expect(r.status).toBe(500)
      expect(codeOf(r)).toBe('ISOPOOL_ERR_MIDDLEWARE')
      expect(r.json.error.message).toBe('Internal server error')
      expect(r.headers['x-mw']).toBe('global')
    }
  })

  it('times an async handler', async () => {
    const r = await app.get('/slow')
    expect(r.status).toBe(200)
    expect(r.text).toBe('slow but done')
    expect(r.headers['server-timing']).toMatch(/^handler;dur=\d+\.\d{3}$/)
  })

  it('runs the handler after its own await, the body still readable', async () => {
    const r = await app.post('/later', 'a body that outlives the frame', { 'content-type': 'text/plain' })
    expect(r.status).toBe(200)
    expect(r.headers['x-later']).toBe('yes')
    expect(r.json).toEqual({ length: 30, text: 'a body that outlives the frame' })
  })

  it('reads what the route answered: text, bytes and 204 as isopool sends them', async () => {
    expect((await app.get('/inspect/text')).json).toEqual({ status: 200, type: 'text/plain; charset=utf-8', body: 'plain text' })
    expect((await app.get('/inspect/bytes')).json).toEqual({ status: 200, type: 'application/octet-stream', body: '\u0001\u0002\u0003' })
    expect((await app.get('/inspect/nothing')).json).toEqual({ status: 204, type: null, body: '' })
  })
})

describe('configuration', () => {
  it('fails listen() naming a middleware export that is missing, or not a function', async () => {
    const missing = createServer({ isolates: 1, root: fixtures, middleware: [`${M}#nope`], routes: [{ method: 'GET', path: '/', handler: `${R}#hello` }] })
    await expect(missing.listen()).rejects.toMatchObject({
      code: 'ISOPOOL_ERR_EXPORT_MISSING',
      message: `Module ${fixtures}middleware.ts has no export "nope"`
    })
    const route = createServer({ isolates: 1, root: fixtures })
    route.route('GET', '/', `${R}#hello`, { middleware: [`${M}#notAFunction`] })
    await expect(route.listen()).rejects.toMatchObject({
      code: 'ISOPOOL_ERR_EXPORT_NOT_FUNCTION',
      message: `Export "notAFunction" of module ${fixtures}middleware.ts is a number, not a function`
    })
  })

  it('fails listen() for a route() declaration whose middleware is not a function', async () => {
    const s = createServer({ isolates: 1, root: fixtures, modules: ['./middleware-bad-typed.ts'] })
    await expect(s.listen()).rejects.toMatchObject({
      code: 'ISOPOOL_ERR_INVALID_ROUTE',
      message: expect.stringContaining('middleware[0] is a number, not a function')
    })
  })

  it('refuses options that are not lists of module#export strings', () => {
    expect(() => createServer({ root: fixtures, middleware: './middleware.ts#tag' as never })).toThrow(expect.objectContaining({
      code: 'ISOPOOL_ERR_INVALID_OPTION',
      message: expect.stringContaining('Invalid option middleware: must be an array')
    }))
    expect(() => createServer({ root: fixtures, middleware: ['./middleware.ts#'] })).toThrow(expect.objectContaining({ code: 'ISOPOOL_ERR_INVALID_OPTION' }))
    expect(() => createServer({ root: fixtures }).route('GET', '/', `${R}#hello`, { middleware: [3 as never] })).toThrow(expect.objectContaining({
      code: 'ISOPOOL_ERR_INVALID_ROUTE',
      message: expect.stringContaining('middleware [0] must be a "module#export" string')
    }))
  })
})

