// The media types a typed route's body may come as, over real sockets: application/json (any
// +json type, UTF-8), application/msgpack, multipart and urlencoded forms; anything else is a
// coded 415 naming what the route takes. And how the OpenAPI document and the docs page describe
// them (a form route, one that declares form limits or file fields, with the form types first).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { pack } from 'msgpackr'
import { FormData, request } from 'undici'
import { start } from './helpers.ts'
import type { Reply, Running } from './helpers.ts'

const TITLE = 'Notes & <Files> API'

let app: Running
beforeAll(async () => {
  app = await start({ isolates: 1, dev: false, modules: ['./content-types'], docs: { title: TITLE } })
})
afterAll(() => app.close())

const NOTE = JSON.stringify({ title: 'Hi' })
const EXPECTED = 'expected application/json (UTF-8, or a +json type), application/msgpack, multipart/form-data or application/x-www-form-urlencoded'
const JSON_FIRST = 'application/json, application/msgpack, multipart/form-data, application/x-www-form-urlencoded'
const FORMS_FIRST = 'multipart/form-data, application/x-www-form-urlencoded, application/json, application/msgpack'

function expect415 (r: Reply, type: string, expected: string): void {
  expect(r.status, r.text).toBe(415)
  expect(r.json.error).toEqual({ code: 'ISOPOOL_ERR_UNSUPPORTED_MEDIA_TYPE', message: `Content-Type ${type} is not accepted here; ${expected}`, status: 415 })
  expect(r.headers['x-content-type-options']).toBe('nosniff')
}

describe('a JSON route', () => {
  it('answers text/plain and application/xml with a 415 naming what it takes, and Accept-Post', async () => {
    for (const type of ['text/plain', 'application/xml', 'text/plain;charset=UTF-8']) {
      const r = await app.post('/notes', NOTE, { 'content-type': type })
      expect415(r, type, EXPECTED)
      expect(r.headers['accept-post']).toBe(JSON_FIRST)
    }
  })

  it('takes a form too, its text fields validated by the body schema', async () => {
    const urlencoded = await app.post('/notes', 'title=Hi', { 'content-type': 'application/x-www-form-urlencoded' })
    expect(urlencoded.status, urlencoded.text).toBe(200)
    expect(urlencoded.json).toEqual({ title: 'Hi', type: 'application/x-www-form-urlencoded' })
    const invalid = await app.post('/notes', 'title=', { 'content-type': 'application/x-www-form-urlencoded' })
    expect(invalid.status).toBe(422)
    const form = new FormData()
    form.append('title', 'Multi')
    const res = await request(app.url + '/notes', { method: 'POST', body: form, dispatcher: app.agent })
    expect(res.statusCode).toBe(200)
    expect(((await res.body.json()) as { title: string }).title).toBe('Multi')
  })

  it('takes application/json with parameters, in any case, and +json types', async () => {
    for (const type of ['application/json', 'application/json; charset=utf-8', 'Application/JSON;Charset="UTF-8"', 'application/vnd.api+json', 'application/problem+json; charset=utf-8']) {
      const r = await app.post('/notes', NOTE, { 'content-type': type })
      expect(r.status, `${type}: ${r.text}`).toBe(200)
      expect(r.json).toEqual({ title: 'Hi', type })
    }
  })

  it('takes application/msgpack', async () => {
    const r = await app.post('/notes', pack({ title: 'Packed' }), { 'content-type': 'application/msgpack' })
    expect(r.status).toBe(200)
    expect(r.json.title).toBe('Packed')
  })

  it('refuses JSON declared in a charset other than UTF-8, and a type that is no media type', async () => {
    expect415(await app.post('/notes', NOTE, { 'content-type': 'application/json; charset=iso-8859-1' }), 'application/json; charset=iso-8859-1', EXPECTED)
    expect415(await app.post('/notes', NOTE, { 'content-type': 'json' }), 'json', EXPECTED)
    expect415(await app.post('/notes', NOTE, { 'content-type': 'text/json+xml' }), 'text/json+xml', EXPECTED)
  })

  it('refuses a body without a Content-Type; an empty body without one is judged by the schema', async () => {
    expect415(await app.post('/notes', NOTE), '(none)', EXPECTED)
    const empty = await app.post('/notes', '')
    expect(empty.status).toBe(422)
    expect(empty.json.error.code).toBe('ISOPOOL_ERR_VALIDATION')
  })

  it('hints with Accept-Patch on PATCH, and with neither on PUT', async () => {
    const patch = await request(app.url + '/notes/1', { method: 'PATCH', body: 'title=x', headers: { 'content-type': 'text/plain' }, dispatcher: app.agent })
    expect(patch.statusCode).toBe(415)
    expect(patch.headers['accept-patch']).toBe(JSON_FIRST)
    expect(patch.headers['accept-post']).toBeUndefined()
    await patch.body.dump()
    const put = await request(app.url + '/notes/1', { method: 'PUT', body: NOTE, headers: { 'content-type': 'text/plain' }, dispatcher: app.agent })
    expect(put.statusCode).toBe(415)
    expect(put.headers['accept-post']).toBeUndefined()
    expect(put.headers['accept-patch']).toBeUndefined()
    await put.body.dump()
  })
})

