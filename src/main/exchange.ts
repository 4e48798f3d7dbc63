// One request's life on the main thread, from the router to the last byte of its answer, owned
// by one object. Everything that can happen to a request — its body arriving, its isolate
// answering, dying or stalling, its time running out, its client leaving — is a method here, and
// what it does depends on one state:
//
//   queued ──placed──▶ sending ──last frame──▶ running ──RES_HEAD──▶ responding ──END──▶ done
//     ▲                   │                       │
//     └── moved: its isolate died, stalled or was retired before it claimed the request
//
//   timeout     queued, or not claimed yet  → 503 ISOPOOL_ERR_NO_ISOLATE (it never ran, and never will)
//               claimed                     → 504 ISOPOOL_ERR_TIMEOUT (its late answer is dropped)
//               responding                  → the connection is cut (the status is out already)
//               streaming                   → no timeout: a stream lives until it ends, its client
//                                             goes, or the server shuts down (endStream)
//   client gone queued → withdrawn · placed → taken back if not claimed, else its answer dropped
//               and the isolate told (ABORT: req.signal fires, a response stream is cancelled)
//
// A streamed answer (RES_HEAD of unknown length) goes out chunked, each BODY frame written to the
// socket as it comes; its bytes are acknowledged to the isolate (Placement.credit, CREDIT frames)
// once the socket has taken them, at once or on 'drain', so a slow client pauses the producer —
// lazily, half a window at a time and one frame per turn (stream-credit.ts).
//   isolate lost  not claimed → moved, body and all · claimed → 502 ISOPOOL_ERR_ISOLATE_EXITED
//
// A request is run at most once: whether the isolate started it is decided by one
// compareExchange in shared memory (src/shared/claims.ts), never guessed.

import { copyOut, UNKNOWN_LENGTH } from '../shared/frame.ts'
import { IsopoolError } from '../shared/errors.ts'
import { noteStreamedBytes } from '../shared/young-gc.ts'
import type { Dispatcher, Job, Waiting } from './dispatch.ts'
import { writeError, writeHandlerHead } from './http1.ts'
import type { CloseListener, Http1Request, Http1Response } from './http1.ts'
import type { PlaceableRequest, Placement, PlacementSink } from './isolate-handle.ts'
import { writeNoRoute } from './route-table.ts'
import { StreamCredit } from './stream-credit.ts'
import type { DeadlineList, Deadlines, Timed } from './deadlines.ts'
import type { RouteInfo, Routes } from './route-table.ts'

export type ExchangeState = 'queued' | 'sending' | 'running' | 'responding' | 'done'

/** What every exchange is given by the server. */
export interface ExchangeContext {
  readonly dispatcher: Dispatcher<Placement, Exchange>
  /** The routes new and moved requests are routed by: the current generation's. */
  routes (): Routes
  /** The exchange is over for its client: answered, refused or given up. */
  finished (ex: Exchange): void
  /** The Retry-After header every 503 carries. */
  readonly retryAfter: readonly string[]
  /** Where an exchange's time is kept (one timer per timeout length, deadlines.ts). */
  readonly deadlines: Deadlines
}

let nextSeq = 0
const EMPTY = new Uint8Array(0)
/** Bytes a waiting request holds besides its head text: its Exchange, Http1Request and
 * Http1Response, and a share of its connection's buffers. */
const WAITING_OVERHEAD = 2048
/** The most a socket read delivers at once (libuv's buffer): what of a body a waiting request holds. */
const SOCKET_READ = 65536

