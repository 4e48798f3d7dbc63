// Route path syntax, shared by the main thread (which validates a path when the route is added
// and hands it to the router) and the isolates (which compile it once at start-up to read
// `req.params` from the request path lazily, so the main thread never materializes params).
//
// Supported: static segments, `:name` segments, and a final `*` that captures the rest of the
// path as params['*']. Anything else is rejected up front rather than matched differently on
// the two sides.

import { IsopoolError } from './errors.ts'

export interface PathPattern {
  names: string[]
  /** null for a static path: it has no params. */
  regex: RegExp | null
}

const PARAM = /^:([A-Za-z_$][\w$]*)$/

export function compilePath (method: string, path: string): PathPattern {
  const fail = (reason: string): never => { throw new IsopoolError('ISOPOOL_ERR_INVALID_ROUTE', { method, path, reason }) }
  if (typeof path !== 'string' || !path.startsWith('/')) fail('a path must be a string that starts with "/"')
  if (/[?#\s]/.test(path)) fail('a path may not contain "?", "#" or whitespace')
  const segments = path.split('/').slice(1)
  const names: string[] = []
  let source = '^'
  segments.forEach((seg, i) => {
    if (seg === '*') {
      if (i !== segments.length - 1) fail('"*" may only be the last segment')
      names.push('*')
      source += '/(.*)'
      return
    }
    if (seg.startsWith(':')) {
      const m = PARAM.exec(seg)
      if (m === null) fail(`"${seg}" is not a parameter name (use :name with letters, digits, _ or $)`)
      if (names.includes(m![1])) fail(`parameter "${m![1]}" appears twice`)
      names.push(m![1])
      source += '/([^/]+)'
      return
    }
    if (/[:*()]/.test(seg)) fail(`segment "${seg}" mixes text with ":", "*" or "(": only whole-segment parameters are supported`)
    source += '/' + seg.replace(/[.+^${}|[\]\\]/g, '\\$&')
  })
  return { names, regex: names.length === 0 ? null : new RegExp(source + '$') }
}
