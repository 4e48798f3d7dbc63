// Typed routes over real sockets: discovery, coercion, 422 details, extra-field policies,
// conflicts, and the OpenAPI document.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createServer } from 'isopool'
import { fixtures, start } from './helpers.ts'
import type { Running } from './helpers.ts'

let app: Running
beforeAll(async () => {
  app = await start({ isolates: 2, modules: ['./typed'] })
})
afterAll(() => app.close())

describe('discovery', () => {
  it('serves the route() exports of the modules, found by each isolate', async () => {
    const r = await app.get('/users/7')
    expect(r.status).toBe(200)
    expect(r.json).toMatchObject({ id: 7, name: 'Ada', idType: 'number' })
    expect((await app.get('/helper')).status).toBe(404)
  })

  it('fails listen() naming both handlers when two routes claim one method and path', async () => {
    const s = createServer({ isolates: 1, root: fixtures, modules: ['./typed-dup'] })
    await expect(s.listen()).rejects.toMatchObject({
      code: 'ISOPOOL_ERR_ROUTE_CONFLICT',
      message: `Route GET /same is declared twice: by ${fixtures}typed-dup/a.ts#first and by ${fixtures}typed-dup/b.ts#second`
    })
  })
})

describe('coercion', () => {
  it('turns strings from the URL into integers, booleans, numbers and arrays, with defaults', async () => {
    const r = await app.get('/users/3?verbose=true&fields=a&fields=b&ratio=0.5')
    expect(r.json).toEqual({ id: 3, name: 'Ada', verbose: true, fields: ['a', 'b'], limit: 10, ratio: 0.5, idType: 'number' })
    const one = await app.get('/users/3?fields=only&limit=20&verbose=false')
    expect(one.json).toMatchObject({ fields: ['only'], limit: 20, verbose: false })
  })

  it('coerces headers and reads cookies', async () => {
    const r = await app.get('/whoami', { 'x-api-version': '2', cookie: 'other=1; session=abcd1234' })
    expect(r.json).toEqual({ version: 2, session: 'abcd1234' })
  })
})

describe('422', () => {
  it('lists every problem: where, what was expected, what came', async () => {
    const r = await app.get('/users/0?limit=500&ratio=lots')
    expect(r.status).toBe(422)
    expect(r.json.error.code).toBe('ISOPOOL_ERR_VALIDATION')
    expect(r.json.error.status).toBe(422)
    const details = r.json.error.details as { in: string, path: string, expected: string, received: unknown }[]
    expect(details).toEqual(expect.arrayContaining([
      expect.objectContaining({ in: 'params', path: 'params.id', expected: '>= 1', received: 0 }),
      expect.objectContaining({ in: 'query', path: 'query.limit', expected: '<= 100', received: 500 }),
      expect.objectContaining({ in: 'query', path: 'query.ratio', expected: 'number', received: 'lots' })
    ]))
    expect(details).toHaveLength(3)
  })

  it('names nested body fields like body.items[1].price', async () => {
    const r = await app.post('/orders', JSON.stringify({ customer: '', items: [{ sku: 'a', price: 1 }, { sku: 'b', price: 'free' }, { price: 2 }] }), { 'content-type': 'application/json' })
    expect(r.status).toBe(422)
    const paths = (r.json.error.details as { path: string }[]).map(d => d.path)
    expect(paths).toEqual(expect.arrayContaining(['body.customer', 'body.items[1].price', 'body.items[2].sku']))
  })

  it('a missing header or cookie is a 422 too', async () => {
    const r = await app.get('/whoami')
    expect(r.status).toBe(422)
    const paths = (r.json.error.details as { path: string }[]).map(d => d.path)
    expect(paths).toEqual(expect.arrayContaining(['headers.x-api-version', 'cookies.session']))
  })

  it('an empty body for a body schema is a 422, invalid JSON a 400', async () => {
    expect((await app.post('/orders', '')).status).toBe(422)
    const bad = await app.post('/orders', '{"customer":', { 'content-type': 'application/json' })
    expect(bad.status).toBe(400)
    expect(bad.json.error.code).toBe('ISOPOOL_ERR_INVALID_JSON')
  })
})

