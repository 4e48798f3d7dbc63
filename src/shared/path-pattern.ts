// Route path syntax, shared by the main thread (which validates a path when the route is added
// and hands it to the router) and the isolates (which compile it once at start-up to read
// `req.params` from the request path lazily, so the main thread never materializes params).
//
// Supported: static segments, `:name` segments, and a final `*` that captures the rest of the
// path as params['*']. Anything else is rejected up front rather than matched differently on
// the two sides.
//
// The main thread's router has matched the path before an isolate sees it, so the isolate does
// not match again: a parameter is the raw text of its segment (the path split at each '/' as
// received; an encoded %2F splits nothing), percent-decoded exactly once. Matching again, on a
// decoded copy of the path, decoded twice: `/%66iles/%252e%252e` gave `..` where the router
// (and a proxy in front) saw `%2e%2e`.

import { IsopoolError } from './errors.ts'

export interface PathPattern {
  names: string[]
  /** Per name, the index of its segment in `path.split('/')` (the first segment is 1); for `*`,
   * the index where the rest of the path starts. */
  segments: number[]
}

const PARAM = /^:([A-Za-z_$][\w$]*)$/

export function compilePath (method: string, path: string): PathPattern {
  const fail = (reason: string): never => { throw new IsopoolError('ISOPOOL_ERR_INVALID_ROUTE', { method, path, reason }) }
  if (typeof path !== 'string' || !path.startsWith('/')) fail('a path must be a string that starts with "/"')
  if (/[?#\s]/.test(path)) fail('a path may not contain "?", "#" or whitespace')
  const segments = path.split('/').slice(1)
  const names: string[] = []
  const at: number[] = []
  segments.forEach((seg, i) => {
    if (seg === '*') {
      if (i !== segments.length - 1) fail('"*" may only be the last segment')
      names.push('*')
      at.push(i + 1)
      return
    }
    if (seg.startsWith(':')) {
      const m = PARAM.exec(seg)
      if (m === null) fail(`"${seg}" is not a parameter name (use :name with letters, digits, _ or $)`)
      if (names.includes(m![1])) fail(`parameter "${m![1]}" appears twice`)
      names.push(m![1])
      at.push(i + 1)
      return
    }
    if (/[:*()]/.test(seg)) fail(`segment "${seg}" mixes text with ":", "*" or "(": only whole-segment parameters are supported`)
  })
  return { names, segments: at }
}
