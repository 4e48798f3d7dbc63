// The fused validator of a string-valued request part (params, query, headers, cookies): one
// function generated at start-up from a flat object schema that converts each declared property
// (with the converters coerce.ts uses, so the value is the one the coercer would produce) and
// checks its constraints in the same pass. It answers only "valid" or "not sure": on false the
// caller runs TypeBox's Check and Errors on the converted value, so a 422 is TypeBox's own.
//
// It is built only for schemas whose every keyword it implements as TypeBox does (read in
// node_modules/typebox/build/schema/engine); anything else — unions, formats, nested objects,
// refinements, additionalProperties schemas — returns null and the part keeps the coercer +
// TypeBox path. String lengths are TypeBox's own code-point functions, multipleOf its own
// tolerance; a verdict of true must never be one TypeBox would reject.
import { Compile, Guard } from './typebox.ts'
import type { TSchema } from 'typebox'
import { toBoolean, toInteger, toNumber } from './coerce.ts'

type Input = Record<string, string | string[] | undefined>
/** Converts the declared properties of `input` in place; true when the result is valid. */
export type PartValidator = (input: Input) => boolean

type Scalar = 'string' | 'integer' | 'number' | 'boolean'

// Keywords that change nothing about validity (annotations) and, per type, those implemented.
const ANNOTATIONS = ['title', 'description', 'examples', '$comment', 'deprecated', 'readOnly', 'writeOnly']
const KEYWORDS: Record<Scalar | 'array', string[]> = {
  string: ['minLength', 'maxLength', 'pattern', 'enum', 'const'],
  integer: ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf', 'enum', 'const'],
  number: ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf', 'enum', 'const'],
  boolean: ['enum', 'const'],
  array: ['items', 'minItems', 'maxItems']
}
// TypeBox's non-enumerable markers that do not affect Check ('~refine' does, so it is absent).
const MARKERS = ['~kind', '~optional', '~readonly']
const OBJECT_KEYWORDS = ['type', 'properties', 'required', 'additionalProperties']

/** Thrown inside compilation for a schema outside the implemented subset; never escapes. */
class Unsupported extends Error {}

/** Emits the generated source; values other than property names travel in `constants`. */
class Emitter {
  readonly constants: unknown[] = []
  constant (value: unknown): string {
    this.constants.push(value)
    return `K[${this.constants.length - 1}]`
  }
}

export function compilePartValidator (schema: unknown): PartValidator | null {
  try {
    return compile(schema)
  } catch (e) {
    if (e instanceof Unsupported) return null
    throw e
  }
}

function compile (schema: unknown): PartValidator {
  const s = schema as { type?: unknown, properties?: unknown, required?: unknown, additionalProperties?: unknown }
  onlyKeys(s, OBJECT_KEYWORDS, [])
  if (s.type !== 'object' || typeof s.properties !== 'object' || s.properties === null) throw new Unsupported()
  const properties = s.properties as Record<string, unknown>
  const names = Object.keys(properties)
  // Names the prototype of a plain object answers (toString, __proto__, …) would read as
  // present: TypeBox and the coercer treat those specially; leave them to that path.
  if (names.some(n => n in Object.prototype)) throw new Unsupported()
  const required = s.required ?? []
  if (!Array.isArray(required) || !required.every(r => typeof r === 'string' && Object.hasOwn(properties, r))) throw new Unsupported()
  const extra = s.additionalProperties
  if (extra !== undefined && extra !== true && extra !== false) throw new Unsupported()
  // With additionalProperties: false TypeBox matches keys against a pattern built from the names;
  // for plain names that is equality, which is what the generated loop tests.
  if (extra === false && !names.every(n => /^[\w.-]+$/.test(n))) throw new Unsupported()

  const e = new Emitter()
  const statements = names.map(name => property(e, name, properties[name], required.includes(name)))
  if (extra === false) {
    const declared = e.constant(Object.assign(Object.create(null), Object.fromEntries(names.map(n => [n, true]))))
    statements.push(`for (const k in out) if (${declared}[k] !== true) { ok = false; break }`)
  }
  const code = `return (out) => { let ok = true, v, x; ${statements.join('\n')}; return ok }`
  return new Function('K', 'Guard', 'toInteger', 'toNumber', 'toBoolean', code)(e.constants, Guard, toInteger, toNumber, toBoolean) as PartValidator
}

