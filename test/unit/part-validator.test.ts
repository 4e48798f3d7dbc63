// The fused validator of string-valued request parts (src/isolate/part-validator.ts), checked
// against what it stands in for: the compiled coercer, then TypeBox's own Check. Each supported
// keyword on values on both sides of its limit; the schemas it must leave to TypeBox.
// (test/part-validator-properties.test.ts draws random schemas and inputs for the same claim.)
import { describe, expect, it } from 'vitest'
import { Type } from 'typebox'
import type { TSchema } from 'typebox'
import { Compile } from 'typebox/compile'
import { compileCoercer } from '../../src/isolate/coerce.ts'
import { compilePartValidator } from '../../src/isolate/part-validator.ts'
import { load as loadTypebox } from '../../src/isolate/typebox.ts'

await loadTypebox()

type Input = Record<string, string | string[] | undefined>

const copy = (input: Input): Input => {
  const out = Object.create(null) as Input
  for (const [k, v] of Object.entries(input)) out[k] = Array.isArray(v) ? [...v] : v
  return out
}

/** Validate each input with the fused validator and with the coercer + TypeBox: the same value
 * and the same verdict every time. Returns the verdicts, so a case can show it has both. */
function agree (schema: TSchema, inputs: Input[]): boolean[] {
  const validate = compilePartValidator(schema)
  expect(validate, `compiled for ${JSON.stringify(schema)}`).not.toBeNull()
  return inputs.map(input => {
    const value = copy(input)
    const valid = validate!(value)
    const expected = compileCoercer(schema)!(copy(input))
    expect(value, JSON.stringify(input)).toStrictEqual(expected)
    expect(valid, `${JSON.stringify(input)} for ${JSON.stringify(schema)}`).toBe(Compile(schema).Check(expected))
    return valid
  })
}

/** `agree` on the values of one property `v`, and there are valid and invalid ones among them. */
function boundary (property: TSchema, values: (string | string[])[]): void {
  const verdicts = agree(Type.Object({ v: property }), values.map(v => ({ v })))
  expect(verdicts, JSON.stringify(property)).toContain(true)
  expect(verdicts, JSON.stringify(property)).toContain(false)
}

describe('string keywords', () => {
  it('minLength and maxLength, in code points', () => {
    boundary(Type.String({ minLength: 2 }), ['', 'a', 'ab', 'abc', '😀', '😀😀'])
    boundary(Type.String({ maxLength: 2 }), ['', 'ab', 'abc', '😀😀', '😀😀😀'])
    boundary(Type.String({ minLength: 0, maxLength: 0 }), ['', 'a'])
  })

  it('pattern, with the u flag', () => {
    boundary(Type.String({ pattern: '^[a-z]+$' }), ['abc', 'Abc', ''])
    boundary(Type.String({ pattern: '^\\p{L}+$' }), ['é', 'e1'])
  })

  it('enum and const', () => {
    boundary(Type.String({ enum: ['a', 'b'] }), ['a', 'b', 'c', ''])
    boundary(Type.String({ const: 'x' }), ['x', 'y'])
    boundary(Type.String({ enum: ['a', 'b'], const: 'b' }), ['a', 'b'])
  })
})

describe('number keywords', () => {
  it('minimum, maximum and the exclusive ones, for integers', () => {
    boundary(Type.Integer({ minimum: 2 }), ['1', '2', '3'])
    boundary(Type.Integer({ maximum: 5 }), ['5', '6'])
    boundary(Type.Integer({ exclusiveMinimum: 2 }), ['2', '3'])
    boundary(Type.Integer({ exclusiveMaximum: 5 }), ['4', '5'])
    boundary(Type.Integer(), ['7', '-7', '1.5', 'x', '', '1e3'])
  })

  it('multipleOf, enum and const, for integers', () => {
    boundary(Type.Integer({ multipleOf: 3 }), ['6', '7', '0'])
    boundary(Type.Integer({ enum: [1, 3] }), ['1', '2', '3'])
    boundary(Type.Integer({ const: 4 }), ['4', '5'])
  })

  it('every keyword, for numbers', () => {
    boundary(Type.Number({ minimum: 0.5 }), ['0.5', '0.4'])
    boundary(Type.Number({ maximum: 0.5 }), ['0.5', '0.6'])
    boundary(Type.Number({ exclusiveMinimum: 0.5 }), ['0.5', '0.6'])
    boundary(Type.Number({ exclusiveMaximum: 1 }), ['0.99', '1'])
    boundary(Type.Number({ multipleOf: 0.1 }), ['0.3', '0.35'])
    boundary(Type.Number({ enum: [0.5, 2] }), ['0.5', '2', '1'])
    boundary(Type.Number({ const: 0.5 }), ['0.5', '.5', '1'])
    boundary(Type.Number(), ['1.5', ' 2 ', 'Infinity', 'NaN', '', 'x'])
  })
})

