// Turning what a handler returned (or threw) into a RES_HEAD frame and, for large bodies, BODY
// frames in the response ring. The isolate encodes the final bytes straight into shared memory:
// a JSON string is UTF-8-encoded in place, with no intermediate Buffer.

import { errorBody, HttpError, IsopoolError } from '../shared/errors.ts'
import type { WireError } from '../shared/errors.ts'
import { pack } from 'msgpackr'
import { CT_JSON, CT_MSGPACK, CT_NONE, CT_OCTET, CT_TEXT, FLAG_END, HEAD_PREFIX, KIND_BODY, KIND_RES_HEAD, resArg, writeBody, writeHead, writeHeadPrefix } from '../shared/frame.ts'
import type { RingProducer } from '../shared/ring.ts'

/** A response waiting for ring space; `offset` is how much of the body is in the ring. */
interface Outgoing {
  id: number
  status: number
  ct: number
  text: string
  body: Uint8Array | null
  offset: number
  headSent: boolean
  /** µs the handler kept the isolate busy, reported in the RES_HEAD. */
  busy: number
}

/** A handler's result with the encoder its route compiled from its response schema. */
export class Encodable {
  readonly value: unknown
  readonly encode: (value: unknown) => string
  constructor (value: unknown, encode: (value: unknown) => string) {
    this.value = value
    this.encode = encode
  }
}

export class ResponseWriter {
  readonly ring: RingProducer
  readonly dev: boolean
  /** Responses that did not fit yet, in order; while it is not empty new ones queue behind. */
  private backlog: Outgoing[] = []
  private flushing = false
  /** µs the handler whose result or error is written next kept the isolate busy; the caller
   * sets it right before result() or error(), which read it synchronously. */
  busy = 0

  constructor (ring: RingProducer, dev: boolean) {
    this.ring = ring
    this.dev = dev
  }

  /** Send whatever a handler returned. `handler` names it in errors. */
  result (id: number, value: unknown, handler: string, req: { prefersMsgpack (): boolean }): void | Promise<void> {
    if (value instanceof Encodable) {
      if (req.prefersMsgpack()) value = value.value
      else {
        let json: string
        try {
          json = value.encode(value.value)
        } catch (err) {
          return this.error(id, new IsopoolError('ISOPOOL_ERR_INVALID_RESULT', { handler, type: `${typeof value.value} (${(err as Error).message})` }))
        }
        return this.sendString(id, 200, CT_JSON, '', json)
      }
    }
    if (value === undefined) return this.send(id, 204, CT_NONE, '', null)
    if (typeof value === 'string') return this.sendString(id, 200, CT_TEXT, '', value)
    if (value instanceof Uint8Array) return this.send(id, 200, CT_OCTET, '', value)
    if (value instanceof Response) return this.response(id, value, this.busy)
    if (value instanceof ArrayBuffer) return this.send(id, 200, CT_OCTET, '', new Uint8Array(value))
    if (typeof value === 'function' || typeof value === 'symbol') {
      return this.error(id, new IsopoolError('ISOPOOL_ERR_INVALID_RESULT', { handler, type: typeof value }))
    }
    if (req.prefersMsgpack()) {
      let bytes: Uint8Array
      try {
        bytes = pack(value)
      } catch (err) {
        return this.error(id, new IsopoolError('ISOPOOL_ERR_INVALID_RESULT', { handler, type: `${typeof value} (${(err as Error).message})` }))
      }
      return this.send(id, 200, CT_MSGPACK, '', bytes)
    }
    let json: string | undefined
    try {
      json = JSON.stringify(value)
    } catch (err) {
      return this.error(id, new IsopoolError('ISOPOOL_ERR_INVALID_RESULT', { handler, type: `${typeof value} (${(err as Error).message})` }))
    }
    return this.sendString(id, 200, CT_JSON, '', json ?? 'null')
  }

  /** Send the error a handler threw, as a JSON error body. */
  error (id: number, err: unknown): void {
    let wire: WireError
    let text = ''
    if (err instanceof HttpError) {
      wire = { code: err.code, message: err.message, status: err.status }
      if (err.headers !== undefined) {
        try {
          text = headerText(Object.entries(err.headers))
        } catch (bad) {
          console.error(bad) // the error still goes out, without the headers it could not carry
        }
      }
    } else if (err instanceof IsopoolError && err.status !== undefined && err.status < 500) {
      wire = err.toWire()
    } else if (err instanceof IsopoolError && err.status !== undefined) {
      // A server-side failure of ours (say an unsendable result): log it whole, send the code.
      console.error(err)
      wire = this.dev ? err.toWire() : { code: err.code, message: 'Internal server error', status: err.status }
    } else {
      // Anything else a handler throws is a bug in it: log it, leak nothing outside development.
      console.error(err)
      const e = err as { message?: unknown, stack?: unknown }
      wire = this.dev
        ? { code: 'ISOPOOL_ERR_HANDLER', message: String(e?.message ?? err), status: 500, ...(typeof e?.stack === 'string' ? { stack: e.stack } : {}) } as WireError
        : { code: 'ISOPOOL_ERR_HANDLER', message: 'Internal server error', status: 500 }
    }
    this.sendString(id, wire.status ?? 500, CT_JSON, text, errorBody(wire))
  }

