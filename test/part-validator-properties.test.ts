// Property-based tests (fast-check) of the fused validator of string-valued parts
// (src/isolate/part-validator.ts) against a reference of its own: the conversions written out
// here from what they must do (independently of src/isolate/coerce.ts, whose converters the
// fused validator shares, so that a bug in one of them shows), then TypeBox's compiled Check. On
// random flat schemas of the supported subset and random parser-shaped inputs, the fused function
// must convert to the very same value (so a fallback reports what the coercer reports) and give
// TypeBox's verdict; above all it must never say "valid" where TypeBox says "invalid".
//
// Fixed seed, reproducible; explore with environment variables:
//   FC_SEED=123 npx vitest run test/part-validator-properties.test.ts
//   FC_RUNS_SCALE=20 npx vitest run test/part-validator-properties.test.ts
import { describe, expect, it } from 'vitest'
import * as fc from 'fast-check'
import { Type } from 'typebox'
import type { TSchema } from 'typebox'
import { Compile } from 'typebox/compile'
import { isIntegerText } from '../src/isolate/coerce.ts'
import { compilePartValidator } from '../src/isolate/part-validator.ts'
import { load as loadTypebox } from '../src/isolate/typebox.ts'

// The isolate loads TypeBox's compiler only when it has typed routes (src/isolate/typebox.ts).
await loadTypebox()

const SEED = process.env.FC_SEED === undefined ? 0x5c4e3a : Number(process.env.FC_SEED)
const SCALE = process.env.FC_RUNS_SCALE === undefined ? 1 : Number(process.env.FC_RUNS_SCALE)
const params = (numRuns: number): { seed: number, numRuns: number } =>
  ({ seed: SEED, numRuns: Math.max(1, Math.round(numRuns * SCALE)) })

type Input = Record<string, string | string[] | undefined>

// ── arbitraries ──────────────────────────────────────────────────────────────────────────────

/** A few of the keywords (none to `max`): with many at once almost nothing is valid, and a
 * property that never holds a valid value tests no keyword's boundary. */
function keywords (arbs: Record<string, fc.Arbitrary<unknown>>, max = 2): fc.Arbitrary<Record<string, unknown>> {
  return fc.subarray(Object.keys(arbs), { maxLength: max }).chain(names =>
    fc.tuple(...names.map(n => arbs[n])).map(values => Object.fromEntries(names.map((n, i) => [n, values[i]]))))
}

const smallInt = fc.integer({ min: -20, max: 20 })
const limit = fc.oneof(smallInt, fc.constantFrom(-0.5, 0.5, 2.5, 1e21, -1e21))
// Text where the edges are: integers in all spellings, numbers JavaScript reads but integers do
// not, booleans, empty and blank, and strings whose UTF-16 length differs from their code points.
const edgeText = fc.constantFrom(
  '0', '-0', '1', '2', '42', '-7', '007', '10', '20', '-', '--1', '+1', '1e3', '1.5', '0.5', '2.5', '-0.5', '.5', '0x1F', ' 12 ', '\t3\n',
  '', ' ', 'Infinity', '-Infinity', 'NaN', '99999999999999999999', '1'.repeat(400), 'true', 'false', 'TRUE', 'yes',
  'a', 'ab', 'abc', 'abcd', 'A1', 'é', 'e\u0301', '😀', '😀😀', 'a😀', '😀😀😀', '\uD83D', '\uDE00', 'a\uD83D', '\uDE00\uD83D', '٣'
)
const text = fc.oneof(
  { weight: 4, arbitrary: edgeText },
  { weight: 1, arbitrary: fc.integer({ min: -1000, max: 1000 }).map(String) },
  { weight: 1, arbitrary: fc.double({ noNaN: false }).map(String) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 5 }) },
  { weight: 1, arbitrary: fc.string({ unit: fc.integer({ min: 0xd7f0, max: 0xe010 }).map(c => String.fromCharCode(c)), maxLength: 4 }) }
)