describe('boolean keywords', () => {
  it('the type, enum and const', () => {
    boundary(Type.Boolean(), ['true', '0', 'yes', ''])
    boundary(Type.Boolean({ enum: [true] }), ['true', '1', 'false'])
    boundary(Type.Boolean({ const: false }), ['false', 'true'])
  })
})

describe('arrays', () => {
  it('convert every item, make an array of one value, and count them against minItems and maxItems', () => {
    boundary(Type.Array(Type.Integer(), { minItems: 1, maxItems: 2 }), [[], ['1'], '1', ['1', '2'], ['1', '2', '3'], ['1', 'x']])
    boundary(Type.Array(Type.String({ minLength: 2 })), [['ab', 'cd'], ['ab', 'c'], 'abc'])
    boundary(Type.Array(Type.Boolean(), { minItems: 2 }), [['true', '0'], ['true']])
    boundary(Type.Array(Type.Number(), { maxItems: 1 }), [['1.5'], ['1', '2']])
  })
})

describe('presence', () => {
  it('refuses a missing required property, takes a missing optional one, and leaves one present as undefined to TypeBox', () => {
    const schema = Type.Object({ r: Type.String(), o: Type.Optional(Type.Integer()) })
    expect(agree(schema, [{ r: 'x' }, { r: 'x', o: '2' }, { o: '2' }, {}])).toEqual([true, true, false, false])
    const validate = compilePartValidator(schema)!
    expect(validate(Object.assign(Object.create(null) as Input, { r: 'x', o: undefined }))).toBe(false)
  })

  it('fills in a default, and refuses a request that gets a default TypeBox would refuse', () => {
    const schema = Type.Object({ page: Type.Integer({ default: 5 }), tags: Type.Array(Type.String(), { default: ['a'] }) })
    expect(agree(schema, [{}, { page: '2', tags: 'b' }])).toEqual([true, true])
    const validate = compilePartValidator(schema)!
    const first = copy({})
    validate(first)
    ;(first.tags as unknown as string[]).push('changed')
    const second = copy({})
    validate(second)
    expect({ ...second }).toEqual({ page: 5, tags: ['a'] })
    const bad = Type.Object({ page: Type.Integer({ minimum: 10, default: 5 }) })
    expect(agree(bad, [{}, { page: '12' }])).toEqual([false, true])
  })

  it('refuses undeclared keys with additionalProperties false, and only then', () => {
    const closed = Type.Object({ a: Type.Optional(Type.String()), 'x-v.1_b': Type.Optional(Type.String()) }, { additionalProperties: false })
    expect(agree(closed, [{ a: 'x' }, { 'x-v.1_b': 'y' }, { a: 'x', extra: 'y' }, {}])).toEqual([true, true, false, true])
    const open = Type.Object({ a: Type.String() }, { additionalProperties: true })
    expect(agree(open, [{ a: 'x', extra: 'y' }])).toEqual([true])
    expect(agree(Type.Object({ a: Type.String() }), [{ a: 'x', extra: 'y' }])).toEqual([true])
  })

  it('takes annotations and TypeBox\'s markers anywhere, as they change nothing', () => {
    const annotations = { title: 't', description: 'd', examples: ['e'], $comment: 'c', deprecated: true, readOnly: true, writeOnly: false }
    const schema = Type.Object({
      a: Type.Optional(Type.Readonly(Type.String({ ...annotations, minLength: 1 }))),
      b: Type.Array(Type.Integer(annotations), annotations)
    }, annotations)
    expect(agree(schema, [{ b: '1' }, { a: '', b: '1' }, { a: 'x', b: ['1', 'y'] }])).toEqual([true, false, false])
  })
})