describe('constraints on string parts (the fused validator, TypeBox on doubt)', () => {
  it('accepts values on every limit, counting string lengths in code points', async () => {
    // q: 4 emoji are 4 code points (8 UTF-16 units) — within maxLength 4 as TypeBox counts.
    const r = await app.get('/search?q=%F0%9F%98%80%F0%9F%98%80%F0%9F%98%80%F0%9F%98%80&page=50&step=1.5&sort=asc&tags=abc&tags=d&exact=true')
    expect(r.status).toBe(200)
    expect(r.json).toEqual({ q: '😀😀😀😀', page: 50, step: 1.5, sort: 'asc', tags: ['abc', 'd'], exact: true })
    expect((await app.get('/search?q=ab')).json).toEqual({ q: 'ab', page: 1, tags: [] })
  })

  it('answers each violation with TypeBox\'s 422, one issue per broken keyword', async () => {
    // q: one emoji is 2 UTF-16 units but 1 code point, under minLength 2.
    const r = await app.get('/search?q=%F0%9F%98%80&page=0&step=0.3&sort=up&tags=abcd&tags=b&tags=c&exact=false')
    expect(r.status).toBe(422)
    const issue = (path: string, message: string, received: unknown, expected = message): unknown => ({ in: 'query', path, message, expected, received })
    expect(r.json.error.details).toEqual([
      issue('query.q', 'must not have fewer than 2 characters', '😀'),
      issue('query.page', 'must be > 0', 0, '> 0'),
      issue('query.step', 'must be multiple of 0.5', 0.3),
      issue('query.sort', 'must be equal to one of the allowed values', 'up'),
      issue('query.tags[0]', 'must not have more than 3 characters', 'abcd'),
      issue('query.tags', 'must not have more than 2 items', ['abcd', 'b', 'c']),
      issue('query.exact', 'must be equal to constant', false)
    ])
    // Each alone too: a request whose only problem is one keyword must not pass as valid.
    const alone: [string, unknown][] = [
      ['q=%F0%9F%98%80', issue('query.q', 'must not have fewer than 2 characters', '😀')],
      ['q=%F0%9F%98%80%F0%9F%98%80%F0%9F%98%80ab', issue('query.q', 'must not have more than 4 characters', '😀😀😀ab')],
      ['q=a1', issue('query.q', 'must match pattern "^[^0-9]+$"', 'a1')],
      ['q=ab&page=0', issue('query.page', 'must be > 0', 0, '> 0')],
      ['q=ab&page=51', issue('query.page', 'must be <= 50', 51, '<= 50')],
      ['q=ab&page=1.5', issue('query.page', 'must be integer', '1.5', 'integer')],
      ['q=ab&step=0.3', issue('query.step', 'must be multiple of 0.5', 0.3)],
      ['q=ab&sort=up', issue('query.sort', 'must be equal to one of the allowed values', 'up')],
      ['q=ab&tags=abcd', issue('query.tags[0]', 'must not have more than 3 characters', 'abcd')],
      ['q=ab&tags=a&tags=b&tags=c', issue('query.tags', 'must not have more than 2 items', ['a', 'b', 'c'])],
      ['q=ab&exact=false', issue('query.exact', 'must be equal to constant', false)]
    ]
    for (const [query, expected] of alone) {
      const one = await app.get('/search?' + query)
      expect(one.json?.error?.details, query).toEqual([expected])
    }
  })

  it('rejects an undeclared query key when the schema says additionalProperties: false', async () => {
    const r = await app.get('/search?q=ab&other=1')
    expect(r.status).toBe(422)
    expect((r.json.error.details as { path: string }[]).map(d => d.path)).toEqual(['query.other', 'query'])
  })
})

describe('the body', () => {
  const order = { customer: 'Ada', items: [{ sku: 'a', price: 2.5, qty: 2 }, { sku: 'b', price: 1, extra: true }], note: 'hi' }

  it('is parsed, validated and defaulted; extra fields are kept by default', async () => {
    const r = await app.post('/orders', JSON.stringify(order), { 'content-type': 'application/json' })
    expect(r.status).toBe(200)
    expect(r.json).toMatchObject({ total: 6, lines: 2 })
  })

  it('extraBody: "strip" drops fields the schema does not name, at every depth', async () => {
    const r = await app.post('/orders/stripped', JSON.stringify(order), { 'content-type': 'application/json' })
    expect(r.json).toEqual({ customer: 'Ada', items: [{ sku: 'a', price: 2.5, qty: 2 }, { sku: 'b', price: 1, qty: 1 }] })
  })

  it('extraBody: "reject" answers 422 naming each extra field', async () => {
    const r = await app.post('/orders/strict', JSON.stringify(order), { 'content-type': 'application/json' })
    expect(r.status).toBe(422)
    expect((r.json.error.details as { path: string }[]).map(d => d.path).sort()).toEqual(['body.items[1].extra', 'body.note'])
  })
})

