// The Response middleware get from next() (src/isolate/middleware.ts), for an answer isopool made
// itself — a handler's value, its thrown error. To every caller it is a Web Response: `instanceof
// Response`, every member of one, headers that are `instanceof Headers` and behave as Headers do.
// Inside it is the answer as the response writer decided it (status, content-type code, header
// text, body string or bytes), and it stays that until someone asks for more:
//
//   made ──headers touched──▶ its fields as a flat list (AnswerHeaders), the writer sends them
//     │ ──text() / json() / arrayBuffer() / bytes()──▶ read from the string or bytes, no stream
//     │ ──body / blob() / formData()──▶ a real Response made from it, which every later body
//     │                                 use goes through
//     └──returned to the writer, body unread──▶ the frame written as if no middleware had been
//                                               there (headers untouched: exactly that frame)
//
// Why not a real Response: Node's costs several µs per request to make with a body and headers,
// and as much again to read back into a frame, where a middleware that sets one header should
// cost a fraction of one (the bench's services run holds each service to 5 % of req/s).
// Both classes are plain classes whose prototypes inherit from Response's and Headers': they
// never run those constructors, so they override every member those prototypes have.

import { CONTENT_TYPES } from '../shared/frame.ts'
import { forEachField } from '../shared/head-text.ts'
import { TOKEN } from '../shared/http-syntax.ts'

const INSPECT = Symbol.for('nodejs.util.inspect.custom')
const decoder = new TextDecoder()
const encoder = new TextEncoder()
/** HTTP whitespace at either end of a value, which Headers strips (Fetch: normalize). */
const EDGE_WHITESPACE = /^[\t\n\r ]+|[\t\n\r ]+$/g
/** What no header value may hold (Fetch), and what no ByteString may. */
const NOT_VALUE = /[\0\r\n]/
const NOT_BYTE = /[^\x00-\xff]/

function byteString (v: unknown, what: string): string {
  const s = typeof v === 'string' ? v : String(v)
  if (NOT_BYTE.test(s)) throw new TypeError(`Headers.${what}: the value is not a ByteString`)
  return s
}

function headerName (name: unknown, what: string): string {
  const n = byteString(name, what)
  if (!TOKEN.test(n)) throw new TypeError(`Headers.${what}: "${n}" is an invalid header name.`)
  return n.toLowerCase()
}

function headerValue (value: unknown, what: string): string {
  const v = byteString(value, what).replace(EDGE_WHITESPACE, '')
  if (NOT_VALUE.test(v)) throw new TypeError(`Headers.${what}: "${v}" is an invalid header value.`)
  return v
}

/** The fields of an AnswerHeaders for the writer (takeAnswer): all of them (lowercase name,
 * value, …) once they were materialized (else null), and the ones added to the answer's own
 * while it was not (null when none were). */
let listOf: (h: AnswerHeaders) => readonly string[] | null
let addedOf: (h: AnswerHeaders) => readonly string[] | null
let copyOf: (h: AnswerHeaders) => AnswerHeaders

/** Set `n` to `v` in a flat field list: the first field of that name takes it, the others go. */
function setIn (l: string[], n: string, v: string): void {
  let found = false
  for (let i = 0; i < l.length; i += 2) {
    if (l[i] !== n) continue
    if (!found) {
      l[i + 1] = v
      found = true
    } else {
      l.splice(i, 2)
      i -= 2
    }
  }
  if (!found) l.push(n, v)
}

function deleteIn (l: string[], n: string): void {
  for (let i = l.length - 2; i >= 0; i -= 2) if (l[i] === n) l.splice(i, 2)
}

/** Whether header text (`name \0 value \0 …`) has a field named `n` (lowercase). */
function textHas (text: string, n: string): boolean {
  let i = 0
  while (i < text.length) {
    const j = text.indexOf('\0', i)
    if (j < 0) return false
    if (j - i === n.length && text.slice(i, j).toLowerCase() === n) return true
    const k = text.indexOf('\0', j + 1)
    if (k < 0) return false
    i = k + 1
  }
  return false
}

/**
 * An answer's headers: Headers' every method, over a flat list of fields in the order they came.
 * The list is made only when needed: while nobody reads them or changes one of the answer's own
 * fields (its content type, its header text), what is set or appended under other names is kept
 * apart (`#added`) and the writer sends the answer's head text with those after it — a
 * middleware that sets one header costs one small array, not the answer's fields parsed and
 * written again.
 */
export class AnswerHeaders implements Headers {
  /** name, value, name, value, … (names lowercase); null until materialized. */
  #list: string[] | null
  /** While #list is null: the answer's own content type and header text. */
  #type: string | undefined
  #text: string
  /** While #list is null: what was set or appended under names none of the answer's own. */
  #added: string[] | null = null

