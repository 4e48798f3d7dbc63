// Coercion of string-valued request parts (src/isolate/coerce.ts): the converters, and the
// per-route function compiled from a flat object schema.
import { describe, expect, it } from 'vitest'
import { compileCoercer, hasDefaults, isIntegerText, toBoolean, toInteger, toNumber } from '../../src/isolate/coerce.ts'

type Input = Record<string, string | string[] | undefined>
const input = (o: Input): Input => Object.assign(Object.create(null) as Input, o)

describe('isIntegerText', () => {
  it('is what /^-?\\d+$/ matches, at every edge of the digits', () => {
    const texts = ['', '-', '0', '9', '-0', '-9', '007', '123', '-123', '/', ':', '1/', '1:', '/1', ':1', '-/', '-:', '--1', '+1',
      ' 1', '1 ', '1a', 'a1', '1-', '1.0', '٣', '١٢', '1'.repeat(40)]
    for (const s of texts) expect(isIntegerText(s), JSON.stringify(s)).toBe(/^-?\d+$/.test(s))
  })
})

describe('the converters', () => {
  it('make integers of integer text only', () => {
    expect(['42', '-7', '0', '007'].map(toInteger)).toEqual([42, -7, 0, 7])
    for (const s of ['1.5', '', '-', 'x', ' 1', '1e3']) expect(toInteger(s)).toBe(s)
  })

  it('make numbers of what Number reads, but not of blank text or NaN', () => {
    expect(['1.5', '-0.25', ' 12 ', '1e3', 'Infinity', '0x1F'].map(toNumber)).toEqual([1.5, -0.25, 12, 1000, Infinity, 31])
    for (const s of ['', '   ', '\t', 'abc', 'NaN', '1,5']) expect(toNumber(s)).toBe(s)
  })

  it('make booleans of true, 1, false and 0 only', () => {
    expect(['true', '1', 'false', '0'].map(toBoolean)).toEqual([true, true, false, false])
    for (const s of ['TRUE', 'False', 'yes', '', '2', '01']) expect(toBoolean(s)).toBe(s)
  })
})

describe('compileCoercer', () => {
  it('converts each declared property by its type, in place, and leaves the rest as they came', () => {
    const coerce = compileCoercer({
      type: 'object',
      properties: { s: { type: 'string' }, i: { type: 'integer' }, n: { type: 'number' }, b: { type: 'boolean' } }
    })!
    const part = input({ s: '42', i: '42', n: '4.5', b: '0', other: '7' })
    const out = coerce(part)
    expect(out).toBe(part)
    expect({ ...out }).toEqual({ s: '42', i: 42, n: 4.5, b: false, other: '7' })
    expect({ ...coerce(input({ i: 'x', n: '', b: 'maybe' })) }).toEqual({ i: 'x', n: '', b: 'maybe' })
  })

  it('makes an array of a single value for an array property, converting each item', () => {
    const coerce = compileCoercer({ type: 'object', properties: { ids: { type: 'array', items: { type: 'integer' } }, tags: { type: 'array', items: { type: 'string' } } } })!
    expect({ ...coerce(input({ ids: '3', tags: 'a' })) }).toEqual({ ids: [3], tags: ['a'] })
    expect({ ...coerce(input({ ids: ['1', 'x', '-2'], tags: ['a', 'b'] })) }).toEqual({ ids: [1, 'x', -2], tags: ['a', 'b'] })
  })

  it('leaves a repeated key of a scalar property an array, for the check to refuse', () => {
    const coerce = compileCoercer({ type: 'object', properties: { page: { type: 'integer' } } })!
    expect({ ...coerce(input({ page: ['1', '2'] })) }).toEqual({ page: ['1', '2'] })
  })

  it('fills in defaults for absent properties only, a fresh copy of an array each time', () => {
    const coerce = compileCoercer({
      type: 'object',
      properties: {
        page: { type: 'integer', default: 1 },
        sort: { type: 'string', default: 'name' },
        tags: { type: 'array', items: { type: 'string' }, default: ['x'] },
        q: { type: 'string' }
      }
    })!
    const first = coerce(input({}))
    expect({ ...first }).toEqual({ page: 1, sort: 'name', tags: ['x'] })
    expect('q' in first).toBe(false)
    ;(first.tags as string[]).push('changed')
    expect(coerce(input({})).tags).toEqual(['x'])
    expect({ ...coerce(input({ page: '3', sort: 'date', tags: 'y' })) }).toEqual({ page: 3, sort: 'date', tags: ['y'] })
  })

  it('takes property names that are not identifiers', () => {
    const coerce = compileCoercer({ type: 'object', properties: { 'x-api-version': { type: 'integer' }, 'a"b\\c': { type: 'boolean' }, '': { type: 'number' } } })!
    expect({ ...coerce(input({ 'x-api-version': '2', 'a"b\\c': 'true', '': '1.5' })) }).toEqual({ 'x-api-version': 2, 'a"b\\c': true, '': 1.5 })
  })

  it('is not built for a schema it does not cover', () => {
    const outside: unknown[] = [
      { type: 'array', items: { type: 'string' } },
      { type: 'object' },
      { properties: { a: { type: 'string' } } },
      { type: 'object', properties: { a: { type: 'object', properties: {} } } },
      { type: 'object', properties: { a: {} } },
      { type: 'object', properties: { a: { type: 'array' } } },
      { type: 'object', properties: { a: { type: 'array', items: { type: 'array', items: { type: 'string' } } } } },
      { type: 'object', properties: { ok: { type: 'string' }, a: { anyOf: [{ type: 'string' }] } } }
    ]
    for (const schema of outside) expect(compileCoercer(schema), JSON.stringify(schema)).toBeNull()
    expect(compileCoercer({ type: 'object', properties: {} })).not.toBeNull()
  })
})

describe('hasDefaults', () => {
  it('is true when a default is declared anywhere in the schema', () => {
    expect(hasDefaults({ type: 'object', properties: { a: { type: 'string', default: 'x' } } })).toBe(true)
    expect(hasDefaults({ type: 'object', properties: { a: { type: 'object', properties: { b: { type: 'number', default: 0 } } } } })).toBe(true)
    expect(hasDefaults({ type: 'object', properties: { a: { type: 'string', description: 'the default' } } })).toBe(false)
    expect(hasDefaults({ type: 'object', properties: {} })).toBe(false)
  })
})