describe('what it leaves to TypeBox', () => {
  it('is not built for schemas outside the subset it implements', () => {
    const symbolKeyed = Object.assign(Type.String(), { [Symbol('x')]: 1 })
    const outside: unknown[] = [
      Type.String(),
      { type: 'object' },
      { type: 'object', properties: null },
      { type: 'object', properties: 'a' },
      { properties: { a: { type: 'string' } } },
      { type: 'object', properties: { a: { type: 'string' } }, minProperties: 1 },
      Type.Object({ a: Type.String(), constructor: Type.String() }),
      Type.Object({ toString: Type.Optional(Type.String()) }),
      { type: 'object', properties: { a: { type: 'string' } }, required: 'a' },
      { type: 'object', properties: { a: { type: 'string' } }, required: [1] },
      { type: 'object', properties: { 1: { type: 'string' } }, required: [1] },
      { type: 'object', properties: { a: { type: 'string' } }, required: ['a', 'b'] },
      Type.Object({ a: Type.String() }, { additionalProperties: Type.String() }),
      Type.Object({ 'a b': Type.String() }, { additionalProperties: false }),
      Type.Object({ a: Type.String(), 'a b': Type.String() }, { additionalProperties: false }),
      Type.Object({ a: Type.Union([Type.Literal('x'), Type.Literal('y')]) }),
      Type.Object({ a: Type.Object({ b: Type.String() }) }),
      Type.Object({ a: Type.Null() }),
      Type.Object({ a: Type.String({ format: 'email' }) }),
      Type.Object({ a: Type.String({ minimum: 1 } as never) }),
      Type.Object({ a: Type.Boolean({ minimum: 1 } as never) }),
      Type.Object({ a: symbolKeyed }),
      Type.Object({ a: Type.Array(Type.Object({})) }),
      Type.Object({ a: Type.Array(Type.String(), { uniqueItems: true }) }),
      Type.Object({ a: Type.Array(Type.String({ format: 'uuid' })) }),
      { type: 'object', properties: { a: { type: 'array' } } },
      { type: 'object', properties: { a: { type: 'array', items: null } } },
      { type: 'object', properties: { a: { type: 'array', items: 'string' } } },
      Type.Object({ a: Type.String({ pattern: 1 as unknown as string }) }),
      Type.Object({ a: Type.String({ pattern: '(' }) }),
      Type.Object({ a: Type.String({ pattern: '\\c' }) }), // valid without the u flag only
      Type.Object({ a: Type.Integer({ minimum: Infinity }) }),
      Type.Object({ a: Type.Integer({ maximum: Number.NaN }) }),
      Type.Object({ a: Type.Integer({ minimum: '1' as unknown as number }) }),
      Type.Object({ a: Type.Number({ multipleOf: 0 }) }),
      Type.Object({ a: Type.Number({ multipleOf: -2 }) }),
      Type.Object({ a: Type.String({ minLength: -1 }) }),
      Type.Object({ a: Type.String({ maxLength: 1.5 }) }),
      Type.Object({ a: Type.String({ maxLength: 2 ** 29 + 1 }) }),
      Type.Object({ a: Type.Array(Type.String(), { minItems: -1 }) }),
      Type.Object({ a: Type.String({ enum: [{}] }) }),
      Type.Object({ a: Type.String({ enum: ['a', {}] as never }) }),
      Type.Object({ a: Type.String({ enum: 'a' as never }) }),
      Type.Object({ a: Type.Number({ enum: [Number.NaN] }) }),
      Type.Object({ a: Type.String({ const: {} as never }) }),
      Type.Object({ a: Type.Number({ const: Infinity }) })
    ]
    for (const schema of outside) expect(compilePartValidator(schema), JSON.stringify(schema)).toBeNull()
  })

  it('is built at the edges of the subset', () => {
    const inside: TSchema[] = [
      Type.Object({ a: Type.String({ maxLength: 2 ** 29 }) }),
      Type.Object({ a: Type.String({ enum: [null as never, 'a', 1 as never, true as never] }) }),
      Type.Object({ a: Type.Optional(Type.String()) }),
      Type.Object({ 'a b': Type.String(), 'é': Type.Optional(Type.Integer()) }),
      Type.Object({ 'a b': Type.String() }, { additionalProperties: true }),
      Type.Object({})
    ]
    for (const schema of inside) expect(compilePartValidator(schema), JSON.stringify(schema)).not.toBeNull()
  })

  it('lets an error that is not about the subset through', () => {
    const hostile = { properties: {}, get type (): string { throw new Error('a getter that throws') } }
    expect(() => compilePartValidator(hostile)).toThrow('a getter that throws')
  })
})