  constructor (list: string[] | null, type?: string, text = '') {
    this.#list = list
    this.#type = type
    this.#text = text
  }

  /** Every field, made from the answer's own and the added ones the first time it is asked. */
  #all (): string[] {
    if (this.#list === null) {
      const list: string[] = []
      if (this.#type !== undefined) list.push('content-type', this.#type)
      if (this.#text !== '') forEachField(this.#text, 0, (name, value) => { list.push(name.toLowerCase(), value) })
      if (this.#added !== null) for (const f of this.#added) list.push(f)
      this.#list = list
      this.#added = null
    }
    return this.#list
  }

  /** Where a change to field `n` goes: the added ones while the answer's own are untouched and
   * `n` is none of theirs (null: none added yet), else the whole list. */
  #target (n: string): string[] | null {
    if (this.#list === null && !(n === 'content-type' && this.#type !== undefined) && !textHas(this.#text, n)) return this.#added
    return this.#all()
  }

  append (name: string, value: string): void {
    const n = headerName(name, 'append')
    const v = headerValue(value, 'append')
    const l = this.#target(n)
    // The first one added: an array of just its two slots (push would reserve seventeen).
    if (l === null) this.#added = [n, v]
    else l.push(n, v)
  }

  set (name: string, value: string): void {
    const n = headerName(name, 'set')
    const v = headerValue(value, 'set')
    const l = this.#target(n)
    if (l === null) this.#added = [n, v]
    else setIn(l, n, v)
  }

  delete (name: string): void {
    const n = headerName(name, 'delete')
    const l = this.#target(n)
    if (l !== null) deleteIn(l, n)
  }

  get (name: string): string | null {
    const n = headerName(name, 'get')
    const l = this.#all()
    let out: string | null = null
    for (let i = 0; i < l.length; i += 2) if (l[i] === n) out = out === null ? l[i + 1] : `${out}, ${l[i + 1]}`
    return out
  }

  has (name: string): boolean {
    const n = headerName(name, 'has')
    const l = this.#all()
    for (let i = 0; i < l.length; i += 2) if (l[i] === n) return true
    return false
  }

  getSetCookie (): string[] {
    const l = this.#all()
    const out: string[] = []
    for (let i = 0; i < l.length; i += 2) if (l[i] === 'set-cookie') out.push(l[i + 1])
    return out
  }

  /** Sorted by name, a name's values combined with ", ", but Set-Cookie's each apart (Fetch's
   * "sort and combine"). */
  #sorted (): [string, string][] {
    const l = this.#all()
    const names = [...new Set(l.filter((_, i) => i % 2 === 0))].sort()
    const out: [string, string][] = []
    for (const n of names) {
      if (n === 'set-cookie') {
        for (let i = 0; i < l.length; i += 2) if (l[i] === n) out.push([n, l[i + 1]])
      } else {
        out.push([n, this.get(n)!])
      }
    }
    return out
  }

  forEach (callback: (value: string, key: string, parent: Headers) => void, thisArg?: unknown): void {
    if (typeof callback !== 'function') throw new TypeError('Headers.forEach: the callback is not a function')
    for (const [n, v] of this.#sorted()) callback.call(thisArg, v, n, this)
  }

  entries (): ReturnType<Headers['entries']> {
    return this.#sorted()[Symbol.iterator]() as ReturnType<Headers['entries']>
  }

  keys (): ReturnType<Headers['keys']> {
    return this.#sorted().map(e => e[0])[Symbol.iterator]() as ReturnType<Headers['keys']>
  }

  values (): ReturnType<Headers['keys']> {
    return this.#sorted().map(e => e[1])[Symbol.iterator]() as ReturnType<Headers['keys']>
  }

  [Symbol.iterator] (): ReturnType<Headers['entries']> {
    return this.entries()
  }

  [INSPECT] (): string {
    return `Headers ${JSON.stringify(Object.fromEntries(this.#sorted()))}`
  }

  static {
    listOf = (h) => h.#list
    addedOf = (h) => h.#added === null || h.#added.length === 0 ? null : h.#added
    copyOf = (h) => {
      const c = new AnswerHeaders(h.#list === null ? null : [...h.#list], h.#type, h.#text)
      if (h.#added !== null) c.#added = [...h.#added]
      return c
    }
  }
}
Object.setPrototypeOf(AnswerHeaders.prototype, Headers.prototype)

/** The answer an AnswerResponse carries, as the writer decided it. */
export interface Answer {
  status: number
  /** Content-type code (CT_*). */
  ct: number
  /** RES_HEAD header text. */
  text: string
  body: string | Uint8Array | null
  /** Null until the answer is taken back (takeAnswer): then its fields (lowercase name, value,
   * …) if its headers were touched — they, content type included, are then the head's. */
  fields: readonly string[] | null
  /** Set when the answer is taken back with its own fields untouched and others set or appended:
   * those (lowercase name, value, …; a name may repeat), none of them named as one of its own. */
  added?: readonly string[]
}

let takeOf: (res: AnswerResponse) => Answer | null

/** The Response of an answer isopool made (see the top of this file). */
export class AnswerResponse implements Response {
  #answer: Answer
  #headers: AnswerHeaders | null = null
  #used = false
  /** The real Response this one's body became, once a stream was asked for. */
  #real: Response | null = null

  constructor (answer: Answer) {
    this.#answer = answer
  }

  get status (): number { return this.#answer.status }
  get ok (): boolean { return this.#answer.status >= 200 && this.#answer.status <= 299 }
  get statusText (): string { return '' }
  get type (): Response['type'] { return 'default' }
  get url (): string { return '' }
  get redirected (): boolean { return false }

  get headers (): Headers {
    if (this.#headers === null) this.#headers = new AnswerHeaders(null, CONTENT_TYPES[this.#answer.ct], this.#answer.text)
    return this.#headers
  }

  get body (): ReadableStream<Uint8Array<ArrayBuffer>> | null {
    return this.#answer.body === null ? null : this.#stream().body
  }

  get bodyUsed (): boolean {
    return this.#real !== null ? this.#real.bodyUsed : this.#used
  }

  #consume (): string | Uint8Array | null {
    if (this.#used) throw new TypeError('Body is unusable: Body has already been read')
    this.#used = true
    return this.#answer.body
  }

  /** This body as a real Response's, made once. */
  #stream (): Response {
    if (this.#real === null) {
      const a = this.#answer
      // Statuses that take no body (204) hold none here.
      this.#real = new Response(a.body as string | Uint8Array<ArrayBuffer> | null, { status: a.status, headers: [...this.headers] })
      // Read before: its stream is as disturbed as this body is used.
      if (this.#used) this.#real.arrayBuffer().catch(() => {})
    }
    return this.#real
  }

  async text (): Promise<string> {
    if (this.#real !== null) return await this.#real.text()
    const d = this.#consume()
    return d === null ? '' : typeof d === 'string' ? d : decoder.decode(d)
  }

  async json (): Promise<any> {
    return JSON.parse(await this.text())
  }

  async bytes (): ReturnType<Response['bytes']> {
    if (this.#real !== null) return await this.#real.bytes()
    const d = this.#consume()
    // Fresh memory, as a Response's bytes always are.
    return d === null ? new Uint8Array(0) : typeof d === 'string' ? encoder.encode(d) : new Uint8Array(d)
  }

  async arrayBuffer (): Promise<ArrayBuffer> {
    const b = await this.bytes()
    return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? b.buffer as ArrayBuffer : b.slice().buffer
  }

  // Rare, and their types and parsing are the real Response's to get right.
  async blob (): Promise<Blob> {
    return await this.#stream().blob()
  }

  async formData (): Promise<FormData> {
    return await this.#stream().formData()
  }

  clone (): Response {
    if (this.#real !== null || this.#used) {
      // A read body throws here as a real Response's does; an unread stream is teed.
      const copy = this.#stream().clone()
      return new Response(copy.body, { status: this.status, headers: [...this.headers] })
    }
    const copy = new AnswerResponse({ ...this.#answer })
    if (this.#headers !== null) copy.#headers = copyOf(this.#headers)
    return copy
  }

  [INSPECT] (): string {
    return `Response { status: ${this.status}, headers: ${JSON.stringify(Object.fromEntries(this.headers))}, bodyUsed: ${this.bodyUsed} }`
  }

  static {
    takeOf = (res) => {
      if (res.#used || res.#real !== null) return null
      res.#used = true
      const a = res.#answer
      const h = res.#headers
      if (h !== null) {
        const all = listOf(h)
        if (all !== null) a.fields = all
        else {
          const added = addedOf(h)
          if (added !== null) a.added = added
        }
      }
      return a
    }
  }
}
Object.setPrototypeOf(AnswerResponse.prototype, Response.prototype)

/** The answer of an AnswerResponse nobody has read, for the writer to send as it is; null when
 * its body was read or became a stream: then it is read as any Response is. Once. */
export function takeAnswer (res: AnswerResponse): Answer | null {
  return takeOf(res)
}