describe('the OpenAPI document', () => {
  it('describes paths, parameters, bodies and responses in the schemas\' own form', async () => {
    const r = await app.get('/openapi.json')
    expect(r.status).toBe(200)
    const doc = r.json
    expect(doc.openapi).toBe('3.1.0')
    const get = doc.paths['/users/{id}'].get
    expect(get.operationId).toBe('getUser')
    expect(get.summary).toBe('Read one user')
    expect(get.parameters).toEqual(expect.arrayContaining([
      { name: 'id', in: 'path', required: true, schema: { type: 'integer', minimum: 1 } },
      { name: 'limit', in: 'query', required: true, schema: { type: 'integer', default: 10, maximum: 100 } },
      { name: 'verbose', in: 'query', required: false, schema: { type: 'boolean' } }
    ]))
    expect(get.responses['200'].content['application/json'].schema.properties).toMatchObject({ id: { type: 'integer' }, name: { type: 'string' }, fields: { type: 'array', items: { type: 'string' } } })
    expect(doc.paths['/orders'].post.requestBody.content['application/json'].schema.properties.items.minItems).toBe(1)
    expect(doc.paths['/whoami'].get.parameters.map((p: { in: string }) => p.in).sort()).toEqual(['cookie', 'header'])
  })

  it('serves Swagger UI at /docs from the npm package', async () => {
    const page = await app.get('/docs')
    expect(page.status).toBe(200)
    expect(page.headers['content-type']).toMatch(/text\/html/)
    expect(page.text).toContain('/openapi.json')
    const bundle = await app.get('/docs/swagger-ui-bundle.js')
    expect(bundle.status).toBe(200)
    expect(bundle.body.byteLength).toBeGreaterThan(100_000)
  })
})

// What route() and depends() make of a handler's types is asserted in test/types.test-d.ts,
// which `npm run typecheck` checks.

describe('dependencies and per-isolate setup', () => {
  it('run in order, each once per request, reach the handler typed; setup runs once per isolate and tears down', async () => {
    const { mkdtempSync, readdirSync, rmSync } = await import('node:fs')
    const { tmpdir } = await import('node:os')
    const { join } = await import('node:path')
    const dir = mkdtempSync(join(tmpdir(), 'isopool-teardown-'))
    process.env.ISOPOOL_TEST_TEARDOWN_DIR = dir
    const deps = await start({ isolates: 2, modules: ['./typed-deps'] })
    try {
      const replies = await Promise.all(Array.from({ length: 40 }, () => deps.get('/deps')))
      for (const r of replies) {
        expect(r.status).toBe(200)
        // a is needed by b and by c, and runs once; c waits for both.
        expect(r.json).toMatchObject({ order: ['a', 'b', 'c'], b: 2, c: 3, opens: 1 })
        expect(r.json.setupThread).toBe(r.json.thread)
      }
      expect(new Set(replies.map(r => r.json.thread)).size).toBe(2)
      const denied = await deps.get('/me')
      expect(denied.status).toBe(401)
      expect(denied.json.error.code).toBe('APP_UNAUTHENTICATED')
      expect((await deps.get('/me', { authorization: 'Bearer good' })).json).toEqual({ hello: 'ada' })
    } finally {
      await deps.close()
      delete process.env.ISOPOOL_TEST_TEARDOWN_DIR
    }
    // Each isolate closed its resource on shutdown.
    expect(readdirSync(dir).filter(f => f.startsWith('closed-'))).toHaveLength(2)
    rmSync(dir, { recursive: true, force: true })
  })
})

