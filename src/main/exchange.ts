// One request/response pair as the main thread tracks it, from routing to the last byte written,
// and the error responses the main thread sends itself.

import type { Http1Request, Http1Response } from './http1.ts'
import { errorBody, IsopoolError } from '../shared/errors.ts'
import { NOSNIFF } from '../shared/http-syntax.ts'
import type { IsolateHandle } from './isolate-handle.ts'

export interface Exchange {
  req: Http1Request
  res: Http1Response
  route: number
  /** REQ_HEAD text: method \0 url \0 raw headers. */
  text: string
  /** Content-Length, or UNKNOWN_LENGTH for a chunked body; 0 when there is none. */
  bodyLen: number
  /** Set once the request is placed on an isolate. */
  isolate: IsolateHandle | null
  id: number
  /** The request is complete on the isolate's side (its last frame is written or queued). */
  sent: boolean
  /** The response is being streamed in BODY frames. */
  streaming: boolean
  /** No more work for it: answered, or given up. */
  done: boolean
  /** The 504 timer, when the route has a timeout. */
  timer: NodeJS.Timeout | null
  /** Expected ms of isolate work, charged to the isolate it was placed on (route-costs.ts). */
  cost: number
  /**
   * The body so far, while it is collected to go to the isolate in one frame with its head
   * (IsolateHandle.adopt); null when no head is waiting for its body.
   */
  parts: Uint8Array[] | null
}

const JSON_TYPE = 'application/json; charset=utf-8'

/** Answer with a coded JSON error. `close` also ends the connection after it. */
export function sendError (res: Http1Response, err: IsopoolError, extra: string[] = [], close = false): void {
  if (res.headersSent || res.destroyed) {
    res.destroy()
    return
  }
  const body = Buffer.from(errorBody(err.toWire()))
  if (close) res.shouldKeepAlive = false
  res.writeHead(err.status ?? 500, ['content-type', JSON_TYPE, ...NOSNIFF, 'content-length', String(body.byteLength), ...extra], true)
  res.end(body)
}
