// Coercion of the string-valued parts of a request (params, query, headers, cookies) to a flat
// object schema, compiled once per route: each declared property gets its converter and its
// default decided at start-up, so the per-request work is one pass over the declared names.
// (TypeBox's Value.Convert and Value.Default walk the schema on every call.) A schema this does
// not cover — nested objects, unions, refs — returns null, and the caller falls back to TypeBox.

type Input = Record<string, string | string[] | undefined>
export type Coerce = (input: Input) => Record<string, unknown>

interface Prop {
  type?: string
  items?: Prop
  default?: unknown
}

const toInteger = (s: string): unknown => /^-?\d+$/.test(s) ? Number(s) : s
const toNumber = (s: string): unknown => s.trim() !== '' && !Number.isNaN(Number(s)) ? Number(s) : s
const toBoolean = (s: string): unknown => s === 'true' || s === '1' ? true : s === 'false' || s === '0' ? false : s
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
  const fields: { name: string, convert: (v: string | string[]) => unknown, fallback: (() => unknown) | null }[] = []
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
    const d = prop.default
    const fallback = d === undefined ? null : Array.isArray(d) ? () => [...d] : () => d
    fields.push({ name, convert, fallback })
  }
  return (input) => {
    // Undeclared keys are kept as they came (a handler may read other headers or query keys).
    const out: Record<string, unknown> = { ...input }
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i]
      const v = input[f.name]
      if (v !== undefined) out[f.name] = f.convert(v)
      else if (f.fallback !== null) out[f.name] = f.fallback()
    }
    return out
  }
}

/** True when a schema declares a default anywhere: only then must defaults be applied. */
export function hasDefaults (schema: unknown): boolean {
  return JSON.stringify(schema).includes('"default":')
}
