// The head text of HEAD frames (frame.ts), written by one side and read by the other:
//
//   REQ_HEAD   method \0 target \0 name \0 value \0 name \0 value …   (the request line's method and
//                                                                     target, then every field as
//                                                                     received, names as sent)
//   RES_HEAD   name \0 value \0 name \0 value …                       (the fields a handler adds)
//
// After the fields of a REQ_HEAD come the main thread's pseudo-fields, whose names start with ':'
// (no field name can: names are tokens): `:ip` (the client's address, trustProxy applied) and
// `:id` (the request id), each at most once. The isolate reads them as req.ip and req.id, and
// leaves them out of req.headers.
//
// latin1, one byte per character, as HTTP reads fields; NUL can never appear in a field name or
// value (both sides refuse control characters, http-syntax.ts), so it is a safe separator and
// the text needs no escaping and no length prefixes.

/** What separates every part of a head text. */
export const SEP = '\0'

/** The start of a REQ_HEAD text: the method and the request target. */
export function requestHead (method: string, target: string): string {
  return method + SEP + target
}

/** `text` with one more field; the HTTP layer builds the REQ_HEAD text this way as it parses. */
export function withField (text: string, name: string, value: string): string {
  return text + SEP + name + SEP + value
}

/** The pseudo-field of the client's address. */
export const META_IP = ':ip'
/** The pseudo-field of the request id. */
export const META_ID = ':id'

/** A pseudo-field to append to a REQ_HEAD text (after every field the client sent). */
export function metaField (name: string, value: string): string {
  return SEP + name + SEP + value
}

/** The value of pseudo-field `name` in a REQ_HEAD text, or '' when it has none. */
export function readMeta (text: string, name: string): string {
  const key = SEP + name + SEP
  const at = text.lastIndexOf(key)
  if (at < 0) return ''
  const from = at + key.length
  const end = text.indexOf(SEP, from)
  return text.slice(from, end < 0 ? text.length : end)
}

/** Whether a field name is one of the main thread's pseudo-fields. */
export function isMeta (name: string): boolean {
  return name.charCodeAt(0) === 58 // ':'
}

/** The method, the target, and where the fields start in a REQ_HEAD text. */
export function readRequestLine (text: string): { method: string, target: string, fieldsAt: number } {
  const a = text.indexOf(SEP)
  let b = text.indexOf(SEP, a + 1)
  if (b < 0) b = text.length
  return { method: text.slice(0, a), target: text.slice(a + 1, b), fieldsAt: b + 1 }
}

/** Calls `fn` for each name and value of the fields in `text` from `at` (a REQ_HEAD's fieldsAt,
 * or 0 for a RES_HEAD text). */
export function forEachField (text: string, at: number, fn: (name: string, value: string) => void): void {
  let i = at
  while (i < text.length) {
    const j = text.indexOf(SEP, i)
    if (j < 0) break
    let k = text.indexOf(SEP, j + 1)
    if (k < 0) k = text.length
    fn(text.slice(i, j), text.slice(j + 1, k))
    i = k + 1
  }
}

/** The fields of a RES_HEAD text as one flat list: name, value, name, value, … */
export function fieldList (text: string): readonly string[] {
  if (text === '') return NO_FIELDS
  // The same text as the last (readHead() hands repeated texts over as one string): the same
  // list, not split again; readonly, as the next call may return it too.
  if (text !== lastText) {
    lastText = text
    lastList = text.split(SEP)
  }
  return lastList
}

const NO_FIELDS: readonly string[] = []
let lastText = ''
let lastList: readonly string[] = NO_FIELDS