  private async response (id: number, res: Response, busy: number): Promise<void> {
    const headers: [string, string][] = []
    for (const [name, value] of res.headers) {
      // The main thread frames the body itself and sets content-length from what we send.
      if (name === 'content-length' || name === 'transfer-encoding' || name === 'set-cookie') continue
      headers.push([name, value])
    }
    for (const cookie of res.headers.getSetCookie()) headers.push(['set-cookie', cookie])
    const body = res.body === null ? null : new Uint8Array(await res.arrayBuffer())
    this.send(id, res.status, CT_NONE, headerText(headers), body, busy)
  }

  /** Send a string body, UTF-8-encoded in place when it fits one frame. */
  private sendString (id: number, status: number, ct: number, text: string, body: string): void {
    if (this.backlog.length === 0) {
      const ring = this.ring
      const fixed = HEAD_PREFIX + text.length
      const bytes = Buffer.byteLength(body)
      if (fixed + bytes <= ring.maxFrame) {
        const pos = ring.reserve(fixed + bytes, fixed + bytes)
        if (pos >= 0) {
          writeHeadPrefix(ring, pos, fixed + bytes, KIND_RES_HEAD, FLAG_END, ct, id, resArg(status, this.busy), text, bytes)
          ring.data.write(body, pos + fixed, bytes, 'utf8')
          ring.commit(fixed + bytes)
          return
        }
      }
    }
    this.send(id, status, ct, text, Buffer.from(body))
  }

  /** Send a response with a byte body; chunks it and waits for ring space as needed. */
  send (id: number, status: number, ct: number, text: string, body: Uint8Array | null, busy = this.busy): void {
    const out: Outgoing = { id, status, ct, text, body, offset: 0, headSent: false, busy }
    if (this.backlog.length === 0 && this.write(out)) return
    this.backlog.push(out)
    if (!this.flushing) void this.flush()
  }

  /** Write as much of `out` as fits; true when it is all in the ring. */
  private write (out: Outgoing): boolean {
    const ring = this.ring
    const bodyLen = out.body === null ? 0 : out.body.byteLength
    if (!out.headSent) {
      // Whole when it fits one frame, waiting for the room rather than splitting it: the main
      // thread then never has a head out on the socket while the rest waits here, where this
      // isolate dying (or being killed by a stuck handler) would cut the answer off. It answers
      // a clean 502 instead. Only larger answers stream.
      const n = writeHead(ring, KIND_RES_HEAD, out.id, resArg(out.status, out.busy), out.ct, out.text, bodyLen, out.body, 0, true, true)
      if (n < 0) return false
      out.headSent = true
      out.offset = n
      if (n === bodyLen) return true
    }
    while (out.offset < bodyLen) {
      const n = writeBody(ring, KIND_BODY, out.id, out.body, out.offset, true)
      if (n < 0) return false
      out.offset += n
    }
    return true
  }

  private async flush (): Promise<void> {
    this.flushing = true
    try {
      while (this.backlog.length > 0) {
        if (this.write(this.backlog[0])) this.backlog.shift()
        else await this.ring.waitForSpace()
      }
    } finally {
      this.flushing = false
    }
  }
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/

/** `name \0 value \0 …` for a RES_HEAD frame. Names must be tokens and values visible latin1,
 * as HTTP requires; checking here also keeps a \0 from ever splitting the frame text wrongly. */
function headerText (headers: [string, string][]): string {
  let s = ''
  for (const [name, value] of headers) {
    if (!TOKEN.test(name)) throw new IsopoolError('ISOPOOL_ERR_RESPONSE_INVALID', { reason: `invalid header name ${JSON.stringify(name)}` })
    if (!FIELD_VALUE.test(value)) throw new IsopoolError('ISOPOOL_ERR_RESPONSE_INVALID', { reason: `invalid value for header ${name}` })
    s += (s === '' ? '' : '\0') + name + '\0' + value
  }
  return s
}
