// The response encoder compiled from a schema: the same JSON as JSON.stringify for the declared
// fields, undeclared fields left out, and JSON.stringify's answer for shapes it was not built for.
import { describe, expect, it } from 'vitest'
import { Type } from 'typebox'
import { compileEncoder } from '../src/isolate/json-encoder.ts'

const Item = Type.Object({ sku: Type.String(), price: Type.Number(), tags: Type.Optional(Type.Array(Type.String())) })
const Order = Type.Object({
  id: Type.Integer(),
  paid: Type.Boolean(),
  note: Type.Optional(Type.String()),
  items: Type.Array(Item),
  meta: Type.Union([Type.String(), Type.Null()]),
  'odd "key"\u2028': Type.Optional(Type.String())
})

describe('compiled JSON encoder', () => {
  const encode = compileEncoder(Order)

  it('writes what JSON.stringify writes for every declared field', () => {
    const order = { id: 1, paid: true, note: 'quote " and \\ and \n', items: [{ sku: 'a', price: 1.5, tags: ['x', 'ü'] }, { sku: 'b', price: 0 }], meta: null, 'odd "key"\u2028': 'v' }
    expect(JSON.parse(encode(order))).toEqual(order)
    expect(encode(order)).toBe(JSON.stringify(order))
  })

  it('leaves out fields the schema does not declare, and undefined optional ones', () => {
    const out = JSON.parse(encode({ id: 2, paid: false, items: [{ sku: 'a', price: 1, secret: 'x' }], meta: 'm', password: 'hunter2', note: undefined }))
    expect(out).toEqual({ id: 2, paid: false, items: [{ sku: 'a', price: 1 }], meta: 'm' })
  })

  it('falls back to JSON.stringify for values of another shape', () => {
    expect(encode('not an object')).toBe('"not an object"')
    expect(encode([1, 2])).toBe('[1,2]')
    expect(JSON.parse(encode({ id: 'x', paid: 'yes', items: 'none', meta: 5 }))).toEqual({ id: 'x', paid: 'yes', items: 'none', meta: 5 })
    expect(encode({ id: Number.NaN, paid: true, items: [], meta: null })).toBe('{"id":null,"paid":true,"items":[],"meta":null}')
  })
})