const stringKeywords = keywords({
  minLength: fc.integer({ min: 0, max: 4 }),
  maxLength: fc.integer({ min: 0, max: 4 }),
  pattern: fc.constantFrom('^a', '^[a-z]+$', '\\d', '^.{2}$', '^\\p{L}+$', '😀', '^-?\\d+$'),
  enum: fc.array(edgeText, { minLength: 0, maxLength: 4 }),
  const: edgeText
})
const numberKeywords = (integer: boolean): fc.Arbitrary<Record<string, unknown>> => keywords({
  minimum: limit,
  maximum: limit,
  exclusiveMinimum: limit,
  exclusiveMaximum: limit,
  multipleOf: integer ? fc.constantFrom(1, 2, 3, 0.5, 10) : fc.constantFrom(0.1, 0.5, 1, 2, 0.01),
  enum: fc.array(fc.oneof(smallInt, fc.constantFrom(0.5, 1.5, -0)), { minLength: 0, maxLength: 4 }),
  const: fc.oneof(smallInt, fc.constant(0.5))
})
const booleanKeywords = keywords({ enum: fc.array(fc.boolean(), { maxLength: 2 }), const: fc.boolean() })

type Kind = 'string' | 'integer' | 'number' | 'boolean'
const scalarSchema: fc.Arbitrary<{ kind: Kind, schema: TSchema }> = fc.oneof(
  stringKeywords.map(k => ({ kind: 'string' as const, schema: Type.String(k) })),
  numberKeywords(true).map(k => ({ kind: 'integer' as const, schema: Type.Integer(k) })),
  numberKeywords(false).map(k => ({ kind: 'number' as const, schema: Type.Number(k) })),
  booleanKeywords.map(k => ({ kind: 'boolean' as const, schema: Type.Boolean(k) }))
)
/** A value of roughly the kind's type, valid or not: what a default may be. */
const valueOf = (kind: Kind): fc.Arbitrary<unknown> =>
  kind === 'string' ? edgeText : kind === 'boolean' ? fc.boolean() : fc.oneof(smallInt, fc.constantFrom(0.5, 2.5))

const propertySchema: fc.Arbitrary<TSchema> = fc.oneof(
  scalarSchema.chain(({ kind, schema }) => fc.option(valueOf(kind), { nil: undefined }).map(d =>
    d === undefined ? schema : { ...schema, default: d } as TSchema)),
  fc.tuple(scalarSchema, keywords({ minItems: fc.integer({ min: 0, max: 3 }), maxItems: fc.integer({ min: 0, max: 3 }) })).chain(([{ kind, schema }, k]) =>
    fc.option(fc.array(valueOf(kind), { maxLength: 3 }), { nil: undefined }).map(d =>
      Type.Array(schema, d === undefined ? k : { ...k, default: d })))
).chain(s => fc.boolean().map(optional => optional ? Type.Optional(s) : s))

const NAMES = ['id', 'q', 'page', 'x-api-version', 'tags', 'on']
const objectSchema = (maxProperties: number): fc.Arbitrary<TSchema> => fc.tuple(
  fc.uniqueArray(fc.constantFrom(...NAMES), { minLength: 1, maxLength: maxProperties }).chain(names =>
    fc.tuple(...names.map(() => propertySchema)).map(props => Object.fromEntries(names.map((n, i) => [n, props[i]])))),
  fc.constantFrom(undefined, true, false)
).map(([props, additional]) => Type.Object(props, additional === undefined ? {} : { additionalProperties: additional }))

/** Texts at the boundaries a schema names: its limits and their neighbours, its enum and const
 * options, its defaults — so a value exactly on a limit, or just past it, comes up often. */
function textsOf (schema: unknown): string[] {
  const out = new Set<string>()
  const visit = (s: unknown): void => {
    if (Array.isArray(s)) { s.forEach(visit); return }
    if (typeof s === 'number') for (const n of [s, s - 1, s + 1, s * 2, s * 3, s / 2, s + 0.5, s - 0.5]) out.add(String(n))
    else if (typeof s === 'string' || typeof s === 'boolean') out.add(String(s))
    else if (s !== null && typeof s === 'object') for (const [k, v] of Object.entries(s)) if (k !== 'type' && k !== 'required') visit(v)
  }
  visit(schema)
  return [...out]
}