describe('a form route', () => {
  it('answers text/plain with a 415 naming the form types first, and Accept-Post', async () => {
    for (const path of ['/attachments', '/survey']) {
      const r = await app.post(path, 'answer=yes', { 'content-type': 'text/plain' })
      expect415(r, 'text/plain', EXPECTED)
      expect(r.headers['accept-post']).toBe(FORMS_FIRST)
    }
  })

  it('takes JSON as well', async () => {
    const r = await app.post('/survey', JSON.stringify({ answer: 'json' }), { 'content-type': 'application/json' })
    expect(r.status, r.text).toBe(200)
    expect(r.json).toEqual({ answer: 'json' })
  })

  it('takes urlencoded and multipart bodies, files and all', async () => {
    const urlencoded = await app.post('/survey', 'answer=yes', { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' })
    expect(urlencoded.status).toBe(200)
    expect(urlencoded.json).toEqual({ answer: 'yes' })
    const form = new FormData()
    form.append('title', 'Report')
    form.append('doc', new Blob(['hello']), 'a.txt')
    form.append('cover', new Blob(['png']), 'c.png')
    const res = await request(app.url + '/attachments', { method: 'POST', body: form, dispatcher: app.agent })
    expect(res.statusCode).toBe(200)
    expect(await res.body.json()).toEqual({ title: 'Report', files: ['doc:a.txt:5', 'cover:c.png:3'] })
  })
})

describe('the OpenAPI document and the docs page', () => {
  it('documents a form route as multipart (file fields as binary) and urlencoded first', async () => {
    const doc = (await app.get('/openapi.json')).json
    const op = doc.paths['/attachments'].post
    expect(Object.keys(op.requestBody.content)).toEqual(['multipart/form-data', 'application/x-www-form-urlencoded', 'application/json', 'application/msgpack'])
    const multipart = op.requestBody.content['multipart/form-data'].schema
    expect(multipart.type).toBe('object')
    expect(multipart.properties).toEqual({
      title: { type: 'string', minLength: 1 },
      doc: { type: 'array', items: { type: 'string', format: 'binary' }, description: 'The documents' },
      cover: { type: 'string', format: 'binary' }
    })
    expect(multipart.required).toEqual(['title'])
    // Files cannot be urlencoded: that form has the text fields only.
    expect(op.requestBody.content['application/x-www-form-urlencoded'].schema.properties).toEqual({ title: { type: 'string', minLength: 1 } })
    expect(op.responses['415'].description).toContain('ISOPOOL_ERR_UNSUPPORTED_MEDIA_TYPE')
    expect(Object.keys(doc.paths['/survey'].post.requestBody.content)).toEqual(FORMS_FIRST.split(', '))
    // JSON carries no files: its schema is the text fields'.
    expect(op.requestBody.content['application/json'].schema.properties).toEqual({ title: { type: 'string', minLength: 1 } })
  })

  it('documents a JSON route as application/json and application/msgpack first', async () => {
    const doc = (await app.get('/openapi.json')).json
    const body = doc.paths['/notes'].post.requestBody
    expect(body.required).toBe(true)
    expect(Object.keys(body.content)).toEqual(JSON_FIRST.split(', '))
    expect(body.content['application/json'].schema.properties.title).toEqual({ type: 'string', minLength: 1 })
    expect(body.content['application/msgpack'].schema).toEqual(body.content['application/json'].schema)
  })

  it('titles the docs page with docs.title, escaped for HTML', async () => {
    const page = await app.get('/docs')
    expect(page.status).toBe(200)
    expect(page.text).toContain('<title>Notes &#38; &#60;Files&#62; API</title>')
    expect((await app.get('/openapi.json')).json.info.title).toBe(TITLE)
  })
})