describe('MessagePack', () => {
  it('takes request bodies as application/msgpack and answers in msgpack when Accept prefers it', async () => {
    const { pack, unpack } = await import('msgpackr')
    const { request } = await import('undici')
    const order = { customer: 'Ada', items: [{ sku: 'a', price: 2.5, qty: 2 }] }
    const res = await request(app.url + '/orders', {
      method: 'POST',
      body: pack(order),
      headers: { 'content-type': 'application/msgpack', accept: 'application/msgpack, application/json;q=0.5' },
      dispatcher: app.agent
    })
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toBe('application/msgpack')
    expect(unpack(Buffer.from(await res.body.arrayBuffer()))).toMatchObject({ total: 5, lines: 1 })
  })

  it('answers JSON when Accept prefers JSON or says nothing', async () => {
    for (const accept of ['application/json, application/msgpack;q=0.9', '*/*', undefined]) {
      const r = await app.get('/users/1', accept === undefined ? {} : { accept })
      expect(r.headers['content-type']).toBe('application/json; charset=utf-8')
      expect(r.json.id).toBe(1)
    }
  })

  it('a body that is not MessagePack is a coded 400', async () => {
    const r = await app.post('/orders', Buffer.from([0xc1, 0xc1, 0xc1]), { 'content-type': 'application/msgpack' })
    expect(r.status).toBe(400)
    expect(r.json.error.code).toBe('ISOPOOL_ERR_INVALID_MSGPACK')
  })
})

describe('forms', () => {
  it('parses a multipart upload of several files, validating the text fields', async () => {
    const { FormData } = await import('undici')
    const form = new FormData()
    form.append('title', 'Report')
    form.append('copies', '2')
    form.append('doc', new Blob(['hello world'], { type: 'text/plain' }), 'a.txt')
    form.append('doc', new Blob([new Uint8Array(5000).fill(65)], { type: 'application/octet-stream' }), 'b.bin')
    const { request } = await import('undici')
    const res = await request(app.url + '/upload', { method: 'POST', body: form, dispatcher: app.agent })
    expect(res.statusCode).toBe(200)
    expect(await res.body.json()).toEqual({
      title: 'Report',
      copies: 2,
      files: [
        { field: 'doc', filename: 'a.txt', mimeType: 'text/plain', size: 11, head: 'hello' },
        { field: 'doc', filename: 'b.bin', mimeType: 'application/octet-stream', size: 5000, head: 'AAAAA' }
      ]
    })
  })

  it('answers 413 naming the file that is over its limit', async () => {
    const { FormData } = await import('undici')
    const form = new FormData()
    form.append('title', 'Big')
    form.append('copies', '1')
    form.append('small', new Blob(['ok']), 'small.txt')
    form.append('large', new Blob([new Uint8Array(20_000)]), 'large.bin')
    const { request } = await import('undici')
    const res = await request(app.url + '/upload', { method: 'POST', body: form, dispatcher: app.agent })
    expect(res.statusCode).toBe(413)
    const body = await res.body.json() as { error: { code: string, message: string } }
    expect(body.error.code).toBe('ISOPOOL_ERR_FORM_LIMIT')
    expect(body.error.message).toContain('large.bin')
  })

  it('validates urlencoded fields against the body schema', async () => {
    const ok = await app.post('/upload', 'title=Hi&copies=3', { 'content-type': 'application/x-www-form-urlencoded' })
    expect(ok.json).toMatchObject({ title: 'Hi', copies: 3, files: [] })
    const bad = await app.post('/upload', 'title=&copies=zero', { 'content-type': 'application/x-www-form-urlencoded' })
    expect(bad.status).toBe(422)
    expect((bad.json.error.details as { path: string }[]).map(d => d.path).sort()).toEqual(['body.copies', 'body.title'])
  })
})

describe('response schemas', () => {
  it('encode the result with the 200 schema\'s compiled encoder: undeclared fields stay out', async () => {
    const r = await app.get('/users/5?fields=x')
    expect(r.json).toEqual({ id: 5, name: 'Ada', verbose: null, fields: ['x'], limit: 10, ratio: null, idType: 'number' })
    expect(r.text).not.toContain('hunter2')
  })

  it('in development, a result that breaks its schema is a 500 naming the field', async () => {
    const dev = await start({ isolates: 1, dev: true, modules: ['./typed'] })
    try {
      const r = await dev.get('/liar')
      expect(r.status).toBe(500)
      expect(r.json.error.code).toBe('ISOPOOL_ERR_RESPONSE_SCHEMA')
      expect(r.json.error.message).toContain('response.name must be string')
      expect((await dev.get('/users/1')).status).toBe(200)
    } finally {
      await dev.close()
    }
  })

  it('in production the result is not checked', async () => {
    const r = await app.get('/liar')
    expect(r.status).toBe(200)
    expect(r.json).toEqual({ id: 1, name: 42 })
  })
})