/** What the request parsers produce: a null-prototype object of strings and string arrays,
 * with most of the keys the schema declares and sometimes one it does not. `undefinedValues`
 * adds keys present with the value undefined, which the parsers never produce but the part's
 * type allows. */
function inputFor (schema: TSchema, undefinedValues: boolean, allDeclared = false): fc.Arbitrary<Input> {
  // Strings whose length in UTF-16 units is not their length in code points, always near.
  const near = [...textsOf(schema), '😀', '😀😀', 'a😀', '\uD83D']
  const one = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...near) }, { weight: 1, arbitrary: text })
  const value = fc.oneof(
    { weight: 4, arbitrary: one },
    { weight: 1, arbitrary: fc.array(one, { minLength: 1, maxLength: 4 }) },
    ...(undefinedValues ? [{ weight: 1, arbitrary: fc.constant(undefined) }] : [])
  )
  const declared = Object.keys((schema as { properties: object }).properties)
  return fc.record(Object.fromEntries([...declared, 'other'].map(n => [n, value])), { requiredKeys: allDeclared ? declared : [] })
    .map(d => Object.assign(Object.create(null) as Input, d))
}

/** A schema and an input for it. */
const schemaAndInput = (undefinedValues: boolean, maxProperties = 3, allDeclared = false): fc.Arbitrary<[TSchema, Input]> =>
  objectSchema(maxProperties).chain(schema => inputFor(schema, undefinedValues, allDeclared).map(input => [schema, input] as [TSchema, Input]))

const copy = (input: Input): Input => {
  const out = Object.create(null) as Input
  for (const [k, v] of Object.entries(input)) out[k] = Array.isArray(v) ? [...v] : v
  return out
}

// ── the reference ────────────────────────────────────────────────────────────────────────────
//
// A string from the URL or a header becomes the schema's type where it spells one, and stays the
// string it was where it does not (the check then refuses it):
// - integer: an optional '-' and ASCII digits, nothing else;
// - number: what JavaScript's Number() reads as a number — a decimal with optional sign,
//   fraction and exponent, Infinity, or 0x / 0o / 0b digits, with white space around — and not
//   a blank string (which Number() would read as 0);
// - boolean: 'true' and '1', 'false' and '0';
// - string: as it is.
// An array property takes a single value as a one-item array and converts every item; a scalar
// property given a repeated key keeps the array (the check refuses it). A declared property that
// is absent takes its default (a fresh copy of an array default); undeclared keys stay as they came.

const INTEGER_TEXT = /^-?[0-9]+$/
const NUMBER_TEXT = /^\s*(?:[+-]?(?:Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)|0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+)\s*$/
const BOOLEAN_TEXT = new Map<string, boolean>([['true', true], ['1', true], ['false', false], ['0', false]])

function referenceScalar (type: string | undefined, s: string): unknown {
  if (type === 'integer') return INTEGER_TEXT.test(s) ? Number(s) : s
  if (type === 'number') return NUMBER_TEXT.test(s) ? Number(s) : s
  if (type === 'boolean') return BOOLEAN_TEXT.has(s) ? BOOLEAN_TEXT.get(s) : s
  if (type === 'string') return s
  throw new Error(`no reference conversion for ${type}`)
}

interface PropSchema { type?: string, items?: { type?: string }, default?: unknown }

function referenceConvert (schema: TSchema, input: Input): Record<string, unknown> {
  const out: Record<string, unknown> = Object.assign(Object.create(null), copy(input))
  for (const [name, prop] of Object.entries((schema as { properties: Record<string, PropSchema> }).properties)) {
    const v = input[name]
    if (v === undefined) {
      if (prop.default !== undefined) out[name] = Array.isArray(prop.default) ? [...prop.default] : prop.default
    } else if (prop.type === 'array') {
      out[name] = (Array.isArray(v) ? v : [v]).map(item => referenceScalar(prop.items?.type, item))
    } else {
      out[name] = Array.isArray(v) ? [...v] : referenceScalar(prop.type, v)
    }
  }
  return out
}

/** The reference: the conversions above, then TypeBox's own compiled Check. */
function before (schema: TSchema, input: Input): { value: unknown, valid: boolean } {
  const value = referenceConvert(schema, input)
  return { value, valid: Compile(schema).Check(value) }
}