export class Exchange implements Job<Placement>, PlaceableRequest, PlacementSink, CloseListener, Timed {
  readonly req: Http1Request
  readonly res: Http1Response
  /** REQ_HEAD text: method \0 target \0 fields. */
  readonly text: string
  /** Content-Length, UNKNOWN_LENGTH for a chunked body, 0 when there is none. */
  readonly bodyLen: number
  /** Accepted in this order: moved requests go back in line by it. */
  readonly seq = nextSeq++
  /** What it holds while it waits in the main thread: its head text, the objects of a request,
   * and what of its body may arrive before it is read (one socket read at most: the connection
   * stops reading until an isolate takes the body). The dispatcher's maxQueueBytes. */
  readonly bytes: number
  route: RouteInfo
  state: ExchangeState = 'queued'
  /** Expected ms of isolate work, charged to the isolate it is placed on (route-costs.ts). */
  cost = 0
  /** The dispatcher's, while it waits there (Job.waiting). */
  waiting: Waiting | null = null
  private placement: Placement | null = null
  private readonly ctx: ExchangeContext
  /** Its time (the route's timeout) runs while it is in a deadline list (deadlines.ts). */
  deadlinePrev: Timed | null = null
  deadlineNext: Timed | null = null
  deadlineAt = 0
  deadlineList: DeadlineList | null = null
  /** Body bytes read from the client while no isolate has the request (it moved), to be given
   * to the next one first. */
  private pendingBody: Uint8Array[] | null = null
  private reading = false
  /** The whole body has been read from the client. */
  private bodyEnded = false
  /** Its answer is a stream (responding, chunked, acknowledged by credit). */
  streaming = false
  /** Stream bytes written while the socket needed a drain: acknowledged on 'drain'. */
  private owed = 0
  /** A stream's acknowledgements, sent when due (stream-credit.ts); null unless streaming. */
  private credits: StreamCredit | null = null
  private creditScheduled = false
  private readonly drained = (): void => {
    const n = this.owed
    this.owed = 0
    this.credits?.drained(n)
    this.scheduleCredit()
  }

  /** Send the credit due at the end of this turn: every frame of one ring drain in one CREDIT. */
  private scheduleCredit (): void {
    if (this.creditScheduled || this.credits === null || !this.credits.due) return
    this.creditScheduled = true
    queueMicrotask(this.sendCredit)
  }

  private readonly sendCredit = (): void => {
    this.creditScheduled = false
    if (this.state === 'done' || this.credits === null) return
    const n = this.credits.take()
    if (n > 0) this.placement?.credit(n)
  }

  /** `now`: performance.now() as the server read it for this request (its time starts then). */
  constructor (req: Http1Request, res: Http1Response, route: RouteInfo, ctx: ExchangeContext, now?: number) {
    this.req = req
    this.res = res
    // The main thread's pseudo-fields (the client's address, the request id) follow the head's.
    this.text = req.meta === '' ? req.head : req.head + req.meta
    this.bytes = req.head.length + WAITING_OVERHEAD + (req.bodyLength === 0 ? 0 : req.bodyLength < 0 ? SOCKET_READ : Math.min(req.bodyLength, SOCKET_READ))
    this.bodyLen = req.bodyLength < 0 ? UNKNOWN_LENGTH : req.bodyLength
    this.bodyEnded = this.bodyLen === 0
    this.route = route
    this.ctx = ctx
    const timeout = route.timeout
    if (timeout > 0) ctx.deadlines.of(timeout).add(this, now)
    res.onClose(this)
  }

  // ── as the dispatcher sees it (Job) ────────────────────────────────────────────────────────

  get settled (): boolean { return this.state === 'done' }

  expectedCost (): number { return this.route.cost.expected }

  /** The main thread has no room or no time for it: Retry-After `retryAfter` s, or the server's. */
  refuse (err: IsopoolError, retryAfter?: number): void {
    this.fail(err, retryAfter === undefined ? this.ctx.retryAfter : ['retry-after', String(retryAfter)])
  }

  /** An isolate took it: its frames go there now. */
  placed (p: Placement): void {
    this.placement = p
    this.req.isolate = p.handle.index
    if (this.bodyLen === 0) {
      this.state = 'running'
      return
    }
    this.state = 'sending'
    // Bytes read while it had no isolate (it moved) go first, then what the client still sends.
    const given = this.pendingBody ?? []
    this.pendingBody = null
    for (let i = 0; i < given.length; i++) this.forward(given[i], this.bodyEnded && i === given.length - 1)
    if (given.length === 0 && this.bodyEnded) this.forward(null, true)
    if (!this.reading && !this.bodyEnded) {
      this.reading = true
      this.req.onBody(chunk => this.bodyChunk(chunk), () => this.bodyEnd())
    }
  }

  // ── as the isolate handle sees it (PlaceableRequest, PlacementSink) ────────────────────────

  get sink (): PlacementSink { return this }

