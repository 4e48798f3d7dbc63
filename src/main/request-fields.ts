// Reading one field of a request from its head text (src/shared/head-text.ts) without building
// them all: the main thread's services each want one or two fields (Origin, X-Request-Id,
// X-Forwarded-For), and a request's fields are otherwise never split on the main thread — the
// isolate builds req.headers. So these walk the text and compare names in place, and slice only
// the value they return; and a reader, compiled once per name, first asks a case-insensitive
// RegExp whether the name occurs at all (the common case for most of these fields is that it
// does not, and one native scan is several times cheaper than the walk).
//
//   method \0 target \0 name \0 value \0 name \0 value … [\0 :ip \0 … \0 :id \0 …]
//                       ▲ fieldsAt: names as sent, compared ignoring ASCII case
//
// Pseudo-fields (names starting with ':') never equal a field name: names are tokens.

import { SEP } from '../shared/head-text.ts'

/** Where the fields start in a REQ_HEAD text (after the method and the target); -1 if none. */
function fieldsAt (text: string): number {
  const a = text.indexOf(SEP)
  if (a < 0) return -1
  const b = text.indexOf(SEP, a + 1)
  return b < 0 ? -1 : b + 1
}

/** Whether text[at, at + name.length) is `name` (lower case) ignoring ASCII case. */
function sameName (text: string, at: number, name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    let c = text.charCodeAt(at + i)
    if (c >= 65 && c <= 90) c += 32
    if (c !== name.charCodeAt(i)) return false
  }
  return true
}

/** The value of the first field called `name` (given in lower case) in a REQ_HEAD text, or
 * undefined when it has none. */
export function fieldValue (text: string, name: string): string | undefined {
  let i = fieldsAt(text)
  if (i < 0) return undefined
  const n = name.length
  while (i < text.length) {
    const j = text.indexOf(SEP, i)
    if (j < 0) return undefined
    let k = text.indexOf(SEP, j + 1)
    if (k < 0) k = text.length
    if (j - i === n && sameName(text, i, name)) return text.slice(j + 1, k)
    i = k + 1
  }
  return undefined
}

/** Every value of the fields called `name` (lower case), joined by ', ' as a list field's lines
 * combine (RFC 9110 §5.3), or undefined when it has none. */
export function fieldValues (text: string, name: string): string | undefined {
  let i = fieldsAt(text)
  if (i < 0) return undefined
  const n = name.length
  let out: string | undefined
  while (i < text.length) {
    const j = text.indexOf(SEP, i)
    if (j < 0) break
    let k = text.indexOf(SEP, j + 1)
    if (k < 0) k = text.length
    if (j - i === n && sameName(text, i, name)) {
      const v = text.slice(j + 1, k)
      out = out === undefined ? v : out + ', ' + v
    }
    i = k + 1
  }
  return out
}

/** `\0name\0` in any case: the name might be a field's (or, rarely, a whole value). */
function occurs (name: string): RegExp {
  const literal = name.replace(/[^a-z0-9]/g, c => '\\' + c) // a token's punctuation, escaped
  return new RegExp('\\x00' + literal + '\\x00', 'i')
}

/** fieldValue() for one name, compiled once: a text without the name costs one RegExp scan. */
export function fieldReader (name: string): (text: string) => string | undefined {
  const lower = name.toLowerCase()
  const re = occurs(lower)
  return (text) => re.test(text) ? fieldValue(text, lower) : undefined
}

/** fieldValues() for one name, compiled once, the same way. */
export function fieldListReader (name: string): (text: string) => string | undefined {
  const lower = name.toLowerCase()
  const re = occurs(lower)
  return (text) => re.test(text) ? fieldValues(text, lower) : undefined
}

/** The request's fields as an object, names in lower case, a repeated field's values in an
 * array (what a rate limit's key function is given): built only when one asks. */
export function fieldRecord (text: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = Object.create(null)
  let i = fieldsAt(text)
  if (i < 0) return out
  while (i < text.length) {
    const j = text.indexOf(SEP, i)
    if (j < 0) break
    let k = text.indexOf(SEP, j + 1)
    if (k < 0) k = text.length
    if (text.charCodeAt(i) !== 58) { // ':' — the main thread's pseudo-fields are not the client's
      const name = text.slice(i, j).toLowerCase()
      const value = text.slice(j + 1, k)
      const had = out[name]
      if (had === undefined) out[name] = value
      else if (Array.isArray(had)) had.push(value)
      else out[name] = [had, value]
    }
    i = k + 1
  }
  return out
}
