// What a typed route's body may come as, decided once per route when its adapter is built: JSON
// (application/json in UTF-8, any application/*+json type), MessagePack, or a form
// (multipart/form-data, application/x-www-form-urlencoded) whose text fields the body schema
// validates — every body route takes all four, as the handler contract has always said. A form
// route (one that declares `form` or `fileFields`) lists the form types first, for the API
// document. Anything else (text/plain, application/xml) is a 415 naming what the route takes,
// with Accept-Post (or Accept-Patch) listing it, as RFC 9110 §15.5.16 and RFC 5789 §2.2 suggest.
//
// A body without a Content-Type is refused too (RFC 9110 §8.3 lets a server assume
// application/octet-stream): guessing JSON would let any page post one cross-site without a CORS
// preflight, as a missing type, like text/plain, makes a "simple" request. An empty body without
// one is no body at all: the body schema judges it (a 422 when it is required).

import { HttpError, IsopoolError } from '../shared/errors.ts'

/** No body: no Content-Type and no bytes. */
export const BODY_NONE = 0
export const BODY_JSON = 1
export const BODY_MSGPACK = 2
export const BODY_FORM = 3

export const JSON_TYPES: readonly string[] = ['application/json', 'application/msgpack']
export const FORM_TYPES: readonly string[] = ['multipart/form-data', 'application/x-www-form-urlencoded']

const MSGPACK_NAMES = new Set(['application/msgpack', 'application/x-msgpack', 'application/vnd.msgpack'])
const MEDIA_TYPE = /^[!#$%&'*+\-.^_`|~0-9a-z]+\/[!#$%&'*+\-.^_`|~0-9a-z]+$/
/** The longest Content-Type a 415's message repeats; the rest is cut. */
const SHOWN = 100

export interface BodyTypes {
  /** A form route: forms are its preferred body. */
  readonly form: boolean
  /** The media types it takes, the preferred first: for the API document. */
  readonly types: readonly string[]
  /** BODY_NONE, BODY_JSON, BODY_MSGPACK or BODY_FORM for a request's Content-Type and body
   * length; throws the coded 415 for a type the route does not take. */
  classify (contentType: string | undefined, length: number): number
}

/** Compile the accepted set of a JSON or a form route served on `method`. */
export function compileBodyTypes (form: boolean, method: string): BodyTypes {
  const types = form ? [...FORM_TYPES, ...JSON_TYPES] : [...JSON_TYPES, ...FORM_TYPES]
  const expected = 'application/json (UTF-8, or a +json type), application/msgpack, multipart/form-data or application/x-www-form-urlencoded'
  const m = String(method).toUpperCase()
  const hint = m === 'POST' ? 'accept-post' : m === 'PATCH' ? 'accept-patch' : null
  const headers = hint === null ? undefined : { [hint]: types.join(', ') }
  const refuse = (type: string | undefined): HttpError => {
    const shown = type === undefined ? '(none)' : type.length > SHOWN ? type.slice(0, SHOWN) + '…' : type
    const err = new IsopoolError('ISOPOOL_ERR_UNSUPPORTED_MEDIA_TYPE', { type: shown, expected })
    // An HttpError carries the hint header through the isolate's error path; code and message
    // are the IsopoolError's.
    return new HttpError(415, err.message, { code: err.code, headers })
  }
  const classify = (contentType: string | undefined, length: number): number => {
    if (contentType === undefined) {
      if (length === 0) return BODY_NONE
      throw refuse(contentType)
    }
    if (contentType === 'application/json') return BODY_JSON // the common case, unparsed
    const semi = contentType.indexOf(';')
    const essence = (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase()
    if (!MEDIA_TYPE.test(essence)) throw refuse(contentType)
    if (essence === FORM_TYPES[0] || essence === FORM_TYPES[1]) return BODY_FORM
    if (MSGPACK_NAMES.has(essence)) return BODY_MSGPACK
    if (essence === 'application/json' || (essence.startsWith('application/') && essence.endsWith('+json'))) {
      // JSON is UTF-8 (RFC 8259 §8.1): text declared in another charset would be decoded wrongly.
      if (semi >= 0 && !utf8(contentType.slice(semi + 1))) throw refuse(contentType)
      return BODY_JSON
    }
    throw refuse(contentType)
  }
  return { form, types, classify }
}

/** False when the parameters name a charset other than UTF-8. */
function utf8 (params: string): boolean {
  for (const param of params.split(';')) {
    const eq = param.indexOf('=')
    if (eq < 0 || param.slice(0, eq).trim().toLowerCase() !== 'charset') continue
    const value = param.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1').toLowerCase()
    if (value !== 'utf-8' && value !== 'utf8') return false
  }
  return true
}