  head (status: number, ct: number, text: string, bodyLen: number, data: Buffer, start: number, end: number, final: boolean): void {
    if (this.state === 'done') return // given up: the late answer is dropped
    this.state = 'responding'
    const ok = writeHandlerHead(this.res, status, ct, text, bodyLen)
    if (bodyLen === UNKNOWN_LENGTH && !final) {
      // A stream: the timeout covered the time to this head; the head goes out now.
      this.streaming = true
      this.credits = new StreamCredit()
      this.deadlineList?.remove(this)
      if (!ok) {
        this.placement?.abandon()
        this.finish()
        return
      }
      this.res.write(EMPTY)
      // No body may follow (HEAD, 204, 304): the stream is not read at all.
      if (this.res.bodiless) this.endStream()
      return
    }
    if (final) {
      // Head and body leave in one socket write, copied once out of the ring.
      if (ok) this.res.endFrom(data, start, end)
      this.finish()
    } else if (ok && end > start) {
      this.res.write(copyOut(data, start, end))
    }
  }

  body (data: Buffer, start: number, end: number, final: boolean): void {
    if (this.state === 'done') return
    const open = !this.res.writableEnded && !this.res.destroyed
    if (open && end > start) this.res.writeFrom(data, start, end)
    if (this.streaming && open && !final && end > start) {
      // Acknowledge what the socket took; what it holds beyond its highWaterMark, once drained;
      // either only when due (stream-credit.ts).
      const n = end - start
      if (this.owed === 0 && !this.res.needsDrain) this.credits!.took(n)
      else {
        if (this.owed === 0) this.res.onDrain(this.drained)
        this.owed += n
        this.credits!.held(n)
      }
      this.scheduleCredit()
    }
    if (final) {
      if (open) this.res.end()
      this.finish()
    }
  }

  lost (reason: IsopoolError): void {
    if (this.state === 'done') {
      this.placement = null
      return
    }
    if (this.moveIfUnstarted()) return
    this.placement = null
    // A response already under way cannot change its status: end the connection instead.
    if (this.state === 'responding') {
      this.cut()
      return
    }
    // A client still uploading gets its answer and keeps its connection: the HTTP layer reads and
    // drops the rest of the body (closing instead can reset the answer away).
    if (!this.bodyEnded) this.req.resume()
    this.fail(reason)
  }

  /** The isolate's response stream failed midway: the client must not take it as complete. */
  broken (): void {
    this.placement = null
    if (this.state !== 'done') this.cut()
  }

  /** The server shuts down: a stream under way ends now (its isolate cancels it), the chunked
   * body finished cleanly. True when this was a stream. */
  endStream (): boolean {
    if (this.state !== 'responding' || !this.streaming) return false
    this.placement?.abandon()
    this.res.end()
    this.finish()
    return true
  }

  evacuate (): void {
    // A stream from an isolate being retired (a reload) or stalled ends now, rather than keep it
    // for ever; an SSE client reconnects, to a live isolate.
    if (this.endStream()) return
    if (this.state === 'sending' || this.state === 'running') this.moveIfUnstarted()
  }

  resume (): void {
    if (this.state !== 'done') this.req.resume()
  }

  // ── the request body ───────────────────────────────────────────────────────────────────────

  private bodyChunk (chunk: Buffer): void {
    // Answered already (a timeout, a 413): the HTTP layer drops the rest, up to maxBodySize.
    if (this.state === 'done') return
    const limit = this.route.maxBodySize
    if (this.req.received > limit) {
      // No Content-Length, or a client sending more than it announced: stop at the limit.
      this.placement?.abandon()
      this.fail(new IsopoolError('ISOPOOL_ERR_BODY_TOO_LARGE', { limit }), [], true)
      return
    }
    // A streaming route's handler reads the body as it comes: its time runs from the last chunk,
    // so an upload that keeps moving is not cut off, and one that stalls (the client stops
    // sending, or the handler stops reading and so the socket is paused) still times out.
    if (this.route.streamBody) {
      this.deadlineList?.add(this)
      // Each socket read is a fresh ArrayBuffer: a scavenge every few MiB frees them (young-gc.ts).
      noteStreamedBytes(chunk.byteLength)
    }
    const final = this.bodyLen !== UNKNOWN_LENGTH && this.req.received === this.bodyLen
    if (final) this.bodyEnded = true
    this.forward(chunk, final)
  }

  private bodyEnd (): void {
    if (this.state === 'done' || this.bodyLen !== UNKNOWN_LENGTH) return
    this.bodyEnded = true
    this.forward(null, true)
  }

