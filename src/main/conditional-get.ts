// Conditional and range requests for a file whose validators are its size and mtime (RFC 9110
// §13, §14): what the static files (static-files.ts) answer to If-None-Match, If-Modified-Since,
// If-Range and Range. Pure functions of header values and the file's stat: unit-tested alone
// (test/unit/conditional-get.test.ts).
//
//   If-None-Match matches ─▶ 304            (If-Modified-Since is then not looked at)
//   else If-Modified-Since ≥ mtime ─▶ 304
//   else Range (GET only), If-Range true or absent:
//          one satisfiable range ─▶ 206 · none satisfiable ─▶ 416 · several, or unreadable ─▶ 200

/** The weak entity tag of a file: `W/"size-mtime"`, both in hex (mtime in whole ms). Weak: two
 * versions written within the same millisecond at the same size would share it. */
export function fileEtag (size: number, mtimeMs: number): string {
  return `W/"${size.toString(16)}-${Math.floor(mtimeMs).toString(16)}"`
}

/** The opaque part of an entity tag (`"…"`), without the weak marker. */
function opaque (tag: string): string {
  return tag.charCodeAt(0) === 87 /* W */ ? tag.slice(2) : tag
}

/** Entity tags of a list (`"a", W/"b"`), as written. */
const ENTITY_TAG = /(?:W\/)?"[^"]*"/g

/**
 * Whether If-None-Match `value` matches entity tag `etag` by the weak comparison (RFC 9110
 * §13.1.2): `*`, or any tag of the list whose opaque part is the same.
 */
export function noneMatch (value: string, etag: string): boolean {
  if (value.trim() === '*') return true
  const mine = opaque(etag)
  for (const tag of value.match(ENTITY_TAG) ?? []) if (opaque(tag) === mine) return true
  return false
}

/** Whether a file last modified at `mtimeMs` is not modified since the If-Modified-Since date
 * `value` (an unreadable date is no condition: false). HTTP dates have whole seconds. */
export function notModifiedSince (value: string, mtimeMs: number): boolean {
  const since = Date.parse(value)
  return !Number.isNaN(since) && Math.floor(mtimeMs / 1000) * 1000 <= since
}

/**
 * Whether If-Range `value` lets the Range apply (RFC 9110 §13.1.5): an entity tag must match by
 * the strong comparison, which a weak tag — every one of ours — never does, so the whole file is
 * sent; a date must be exactly the file's Last-Modified.
 */
export function ifRangeHolds (value: string, mtimeMs: number): boolean {
  const v = value.trim()
  if (v.startsWith('"') || v.startsWith('W/')) return false
  const date = Date.parse(v)
  return !Number.isNaN(date) && date === Math.floor(mtimeMs / 1000) * 1000
}

/** What a Range header asks of a file of `size` bytes. */
export type RangeAnswer =
  /** Send the whole file (200): no range, one this server does not do, or several. */
  | { kind: 'whole' }
  /** Send bytes `start` to `end`, both included (206). */
  | { kind: 'part', start: number, end: number }
  /** No byte of the file is in the range (416). */
  | { kind: 'unsatisfiable' }

const WHOLE: RangeAnswer = { kind: 'whole' }
const UNSATISFIABLE: RangeAnswer = { kind: 'unsatisfiable' }
/** `bytes=first-last`, `bytes=first-` or `bytes=-suffix`, one range, optional spaces around it. */
const ONE_RANGE = /^bytes=[ \t]*(\d*)-(\d*)[ \t]*$/i

/**
 * The answer to Range `value` for a file of `size` bytes (RFC 9110 §14.1.2). Several ranges are
 * answered with the whole file, as the RFC allows (no multipart/byteranges); a range that is not
 * valid syntax, or whose last byte comes before its first, is ignored (the whole file).
 */
export function parseRange (value: string, size: number): RangeAnswer {
  const m = ONE_RANGE.exec(value)
  if (m === null) return WHOLE
  const [, a, b] = m
  if (a === '') {
    if (b === '') return WHOLE
    // The last `n` bytes: all of them when the file is shorter; none of an empty file.
    const n = Number(b)
    if (n === 0 || size === 0) return UNSATISFIABLE
    return { kind: 'part', start: Math.max(0, size - n), end: size - 1 }
  }
  const start = Number(a)
  const last = b === '' ? Infinity : Number(b)
  if (last < start) return WHOLE
  if (start >= size) return UNSATISFIABLE
  return { kind: 'part', start, end: Math.min(last, size - 1) }
}
