// Gaps the mutation run of issue 19 found in the handler contract: bytes a synchronous handler
// keeps from `req.body` are its own (not a view of ring memory later requests reuse); an empty
// query value is not a number (a 422, never 0); and the OpenAPI document lists the path
// parameters of plain `module#export` routes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { start } from './helpers.ts'
import type { Running } from './helpers.ts'

describe('req.body kept by a synchronous handler', () => {
  // One isolate and a 64 KiB ring: bodies of 10 KiB come whole with their head (lent), and ten of
  // them reuse the ring space the kept one was lent from.
  let app: Running
  beforeAll(async () => {
    app = await start({ isolates: 1, dev: false, ringSize: 64 * 1024 }, [
      ['POST', '/keep', './gaps/lent.ts#keep'],
      ['GET', '/kept', './gaps/lent.ts#giveBack'],
      ['POST', '/churn', './gaps/lent.ts#churn']
    ])
  })
  afterAll(() => app.close())

  const bodyOf = (i: number, size = 10_000): Buffer => {
    const b = Buffer.alloc(size)
    for (let k = 0; k < size; k++) b[k] = (k * 7 + i * 13) & 0xff
    return b
  }

  it('are the bytes that were sent, after later requests reused the ring it was lent from', async () => {
    const sent = bodyOf(1)
    expect((await app.post('/keep', sent)).text).toBe('kept')
    for (let round = 0; round < 3; round++) {
      const replies = await Promise.all(Array.from({ length: 10 }, (_, i) => app.post('/churn', bodyOf(100 + i).toString('latin1'))))
      for (const r of replies) expect(r.status).toBe(200)
    }
    const kept = await app.get('/kept')
    expect(kept.status).toBe(200)
    expect(kept.body.byteLength).toBe(sent.byteLength)
    expect(kept.body.equals(sent)).toBe(true)
  })
})

describe('an empty query value for an integer or a number', () => {
  // The README's coercion: strings from the URL are converted to the schema's types. An empty
  // value is present (it is not an absent key, so no default or "optional" applies) and is no
  // number: it stays the string '' and the schema refuses it — a 422, never a silent 0.
  let app: Running
  beforeAll(async () => {
    app = await start({ isolates: 1, modules: ['./gaps/typed-query'] })
  })
  afterAll(() => app.close())

  for (const path of ['/fused', '/coerced']) {
    it(`is a 422 naming the field, never 0 (${path})`, async () => {
      expect((await app.get(`${path}?n=0&x=0`)).json).toEqual({ n: 0, x: 0 })
      expect((await app.get(`${path}?n=3`)).json).toEqual({ n: 3, x: null })
      for (const [query, field] of [['n=', 'n'], ['n=1&x=', 'x'], ['n=1&x=%20', 'x'], ['n=%20', 'n']] as const) {
        const r = await app.get(`${path}?${query}`)
        expect(r.status, `${path}?${query}`).toBe(422)
        expect(r.json.error.code).toBe('ISOPOOL_ERR_VALIDATION')
        expect(r.json.error.details, `${path}?${query}`).toEqual([
          expect.objectContaining({ in: 'query', path: `query.${field}`, received: query.endsWith('%20') ? ' ' : '' })
        ])
      }
    })
  }
})

describe('the OpenAPI document of plain routes', () => {
  let app: Running
  beforeAll(async () => {
    app = await start({ isolates: 1 }, [
      ['GET', '/items/:id', './gaps/handlers.ts#params'],
      ['DELETE', '/shops/:shop/items/:item', './gaps/handlers.ts#params'],
      ['GET', '/files/*', './gaps/handlers.ts#params'],
      ['GET', '/', './gaps/handlers.ts#hello']
    ])
  })
  afterAll(() => app.close())

  it('lists each path parameter of a module#export route as a required string', async () => {
    const doc = (await app.get('/openapi.json')).json
    const param = (name: string): object => ({ name, in: 'path', required: true, schema: { type: 'string' } })
    expect(doc.paths['/items/{id}'].get.parameters).toEqual([param('id')])
    expect(doc.paths['/shops/{shop}/items/{item}'].delete.parameters).toEqual([param('shop'), param('item')])
    expect(doc.paths['/files/{wildcard}'].get.parameters).toEqual([param('wildcard')])
    expect(doc.paths['/'].get.parameters).toEqual([])
    // And the routes take what the document says.
    expect((await app.get('/items/42')).json).toEqual({ params: { id: '42' } })
  })
})
