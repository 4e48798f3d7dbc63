// A JSON encoder compiled from a response schema, once per route per isolate: generated code
// that writes exactly the properties the schema declares, in its order, with each type's
// encoding decided in advance — instead of JSON.stringify's walk of whatever the object holds.
// Like Fastify's response serializers, it keeps fields the schema does not declare out of the
// response. Parts of a schema it does not know (unions, refs, patterns, open objects) fall back
// to JSON.stringify, as does a value whose shape is not the schema's. bench/micro/json-encoder.ts
// measures it against JSON.stringify.

type Encode = (value: unknown) => string

interface Schema {
  type?: string | string[]
  properties?: Record<string, Schema>
  required?: string[]
  items?: Schema
  additionalProperties?: unknown
}

/**
 * Compile `schema` into an encoder. The generated source only ever contains property names as
 * JSON string literals (JSON.stringify of the name) and fixed code: no schema text is spliced in
 * as code.
 */
export function compileEncoder (schema: unknown): Encode {
  let counter = 0
  const helpers: Encode[] = []
  const expr = (s: Schema, v: string): string => {
    switch (s.type) {
      case 'string': return `(typeof ${v} === 'string' ? JSON.stringify(${v}) : S(${v}))`
      case 'integer':
      case 'number': return `(typeof ${v} === 'number' && Number.isFinite(${v}) ? '' + ${v} : S(${v}))`
      case 'boolean': return `(${v} === true ? 'true' : ${v} === false ? 'false' : S(${v}))`
      case 'array': {
        if (s.items === undefined) return `S(${v})`
        helpers.push(compileEncoder(s.items))
        return `(Array.isArray(${v}) ? A(${v}, H[${helpers.length - 1}]) : S(${v}))`
      }
      case 'object': {
        if (s.properties === undefined || (s.additionalProperties !== undefined && s.additionalProperties !== false)) return `S(${v})`
        const o = `o${counter++}`
        const required = new Set(s.required ?? [])
        const names = Object.keys(s.properties)
        // All required: one concatenation. Otherwise append field by field, skipping undefined.
        if (names.every(n => required.has(n))) {
          const parts = names.map((n, k) => `${JSON.stringify((k === 0 ? '{' : ',') + JSON.stringify(n) + ':')} + ${expr(s.properties![n], `${o}[${JSON.stringify(n)}]`)}`)
          return `((${o}) => ${o} === null || typeof ${o} !== 'object' || Array.isArray(${o}) ? S(${o}) : ${parts.length === 0 ? "'{'" : parts.join(' + ')} + '}')(${v})`
        }
        const body = names.map(n => {
          const get = `${o}[${JSON.stringify(n)}]`
          return `if (${get} !== undefined) { out += (out.length > 1 ? ',' : '') + ${JSON.stringify(JSON.stringify(n) + ':')} + ${expr(s.properties![n], get)} }`
        }).join('\n')
        return `((${o}) => { if (${o} === null || typeof ${o} !== 'object' || Array.isArray(${o})) return S(${o}); let out = '{'; ${body}; return out + '}' })(${v})`
      }
      default: return `S(${v})`
    }
  }
  const code = `return (v) => ${expr(schema as Schema, 'v')}`
  return new Function('S', 'A', 'H', code)(stringify, encodeArray, helpers) as Encode
}

function stringify (v: unknown): string {
  return JSON.stringify(v) ?? 'null'
}

function encodeArray (v: unknown[], item: Encode): string {
  let out = '['
  for (let i = 0; i < v.length; i++) out += (i === 0 ? '' : ',') + (v[i] === undefined ? 'null' : item(v[i]))
  return out + ']'
}