  /** Give a piece of the body to the isolate that has the request, or keep it until one does. */
  private forward (chunk: Uint8Array | null, final: boolean): void {
    if (this.placement === null) {
      if (chunk !== null) (this.pendingBody ??= []).push(chunk)
      return
    }
    if (!this.placement.body(chunk, final)) this.req.pause() // resume() once it is in the ring
    if (final && this.state === 'sending') this.state = 'running'
  }

  // ── moving, and giving up ──────────────────────────────────────────────────────────────────

  /**
   * Take the request back from its isolate if the isolate has not claimed it, and put it first in
   * line for another; true when it moved. Routed anew if the routes changed meanwhile (a reload).
   */
  private moveIfUnstarted (): boolean {
    const p = this.placement
    if (p === null) return false
    const body = p.revoke()
    if (body === null) return false
    this.placement = null
    this.pendingBody = [...body, ...(this.pendingBody ?? [])]
    this.state = 'queued'
    const routes = this.ctx.routes()
    if (this.route.routes !== routes && !this.reroute(routes)) return true
    this.ctx.dispatcher.requeue(this)
    return true
  }

  /** Route the request by `routes`; false when they have no route for it (it is answered). */
  private reroute (routes: Routes): boolean {
    const found = routes.lookup(this.req.method, this.req.url)
    if (found.found) {
      this.route = found.route
      return true
    }
    writeNoRoute(this.res, this.req.method, this.req.url, found)
    this.finish()
    return false
  }

  /** Route the request by a new generation's routes while it waits (see moveIfUnstarted). */
  rerouteWaiting (routes: Routes): void {
    if (this.state === 'queued' && this.route.routes !== routes && !this.reroute(routes)) this.ctx.dispatcher.withdraw(this)
  }

  /** Its time ran out. */
  expired (timeout: number): void {
    if (this.state === 'done') return
    if (this.state === 'responding') {
      this.cut()
      return
    }
    // Still receiving its body: the handler never ran, but no isolate was missing either.
    const sending = this.state === 'sending'
    // Not started: taken back (the isolate will skip it), and answered as one no isolate took.
    const started = this.state !== 'queued' && !this.takeBack()
    if (this.state === 'queued') this.ctx.dispatcher.withdraw(this)
    // The rest of an unread body is read and dropped (the HTTP layer does so after the answer,
    // and a paused upload is resumed here), so the connection stays usable and the client, still
    // sending, is not reset before it can read the answer; maxBodySize still caps it.
    if (!this.bodyEnded) this.req.resume()
    if (started || sending) this.fail(new IsopoolError('ISOPOOL_ERR_TIMEOUT', { timeout }))
    else this.fail(new IsopoolError('ISOPOOL_ERR_NO_ISOLATE', { timeout }), this.ctx.retryAfter)
  }

  /** The client closed the connection before the answer was complete: the work is given up. */
  connectionClosed (): void {
    if (this.state === 'done') return
    if (this.state === 'queued') this.ctx.dispatcher.withdraw(this)
    else this.placement?.abandon()
    this.finish()
  }

  /** Answer every request still waiting at shutdown. */
  shutDown (err: IsopoolError): void {
    if (this.state === 'done') return
    if (this.state === 'responding') {
      this.cut()
      return
    }
    const queued = this.state === 'queued'
    if (queued) this.ctx.dispatcher.withdraw(this)
    else this.placement?.abandon()
    if (!this.bodyEnded) this.req.resume()
    this.fail(err, this.ctx.retryAfter, queued)
  }

  /** Revoke the placement if the isolate has not claimed it: true when it never ran. */
  private takeBack (): boolean {
    const p = this.placement
    if (p === null) return true
    if (p.revoke() === null) {
      // Claimed: it runs, and keeps its place on the isolate until it answers. A streamed body not
      // all sent can never complete now: the isolate drops what it has.
      p.abandon()
      return false
    }
    this.placement = null
    return true
  }

  private fail (err: IsopoolError, extra: readonly string[] = [], close = false): void {
    writeError(this.res, err, extra, close)
    this.finish()
  }

  /** End the connection: an answer under way cannot be completed. */
  private cut (): void {
    this.placement?.abandon()
    this.res.destroy()
    this.finish()
  }

  private finish (): void {
    if (this.state === 'done') return
    this.state = 'done'
    this.deadlineList?.remove(this)
    this.ctx.finished(this)
  }
}