/** The statement that converts and checks one declared property of `out`. */
function property (e: Emitter, name: string, schema: unknown, required: boolean): string {
  const p = schema as Record<string, unknown>
  const key = JSON.stringify(name)
  const type = p.type
  let present: string
  if (type === 'array') {
    onlyKeys(p, KEYWORDS.array, ['type', 'default'])
    const items = p.items as Record<string, unknown> | undefined
    if (items === undefined || typeof items !== 'object' || items === null) throw new Unsupported()
    const itemType = scalarType(items.type)
    onlyKeys(items, KEYWORDS[itemType], ['type'])
    const counts = [
      p.minItems === undefined ? '' : `v.length >= ${literal(count(p.minItems))}`,
      p.maxItems === undefined ? '' : `v.length <= ${literal(count(p.maxItems))}`
    ].filter(c => c !== '')
    // As the coercer does: a single value becomes a one-item array, every item is converted.
    present = `if (!Array.isArray(v)) { v = [v]; out[${key}] = v }` +
      (counts.length === 0 ? '' : ` if (!(${counts.join(' && ')})) ok = false;`) +
      ` for (let i = 0; i < v.length; i++) { x = v[i]; ${scalar(e, itemType, items, 'x', 'v[i]')} }`
  } else {
    const t = scalarType(type)
    onlyKeys(p, KEYWORDS[t], ['type', 'default'])
    // A repeated key for a scalar stays an array (as in the coercer): the type check fails it.
    present = `x = v; ${scalar(e, t, p, 'x', `out[${key}]`)}`
  }
  let missing: string
  if (p.default !== undefined) {
    const d = p.default
    // The default is checked now, once, by TypeBox itself: it is the value every request without
    // the property gets (a fresh copy for an array, as the coercer makes).
    const valid = defaultChecks(schema, d)
    missing = `out[${key}] = ${Array.isArray(d) ? `[...${e.constant(d)}]` : e.constant(d)}` + (valid ? '' : '; ok = false')
  } else if (required) {
    missing = 'ok = false'
  } else {
    // Absent is valid; present with the value undefined depends on TypeBox's
    // exactOptionalPropertyTypes setting, so that rare case is left to TypeBox.
    missing = `if (${key} in out) ok = false`
  }
  return `v = out[${key}]; if (v !== undefined) { ${present} } else { ${missing} }`
}

/** Converts the variable `x` (writing it back to `target`) and checks it: statements. */
function scalar (e: Emitter, type: Scalar, p: Record<string, unknown>, x: string, target: string): string {
  const checks: string[] = []
  let convert = ''
  switch (type) {
    case 'string':
      checks.push(`typeof ${x} === 'string'`)
      if (p.minLength !== undefined) checks.push(`Guard.IsMinLength(${x}, ${literal(count(p.minLength))})`)
      if (p.maxLength !== undefined) checks.push(`Guard.IsMaxLength(${x}, ${literal(count(p.maxLength))})`)
      if (p.pattern !== undefined) {
        if (typeof p.pattern !== 'string') throw new Unsupported()
        let re: RegExp
        // TypeBox compiles patterns with the 'u' flag; one it cannot compile is its error to report.
        try { re = new RegExp(p.pattern, 'u') } catch { throw new Unsupported() }
        checks.push(`${e.constant(re)}.test(${x})`)
      }
      break
    case 'integer':
    case 'number':
      convert = `if (typeof ${x} === 'string') { ${x} = ${type === 'integer' ? 'toInteger' : 'toNumber'}(${x}); ${target} = ${x} }`
      checks.push(type === 'integer' ? `Number.isInteger(${x})` : `Number.isFinite(${x})`)
      for (const [keyword, op] of [['minimum', '>='], ['maximum', '<='], ['exclusiveMinimum', '>'], ['exclusiveMaximum', '<']] as const) {
        if (p[keyword] !== undefined) checks.push(`${x} ${op} ${literal(finite(p[keyword]))}`)
      }
      if (p.multipleOf !== undefined) {
        const m = finite(p.multipleOf)
        if (m <= 0) throw new Unsupported()
        checks.push(`Guard.IsMultipleOf(${x}, ${literal(m)})`)
      }
      break
    case 'boolean':
      convert = `if (typeof ${x} === 'string') { ${x} = toBoolean(${x}); ${target} = ${x} }`
      checks.push(`typeof ${x} === 'boolean'`)
      break
  }
  // enum and const compare with ===, as TypeBox does for scalar options; others are not handled.
  if (p.enum !== undefined) {
    if (!Array.isArray(p.enum) || !p.enum.every(isScalarValue)) throw new Unsupported()
    checks.push(`${e.constant(p.enum)}.indexOf(${x}) !== -1`)
  }
  if (p.const !== undefined) {
    if (!isScalarValue(p.const)) throw new Unsupported()
    checks.push(`${x} === ${e.constant(p.const)}`)
  }
  return `${convert} if (!(${checks.join(' && ')})) ok = false`
}

function scalarType (type: unknown): Scalar {
  if (type === 'string' || type === 'integer' || type === 'number' || type === 'boolean') return type
  throw new Unsupported()
}

/** Rejects a schema with any key (enumerable or not) outside `allowed`, annotations and markers. */
function onlyKeys (schema: object, allowed: string[], also: string[]): void {
  for (const k of Reflect.ownKeys(schema)) {
    if (typeof k !== 'string') throw new Unsupported()
    if (!allowed.includes(k) && !also.includes(k) && !ANNOTATIONS.includes(k) && !MARKERS.includes(k)) throw new Unsupported()
  }
}

function finite (n: unknown): number {
  if (typeof n !== 'number' || !Number.isFinite(n)) throw new Unsupported()
  return n
}

/** A length or item count: TypeBox's length tests shift it left by one, so keep it well in range. */
function count (n: unknown): number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 2 ** 29) throw new Unsupported()
  return n
}

/** A finite number as a source literal (JSON.stringify writes it back exactly). */
function literal (n: number): string {
  return JSON.stringify(n)
}

function isScalarValue (v: unknown): boolean {
  return typeof v === 'string' || typeof v === 'boolean' || v === null || (typeof v === 'number' && Number.isFinite(v))
}

/** Whether TypeBox accepts `value` (a default) for the property schema `schema`. */
function defaultChecks (schema: unknown, value: unknown): boolean {
  return Compile(schema as TSchema).Check(value)
}
