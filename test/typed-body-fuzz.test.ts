// Property-based fuzzing of the typed-route body path over real sockets: random JSON and
// MessagePack values — deep and wide, BigInts, cycles, keys named like Object.prototype's
// members, raw bytes that only look like MessagePack — sent to routes with every extraBody
// policy, a schema that takes anything, and a recursive one. Whatever the body, the answer is a
// 2xx, or a coded 400, 413 or 422; the server goes on serving; and no isolate is ever lost.
//
// A fixed seed makes a run reproducible; FC_SEED=n picks another, FC_RUNS_SCALE=k runs k× more.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as fc from 'fast-check'
import { Packr } from 'msgpackr'
import { start } from './helpers.ts'
import type { Running } from './helpers.ts'

const SEED = process.env.FC_SEED === undefined ? 0x7942 : Number(process.env.FC_SEED)
const SCALE = process.env.FC_RUNS_SCALE === undefined ? 1 : Number(process.env.FC_RUNS_SCALE)

let app: Running
beforeAll(async () => {
  app = await start({ isolates: 2, dev: false, modules: ['./hostile-typed'] }, [['GET', '/', './hostile.ts#hello']])
})
afterAll(() => app.close())

const ROUTES = ['/strict', '/stripped', '/kept', '/anything', '/tree']
const PROTO_KEYS = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'isPrototypeOf', 'customer', 'items', 'name', 'children']
const packr = new Packr({ useRecords: false, useBigIntExtension: true, structuredClone: true, moreTypes: true })

const key = fc.oneof(fc.constantFrom(...PROTO_KEYS), fc.string({ maxLength: 6 }))
const scalar = fc.oneof(fc.integer(), fc.double(), fc.string({ maxLength: 20 }), fc.boolean(), fc.constant(null), fc.bigInt())
/** Values of the shapes the routes expect (objects with customer and items) and of any other. */
const { value } = fc.letrec<{ value: unknown }>(tie => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true },
    scalar,
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(key, tie('value'), { maxKeys: 6 }),
    fc.record({ customer: fc.oneof(fc.string({ maxLength: 8 }), tie('value')), items: fc.array(fc.dictionary(key, tie('value'), { maxKeys: 4 }), { maxLength: 3 }) }, { requiredKeys: [] }))
}))

/** A value nested `depth` deep, as arrays or as the tree route's objects. */
const deep = fc.record({ depth: fc.integer({ min: 100, max: 30_000 }), tree: fc.boolean() })
  .map(({ depth, tree }) => tree ? '{"children":['.repeat(depth) + ']}'.repeat(depth) : '['.repeat(depth) + ']'.repeat(depth))

/** A value wide enough to make 422s long: many keys, or a long array of wrong items. */
const wide = fc.record({ keys: fc.integer({ min: 0, max: 20_000 }), items: fc.integer({ min: 0, max: 5_000 }) })
  .map(({ keys, items }) => {
    const o: Record<string, unknown> = { customer: 'c', items: Array.from({ length: items }, (_, i) => ({ name: i, tags: [i] })) }
    for (let i = 0; i < keys; i++) o[`k${i}`] = i
    return o
  })

const withCycle = value.map(v => {
  const o: Record<string, unknown> = { customer: 'c', items: [{ name: 'n', v }] }
  ;(o.items as Record<string, unknown>[])[0].self = o
  return o
})

type Body = { bytes: Uint8Array | string, type: string }
const json = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => typeof x === 'bigint' ? Number(x) : x) ?? 'null'
const body: fc.Arbitrary<Body> = fc.oneof(
  value.map(v => ({ bytes: json(v), type: 'application/json' })),
  value.map(v => ({ bytes: packr.pack(v), type: 'application/msgpack' })),
  deep.map(text => ({ bytes: text, type: 'application/json' })),
  wide.map(v => ({ bytes: JSON.stringify(v), type: 'application/json' })),
  withCycle.map(v => ({ bytes: packr.pack(v), type: 'application/msgpack' })),
  fc.uint8Array({ maxLength: 64 }).map(b => ({ bytes: b, type: 'application/msgpack' })),
  fc.string({ maxLength: 64 }).map(s => ({ bytes: s, type: 'application/json' }))
)

describe('the typed-route body path, fuzzed', () => {
  it('answers any body with a 2xx or a coded 400, 413 or 422, and loses no isolate', async () => {
    const before = app.server.restarts
    await fc.assert(fc.asyncProperty(fc.constantFrom(...ROUTES), body, async (path, { bytes, type }) => {
      const r = await app.post(path, bytes, { 'content-type': type })
      expect([200, 400, 413, 422], `${path} ${r.status} ${r.text.slice(0, 200)}`).toContain(r.status)
      if (r.status !== 200) {
        expect(r.json.error.status).toBe(r.status)
        expect(r.json.error.code).toMatch(/^ISOPOOL_ERR_/)
        expect(r.body.byteLength).toBeLessThan(64 * 1024)
      }
    }), { seed: SEED, numRuns: 300 * SCALE })
    expect((await app.get('/')).status).toBe(200)
    expect(app.server.restarts).toBe(before)
  })
})