// ── properties ───────────────────────────────────────────────────────────────────────────────

describe('the fused part validator', () => {
  it('accepts exactly what the reference conversion + TypeBox accept, converting to the same value', () => {
    fc.assert(fc.property(schemaAndInput(false), ([schema, input]) => {
      const validate = compilePartValidator(schema)
      expect(validate).not.toBeNull()
      const value = copy(input)
      const valid = validate!(value)
      const old = before(schema, input)
      expect(value).toStrictEqual(old.value)
      expect(valid).toBe(old.valid)
    }), params(3000))
  })

  it('draws every boundary where TypeBox does (one property, always present, often on a limit)', () => {
    // With several properties a value on one limit rarely meets valid values everywhere else:
    // alone, each keyword's boundary (inclusive or not, code points or units) is hit often.
    fc.assert(fc.property(schemaAndInput(false, 1, true), ([schema, input]) => {
      const value = copy(input)
      const valid = compilePartValidator(schema)!(value)
      const old = before(schema, input)
      expect(value).toStrictEqual(old.value)
      expect(valid).toBe(old.valid)
    }), params(3000))
  })

  it('never says valid where TypeBox says invalid, even for keys present with the value undefined', () => {
    fc.assert(fc.property(schemaAndInput(true), ([schema, input]) => {
      const value = copy(input)
      const valid = compilePartValidator(schema)!(value)
      const old = before(schema, input)
      expect(value).toStrictEqual(old.value)
      if (valid) expect(old.valid).toBe(true)
    }), params(2000))
  })

  it('leaves an optional key present as undefined to TypeBox (whose verdict depends on a setting)', () => {
    const schema = Type.Object({ a: Type.Optional(Type.String()) })
    const input = Object.assign(Object.create(null) as Input, { a: undefined })
    expect(compilePartValidator(schema)!(copy(input))).toBe(false)
    expect(before(schema, input).valid).toBe(true)
  })

  it('counts string lengths in code points, as TypeBox does', () => {
    const validate = compilePartValidator(Type.Object({ s: Type.String({ minLength: 2, maxLength: 2 }) }))!
    expect(validate({ s: '😀😀' })).toBe(true) // 4 UTF-16 units, 2 code points
    expect(validate({ s: '😀' })).toBe(false) // 2 UTF-16 units, 1 code point
  })

  it('is not built for schemas outside the subset it implements', () => {
    const outside: TSchema[] = [
      Type.Object({ a: Type.Union([Type.Literal('x'), Type.Literal('y')]) }),
      Type.Object({ a: Type.String({ format: 'email' }) }),
      Type.Object({ a: Type.Refine(Type.Integer(), v => v > 2) }),
      Type.Object({ a: Type.Object({ b: Type.String() }) }),
      Type.Object({ a: Type.Array(Type.Object({})) }),
      Type.Object({ a: Type.Array(Type.String(), { uniqueItems: true }) }),
      Type.Object({ a: Type.String() }, { additionalProperties: Type.String() }),
      Type.Object({ a: Type.String() }, { minProperties: 1 }),
      Type.Object({ constructor: Type.String() }),
      Type.Object({ a: Type.String({ enum: [{}] }) }),
      Type.Object({ a: Type.Integer({ minimum: '1' as unknown as number }) }),
      Type.Object({ a: Type.Number({ multipleOf: 0 }) }),
      Type.Object({ a: Type.Enum(['x', 'y']) }),
      Type.Record(Type.String(), Type.String()),
      { type: 'object', properties: { a: { type: 'string' } }, required: ['b'] } as unknown as TSchema
    ]
    for (const schema of outside) expect(compilePartValidator(schema), JSON.stringify(schema)).toBeNull()
  })
})

describe('isIntegerText', () => {
  it('matches /^-?\\d+$/', () => {
    fc.assert(fc.property(fc.oneof(text, fc.stringMatching(/^-?\d{0,4}$/)), s => {
      expect(isIntegerText(s)).toBe(/^-?\d+$/.test(s))
    }), params(2000))
  })
})
