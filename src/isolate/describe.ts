// A value from a request as an error shows it (the `received` of a 422 issue): always something
// JSON can hold, and always small, whatever the client sent. A body may decode to values JSON
// cannot serialize (a BigInt or a cycle from MessagePack) or to values far too large to echo back
// (a 1 MiB string, an array nested 18,000 deep); serializing those in the error path once took
// the isolate down. So a value is never serialized as it is: a small value made only of what
// JSON holds (scalars, arrays, plain objects: a few items, shallow, short strings) is shown as a
// copy of itself, a long string truncated, anything else as its type and a short preview. Both
// come from walks bounded in depth and length that never call user code (no toJSON, no
// getters, no toString).

import { isNativeError } from 'node:util/types'

/** Longest string shown as itself, in UTF-16 units. */
const MAX_STRING = 120
/** Longest preview of a value that is not a scalar. */
const MAX_PREVIEW = 80
/** How deep a preview looks into arrays and objects. */
const PREVIEW_DEPTH = 3

export interface Described {
  type: string
  preview: string
}

/** Items, keys and nesting of an array or object shown as a copy of itself, at most. */
const SMALL_NODES = 16
const SMALL_DEPTH = 3

/** `value` as a 422 issue shows it: a JSON scalar, a truncated string, a copy of a small JSON
 * value, or `{ type, preview }`. */
export function describeReceived (value: unknown): unknown {
  switch (typeof value) {
    case 'string': return value.length <= MAX_STRING ? value : value.slice(0, MAX_STRING) + '…'
    case 'boolean': return value
    case 'number': return Number.isFinite(value) ? value : { type: 'number', preview: String(value) }
    case 'object':
      if (value === null) return null
      try {
        const copy = smallCopy(value, SMALL_DEPTH, { nodes: SMALL_NODES, chars: MAX_STRING })
        if (copy !== NOT_SMALL) return copy
        return { type: Array.isArray(value) ? 'array' : objectType(value), preview: preview(value) } satisfies Described
      } catch {
        return { type: 'object', preview: '…' } satisfies Described // a revoked proxy, a throwing trap
      }
    default:
      return { type: typeof value, preview: preview(value) } satisfies Described
  }
}

const NOT_SMALL = Symbol('not small')

/** A copy of `v` when it is JSON made of plain parts within the budget, else NOT_SMALL. */
function smallCopy (v: unknown, depth: number, budget: { nodes: number, chars: number }): unknown {
  switch (typeof v) {
    case 'string':
      budget.chars -= v.length
      return budget.chars < 0 ? NOT_SMALL : v
    case 'boolean': return v
    case 'number': return Number.isFinite(v) ? v : NOT_SMALL
    case 'object': break
    default: return NOT_SMALL
  }
  if (v === null) return null
  if (depth === 0 || --budget.nodes < 0) return NOT_SMALL
  if (Array.isArray(v)) {
    if (v.length > budget.nodes) return NOT_SMALL
    const out: unknown[] = []
    for (let i = 0; i < v.length; i++) {
      const item = smallCopy(v[i], depth - 1, budget)
      if (item === NOT_SMALL) return NOT_SMALL
      out.push(item)
    }
    return out
  }
  if (objectType(v) !== 'object') return NOT_SMALL
  const keys = Object.keys(v)
  if (keys.length > budget.nodes) return NOT_SMALL
  const out: Record<string, unknown> = Object.create(null)
  for (const key of keys) {
    budget.chars -= key.length
    const d = Object.getOwnPropertyDescriptor(v, key)
    if (budget.chars < 0 || d === undefined || !('value' in d)) return NOT_SMALL
    const item = smallCopy(d.value, depth - 1, budget)
    if (item === NOT_SMALL) return NOT_SMALL
    out[key] = item
  }
  return out
}

/** A short rendering of `value`, JSON-like, at most MAX_PREVIEW characters. */
export function preview (value: unknown): string {
  const out = { s: '' }
  try {
    render(value, PREVIEW_DEPTH, out)
  } catch {
    // A proxy whose traps throw, an object whose own keys cannot be listed: say that much.
    out.s += '…'
  }
  return out.s.length <= MAX_PREVIEW ? out.s : out.s.slice(0, MAX_PREVIEW - 1) + '…'
}

