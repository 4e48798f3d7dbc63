// Coercion of the string-valued parts of a request (params, query, headers, cookies) to a flat
// object schema, compiled once per route: each declared property gets its converter and its
// default decided at start-up, so the per-request work is one pass over the declared names.
// (TypeBox's Value.Convert and Value.Default walk the schema on every call.) A schema this does
// not cover — nested objects, unions, refs — returns null, and the caller falls back to TypeBox.

type Input = Record<string, string | string[] | undefined>
/** Converts the declared properties of `input` in place and returns it. */
export type Coerce = (input: Input) => Record<string, unknown>

interface Prop {
  type?: string
  items?: Prop
  default?: unknown
}

/** True for an optional '-' then one or more ASCII digits (what /^-?\d+$/ matches), tested by
 * hand: the regular expression cost more than the rest of a small part's validation. */
export function isIntegerText (s: string): boolean {
  const n = s.length
  let i = n > 0 && s.charCodeAt(0) === 45 ? 1 : 0
  if (i === n) return false
  for (; i < n; i++) {
    const c = s.charCodeAt(i)
    if (c < 48 || c > 57) return false
  }
  return true
}

// The conversions are shared with the fused validator (part-validator.ts): both must produce
// the same value, so that its fallback to TypeBox reports what this coercer's would.
export const toInteger = (s: string): unknown => isIntegerText(s) ? Number(s) : s
export const toNumber = (s: string): unknown => s.trim() !== '' && !Number.isNaN(Number(s)) ? Number(s) : s
export const toBoolean = (s: string): unknown => s === 'true' || s === '1' ? true : s === 'false' || s === '0' ? false : s
const asIs = (s: string): unknown => s

function scalar (type: string | undefined): ((s: string) => unknown) | null {
  switch (type) {
    case 'string': return asIs
    case 'integer': return toInteger
    case 'number': return toNumber
    case 'boolean': return toBoolean
    default: return null
  }
}

export function compileCoercer (schema: unknown): Coerce | null {
  const s = schema as { type?: string, properties?: Record<string, Prop> }
  if (s.type !== 'object' || s.properties === undefined) return null
  // Generated code, one statement per declared property (names appear only as JSON string
  // literals); the converters and defaults are passed in, never spliced in as source.
  const helpers: unknown[] = []
  const statements: string[] = []
  for (const [name, prop] of Object.entries(s.properties)) {
    let convert: (v: string | string[]) => unknown
    if (prop.type === 'array') {
      const item = scalar(prop.items?.type)
      if (item === null) return null
      convert = v => (Array.isArray(v) ? v : [v]).map(item)
    } else {
      const one = scalar(prop.type)
      if (one === null) return null
      // A repeated key for a scalar stays an array: the check then reports it.
      convert = v => Array.isArray(v) ? v : one(v)
    }
    const key = JSON.stringify(name)
    helpers.push(convert)
    const c = helpers.length - 1
    let fallback = ''
    if (prop.default !== undefined) {
      const d = prop.default
      helpers.push(Array.isArray(d) ? () => [...d] : () => d)
      fallback = `; else out[${key}] = H[${helpers.length - 1}]()`
    }
    statements.push(`v = input[${key}]; if (v !== undefined) out[${key}] = H[${c}](v)${fallback}`)
  }
  // Converts in place: the input is the request's own object for that part (built for this
  // request, read by no one before validation), and the typed value replaces it on the request.
  // Undeclared keys stay as they came (a handler may read other headers or query keys).
  const code = `return (out) => { const input = out; let v; ${statements.join('; ')}; return out }`
  return new Function('H', code)(helpers) as Coerce
}

/** True when a schema declares a default anywhere: only then must defaults be applied. */
export function hasDefaults (schema: unknown): boolean {
  return JSON.stringify(schema).includes('"default":')
}