/** Appends to `out.s`, stopping once it is longer than MAX_PREVIEW (the caller truncates). */
function render (v: unknown, depth: number, out: { s: string }): void {
  if (out.s.length > MAX_PREVIEW) return
  switch (typeof v) {
    case 'string': out.s += JSON.stringify(v.length <= MAX_PREVIEW ? v : v.slice(0, MAX_PREVIEW)); return
    case 'number': case 'boolean': out.s += String(v); return
    case 'bigint': out.s += `${v}n`; return
    case 'undefined': out.s += 'undefined'; return
    case 'symbol': out.s += 'Symbol()'; return
    case 'function': out.s += 'function'; return
  }
  if (v === null) { out.s += 'null'; return }
  if (ArrayBuffer.isView(v)) { out.s += `${objectType(v)}(${(v as { byteLength: number }).byteLength} bytes)`; return }
  if (Array.isArray(v)) {
    if (depth === 0) { out.s += `[…${v.length}]`; return }
    out.s += '['
    for (let i = 0; i < v.length; i++) {
      if (out.s.length > MAX_PREVIEW) return
      if (i > 0) out.s += ','
      render(v[i], depth - 1, out)
    }
    out.s += ']'
    return
  }
  if (depth === 0) { out.s += '{…}'; return }
  const type = objectType(v as object)
  out.s += type === 'object' ? '{' : `${type} {`
  let first = true
  // Own enumerable string keys only, read as data: a getter is not called.
  for (const key of Object.keys(v as object)) {
    if (out.s.length > MAX_PREVIEW) return
    out.s += (first ? '' : ',') + JSON.stringify(key) + ':'
    first = false
    const d = Object.getOwnPropertyDescriptor(v, key)
    if (d !== undefined && 'value' in d) render(d.value, depth - 1, out)
    else out.s += '(getter)'
  }
  out.s += '}'
}

/** 'object' for a plain or null-prototype object, else the constructor's name (Map, Date, …). */
function objectType (v: object): string {
  const proto = Object.getPrototypeOf(v) as object | null
  if (proto === null || proto === Object.prototype) return 'object'
  const ctor = Object.getOwnPropertyDescriptor(proto, 'constructor')?.value as unknown
  return typeof ctor === 'function' && typeof ctor.name === 'string' && ctor.name !== '' ? ctor.name : 'object'
}

/** Longest string a log shows of a thrown non-Error, in UTF-16 units. */
const MAX_THROWN_STRING = 200

/**
 * What a handler threw, for the log line of its 500: an Error as its stack (with its cause's,
 * a few levels deep), anything else as its kind and a bounded rendering — `a string: 'boom'`,
 * `undefined`, `an object: {"code":7}`. Total: it never throws and never calls user code but
 * the `stack` and `message` an Error carries.
 */
export function describeThrown (value: unknown, depth = 3): string {
  try {
    if (value instanceof Error || isNativeError(value) || (value !== null && typeof value === 'object' && typeof readOwn(value, 'stack') === 'string')) {
      const e = value as { stack?: unknown, name?: unknown, message?: unknown }
      let stack: unknown
      try { stack = e.stack } catch {}
      let text = typeof stack === 'string' && stack !== '' ? stack : `${safeText(e.name, 'Error')}: ${safeText(e.message, '')}`
      const cause = readOwn(value, 'cause')
      if (cause !== NONE && depth > 0) text += `\n[cause]: ${describeThrown(cause, depth - 1)}`
      return text
    }
    switch (typeof value) {
      case 'undefined': return 'undefined'
      case 'string': return `a string: ${quoted(value)}`
      case 'number': return `a number: ${String(value)}`
      case 'boolean': return `a boolean: ${String(value)}`
      case 'bigint': return `a bigint: ${value}n`
      case 'symbol': return `a symbol: Symbol(${value.description === undefined ? '' : quoted(value.description)})`
      case 'function': return `a function: ${typeof value.name === 'string' && value.name !== '' ? value.name : '(anonymous)'}`
    }
    if (value === null) return 'null'
    return `${Array.isArray(value) ? 'an array' : 'an object'}: ${preview(value)}`
  } catch {
    return 'a value that cannot be described'
  }
}

const NONE = Symbol('none')

/** An own data property, read without calling a getter; NONE when there is none. */
function readOwn (value: object, key: string): unknown {
  const d = Object.getOwnPropertyDescriptor(value, key)
  return d !== undefined && 'value' in d ? d.value : NONE
}

function safeText (v: unknown, fallback: string): string {
  return typeof v === 'string' ? v : fallback
}

/** `'text'`, its control characters and quotes escaped, cut at MAX_THROWN_STRING. */
function quoted (s: string): string {
  const cut = s.length <= MAX_THROWN_STRING ? s : s.slice(0, MAX_THROWN_STRING)
  const inner = JSON.stringify(cut).slice(1, -1).replace(/\\"/g, '"').replace(/'/g, "\\'")
  return `'${inner}'${cut.length < s.length ? `… (${s.length} characters)` : ''}`
}
