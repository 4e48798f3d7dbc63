// The main thread's side of one isolate: its worker, its two rings and its claim table, the
// requests placed on it (Placement: one request on this isolate), the frames waiting for ring
// space, and the loop that drains its response frames to the requests they answer.
//
// It knows nothing of HTTP: a placement is handed a request's head text and body bytes and
// delivers response frames to a PlacementSink (the exchange that owns the request). What to do
// when the isolate dies or stalls — move a request or fail it — is the sink's to decide; what
// the handle offers is the fact: whether the isolate had claimed it (src/shared/claims.ts), and
// the bytes to send it again elsewhere when it had not.

import { Worker } from 'node:worker_threads'
import type { EventLoopUtilization } from 'node:perf_hooks'
import { ClaimTable, createClaimBuffer, nextRequestId } from '../shared/claims.ts'
import { IsopoolError } from '../shared/errors.ts'
import {
  copyOut, FLAG_END, FRAME_HEADER, frameArg, frameFlags, frameId, frameKind, HEAD_PREFIX, KIND_ABORT, KIND_BODY, KIND_CREDIT, KIND_REQ_HEAD,
  KIND_RES_HEAD, KIND_WS_CLOSE, KIND_WS_MESSAGE, KIND_WS_PUBLISH, KIND_WS_TOPIC, readHead, resBusyMicros, resStatus, STREAM_WINDOW, UNKNOWN_LENGTH, writeBody,
  writeFrames, writeHead, writeWholeHead
} from '../shared/frame.ts'
import { FrameBacklog } from '../shared/frame-backlog.ts'
import type { IsolateInit, IsolateMessage, MainMessage, ManifestRoute, ManifestSocket, RouteSpec, SocketRouteSpec } from '../shared/protocol.ts'
import { createRingBuffer, RingConsumer, RingProducer } from '../shared/ring.ts'
import type { ResourceLimits } from './options.ts'
import { LONG_MS } from './route-costs.ts'
import type { RouteInfo, Routes } from './route-table.ts'
import { IdTable } from '../shared/id-table.ts'

// The isolate's entry beside this file: worker.ts in the repo (Node strips the types), worker.js in
// the published package (compiled, since Node strips no types under node_modules).
const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? '../isolate/worker.ts' : '../isolate/worker.js', import.meta.url)

/** Where a placement's response frames go, and what it hears of its isolate. */
export interface PlacementSink {
  /** A RES_HEAD: the status, the content type code, the handler's fields, the body's length,
   * and what of the body came with it (`data[start, end)`, valid during the call). */
  head (status: number, ct: number, text: string, bodyLen: number, data: Buffer, start: number, end: number, final: boolean): void
  /** A BODY frame of the response (`data[start, end)`, valid during the call). */
  body (data: Buffer, start: number, end: number, final: boolean): void
  /** The isolate is gone (it died, or was killed): the request cannot be answered from it. */
  lost (reason: IsopoolError): void
  /** The isolate should take on nothing more (it stalled, or a reload retires it): a request it
   * has not started had better run elsewhere. */
  evacuate (): void
  /** A frame of the request that waited for ring space is in the ring now. */
  resume (): void
  /** The isolate's response stream failed midway (an ABORT frame): the answer cannot complete. */
  broken (): void
}

/** What the handle takes: a request routed by this isolate's generation. */
export interface PlaceableRequest {
  /** REQ_HEAD text: method \0 target \0 fields (head-text.ts). */
  readonly text: string
  /** Content-Length, UNKNOWN_LENGTH for a chunked body, 0 for none. */
  readonly bodyLen: number
  readonly route: RouteInfo
  /** Expected ms of isolate work, charged here while it is in flight. */
  readonly cost: number
  readonly sink: PlacementSink
}

/** Where the WebSocket frames of every isolate go (src/main/websockets.ts), and what it hears of
 * an isolate that is gone. */
export interface SocketSink {
  /** A WS_MESSAGE, WS_CLOSE, WS_TOPIC or WS_PUBLISH frame from `handle` (`data[start, end)`,
   * valid during the call; `final`: the last frame of its message). */
  frame (handle: IsolateHandle, kind: number, id: number, arg: number, final: boolean, data: Buffer, start: number, end: number): void
  /** The isolate is gone: `stopped` when it was asked to stop (a reload, shutdown), else it
   * died (a crash, a memory limit, killed). */
  lost (handle: IsolateHandle, stopped: boolean): void
}

export interface IsolateConfig {
  modules: string[]
  routes: RouteSpec[]
  discover: string[]
  ringSize: number
  maxInFlight: number
  dev: boolean
  poll: number
  maxBodyDepth: number
  resourceLimits: ResourceLimits | undefined
  log: IsolateInit['log']
  compression: IsolateInit['compression']
  middleware: string[]
  /** WebSocket routes (WS_OPEN carries an index into them). */
  websockets: SocketRouteSpec[]
  /** Where WebSocket frames from the isolates go; null when the server has no WebSocket routes
   * (then an isolate's publish() reaches nobody). */
  sockets: SocketSink | null
  /** The server's maxBodySize: a declared route whose own is above it streams its body. */
  maxBodySize: number
}

export interface IsolateEvents {
  /** Ring space or a place in flight came free: waiting requests may be placed now. */
  space (): void
  /** The worker stopped without being asked to (its placements have heard lost()). */
  exit (handle: IsolateHandle, code: number): void
  /** A message from a ready isolate other than its start-up ones (a log line, a metrics report). */
  message (handle: IsolateHandle, msg: IsolateMessage): void
}

/** How a placement's body travels: none, whole in one frame with its head once it has all
 * arrived, or streamed behind its head in BODY frames. */
type Mode = 'none' | 'whole' | 'stream'

/** One request on one isolate, from the moment it is placed until the isolate answered it whole
 * or it was taken back. */
export class Placement {
  readonly handle: IsolateHandle
  readonly request: PlaceableRequest
  readonly id: number
  readonly slot: number
  readonly mode: Mode
  /** Whole mode: the body so far, until its frame is written; then null. */
  parts: Uint8Array[] | null
  private partBytes = 0
  /** Whole mode: where its frame lies in the request ring once written (the isolate has not
   * taken it until it claims it), to send the body again elsewhere. */
  frameAt = -1
  frameLen = 0
  /** Its last frame is written (or waits in the backlog): the isolate has all of it. */
  sent = false
  /** A RES_HEAD came: the isolate has run it. */
  answering = false
  /** Gone from the handle: answered whole, taken back, aborted, or the isolate died. */
  closed = false
  /** Its RES_HEAD said the body streams (UNKNOWN_LENGTH): it is answered in BODY frames until
   * END, acknowledged by credit(). */
  streaming = false
  /** An ABORT went to the isolate for it (it runs on, and still ends its answer). */
  aborted = false
  /** Its cost no longer counts in its handle's work (IsolateHandle.discharge). */
  discharged = false
  /** A streamed-body route's request (RouteInfo.streamBody): body bytes sent that the isolate
   * has not acknowledged yet (CREDIT frames, frame.ts). At STREAM_WINDOW the body pauses. */
  private unacked = 0

  constructor (handle: IsolateHandle, request: PlaceableRequest, id: number, slot: number, mode: Mode) {
    this.handle = handle
    this.request = request
    this.id = id
    this.slot = slot
    this.mode = mode
    this.parts = mode === 'whole' ? [] : null
  }

  /**
   * The next piece of the body (`final` once it is complete; `chunk` null for the end of a
   * chunked body). False when it waits for ring space: pause the body until resume().
   */
  body (chunk: Uint8Array | null, final: boolean): boolean {
    if (this.closed) return true
    if (this.mode === 'whole') {
      if (chunk !== null && chunk.byteLength > 0) {
        this.parts!.push(chunk)
        this.partBytes += chunk.byteLength
      }
      if (final) this.handle.writeWhole(this)
      return true
    }
    const written = this.handle.writeBody(this, chunk, final)
    if (chunk !== null && this.request.route.streamBody) this.unacked += chunk.byteLength
    return written && !this.windowFull
  }

  /** Its body may not go on until the isolate acknowledges some of it. */
  get windowFull (): boolean { return this.unacked >= STREAM_WINDOW && this.request.route.streamBody }

  /** The isolate acknowledged `n` bytes of its streamed body: the body goes on when the window
   * opens again. */
  credited (n: number): void {
    const full = this.windowFull
    this.unacked = Math.max(0, this.unacked - n)
    // Resumed even while the ring's backlog holds frames: the next chunk then waits there, and
    // pauses the body again until the backlog's `written` resumes it.
    if (full && !this.windowFull && !this.closed) this.request.sink.resume()
  }

  /**
   * Take the request back if the isolate has not started it, so that it can run elsewhere: the
   * body bytes it had been given (to be given again), or null when it cannot be taken back — the
   * isolate claimed it, answered it, or (a streamed body) has its head and first frames, which
   * only it holds now.
   */
  revoke (): Uint8Array[] | null {
    // A streamed request's head went into the ring when it was placed: the frames after it are
    // the isolate's to assemble, and only it holds them once read.
    if (this.closed || this.answering || this.mode === 'stream') return null
    if (!this.handle.claims.revoke(this.slot, this.id)) return null
    const body = this.bodyGiven()
    this.handle.forget(this, false)
    return body
  }

  /** The request is given up (answered by the main thread, or its client left). Whatever the
   * isolate has not started it never will; what it runs still keeps its place until it answers. */
  abandon (): void {
    if (this.closed) return
    if (this.revoke() !== null) return
    // Streamed and not all sent: the isolate drops the partial body on an ABORT.
    if (this.mode === 'stream' && !this.sent && !this.answering) {
      this.handle.abort(this)
      return
    }
    // Running, or streaming its answer: the ABORT fires its req.signal and cancels its stream;
    // it keeps its place until its answer ends (a stream ends at once, with an empty END).
    if (!this.aborted) {
      this.aborted = true
      this.handle.signalAbort(this)
    }
  }

  /** `n` bytes of its response stream are written to the socket: the isolate may pull more. */
  credit (n: number): void {
    if (!this.closed && !this.aborted && n > 0) this.handle.credit(this, n)
  }

  /** The bytes of the body this placement was given, copied out of the ring where they lie. */
  private bodyGiven (): Uint8Array[] {
    if (this.mode !== 'whole') return []
    if (this.parts !== null) return this.parts
    if (this.frameAt < 0) return []
    // Revoked: the isolate will never read the frame, and only this thread writes the ring, so
    // its bytes are as written until the next write here.
    const data = this.handle.requests.data
    const bodyAt = this.frameAt + HEAD_PREFIX + this.request.text.length
    return [copyOut(data, bodyAt, this.frameAt + this.frameLen, true)]
  }

  /** Body bytes held for the whole frame (the handle's collect budget). */
  get held (): number { return this.mode === 'whole' && this.parts !== null ? this.request.bodyLen : 0 }
  get collected (): number { return this.partBytes }
}

/** A frame waiting for room in the request ring. */
class OutFrame {
  readonly p: Placement
  readonly kind: number
  readonly chunk: Uint8Array | null
  offset = 0
  readonly final: boolean
  /** A CREDIT frame's byte count. */
  readonly arg: number

  constructor (p: Placement, kind: number, chunk: Uint8Array | null, final: boolean, arg = 0) {
    this.p = p
    this.kind = kind
    this.chunk = chunk
    this.final = final
    this.arg = arg
  }

  write (): boolean {
    const p = this.p
    const h = p.handle
    const ring = h.requests
    if (this.kind === KIND_ABORT) return writeBody(ring, KIND_ABORT, p.id, null, 0, false) >= 0
    // Taken back or gone while it waited: nothing to send.
    if (p.closed) return true
    if (this.kind === KIND_CREDIT) return writeBody(ring, KIND_CREDIT, p.id, null, 0, false, this.arg) >= 0
    if (this.kind === KIND_REQ_HEAD) {
      if (p.mode === 'whole') {
        const at = writeWholeHead(ring, KIND_REQ_HEAD, p.id, p.request.route.index, p.slot, p.request.text, p.parts!, p.request.bodyLen)
        if (at < 0) return false
        h.wroteWhole(p, at)
        return true
      }
      const n = writeHead(ring, KIND_REQ_HEAD, p.id, p.request.route.index, p.slot, p.request.text, p.request.bodyLen, null, 0, this.final)
      if (n < 0) return false
      if (this.final) p.sent = true
      return true
    }
    const len = this.chunk === null ? 0 : this.chunk.byteLength
    do {
      const n = writeBody(ring, KIND_BODY, p.id, this.chunk, this.offset, this.final)
      if (n < 0) return false
      this.offset += n
    } while (this.offset < len)
    if (this.final) p.sent = true
    return true
  }
}

/** A WebSocket frame for the isolate (src/main/websockets.ts), waiting for room in the request
 * ring: a HEAD frame when it has `text` (WS_OPEN), else one or more frames of its kind. */
export class SocketOut {
  readonly kind: number
  readonly id: number
  readonly arg: number
  readonly text: string | null
  readonly bytes: Uint8Array | null
  private offset = 0
  /** Told once it is in the ring after it had to wait. */
  readonly written: (() => void) | null
  ring: RingProducer | null = null

  constructor (kind: number, id: number, arg: number, text: string | null, bytes: Uint8Array | null, written: (() => void) | null = null) {
    this.kind = kind
    this.id = id
    this.arg = arg
    this.text = text
    this.bytes = bytes
    this.written = written
  }

  write (): boolean {
    const ring = this.ring!
    if (this.text !== null) return writeHead(ring, this.kind, this.id, this.arg, 0, this.text, 0, null, 0, true) >= 0
    const at = writeFrames(ring, this.kind, this.id, this.bytes, this.offset, this.arg)
    if (at < 0) return false
    this.offset = at
    return at === (this.bytes === null ? 0 : this.bytes.byteLength)
  }
}

export class IsolateHandle {
  readonly index: number
  readonly worker: Worker
  readonly requests: RingProducer
  readonly responses: RingConsumer
  readonly claims: ClaimTable
  /** Requests placed here and not yet answered whole, by id (not a Map: id-table.ts says why). */
  readonly pending = new IdTable<Placement>()
  private readonly backlog: FrameBacklog<OutFrame | SocketOut>
  /** Where its WebSocket frames go (null: the server has no WebSocket routes). */
  private readonly sockets: SocketSink | null
  /** stop() was called: its end is asked for, not a crash. */
  private stopAsked = false
  /** Claim slots not in use. */
  private readonly freeSlots: number[]
  /** Body bytes held for whole frames not in the ring yet; at most what the ring holds. Past
   * that, bodies stream. */
  private collecting = 0
  private nextId = 1
  private stopping = false
  private exited = false
  private readonly events: IsolateEvents
  private readonly maxInFlight: number
  /** Of the requests in flight, the response streams under way (they hold no claim slot). */
  private streams = 0
  /** Expected ms of work in flight here: the costs of the requests in flight (placement). */
  work = 0
  /** Requests in flight here expected to take LONG_MS or more (route-costs.ts). */
  long = 0
  /** The routes of this isolate's generation, once it is ready. */
  routes: Routes | null = null
  /** The server's reload generation this isolate belongs to. */
  generation = 0
  /** The route() declarations this isolate found, as it reported them when ready. */
  manifest: ManifestRoute[] = []
  /** The websocket() declarations it found, as it reported them when ready. */
  socketManifest: ManifestSocket[] = []
  /** Set by the supervisor while the isolate looks stuck (no progress, its event loop busy): new
   * requests go elsewhere, and /readyz says so. */
  suspect = false
  /** Set by the supervisor while one synchronous handler has kept it longer than the supervisor
   * allows: new requests go elsewhere, and those it has not started have moved. */
  stalled = false
  /** Requests this isolate answered (a replacement that dies before answering any is in a crash
   * loop). */
  answered = 0
  private lastProgress: number
  private lastTail = 0
  private lastElu: EventLoopUtilization | undefined
  private killReason: string | null = null
  private idleWaiters: (() => void)[] = []

  private constructor (index: number, config: IsolateConfig, events: IsolateEvents, epoch: number) {
    this.index = index
    this.events = events
    this.maxInFlight = config.maxInFlight
    const requestRing = createRingBuffer(config.ringSize)
    const responseRing = createRingBuffer(config.ringSize)
    const claimBuffer = createClaimBuffer(config.maxInFlight)
    this.requests = new RingProducer(requestRing)
    // Requests parsed in one event-loop turn (the HTTP layer parses every readable socket before
    // setImmediate callbacks run) reach the isolate with one wake-up.
    this.requests.wakeWith(setImmediate)
    this.responses = new RingConsumer(responseRing)
    this.claims = new ClaimTable(claimBuffer, epoch)
    this.freeSlots = Array.from({ length: config.maxInFlight }, (_, i) => config.maxInFlight - 1 - i)
    this.sockets = config.sockets
    this.backlog = new FrameBacklog<OutFrame | SocketOut>(this.requests, {
      written: (f) => {
        if (f instanceof SocketOut) f.written?.()
        else if (f.kind === KIND_BODY && !f.p.closed && !f.p.windowFull) f.p.request.sink.resume()
      },
      drained: () => this.events.space()
    })
    const init: IsolateInit = {
      index,
      requestRing,
      responseRing,
      claims: claimBuffer,
      epoch,
      modules: config.modules,
      routes: config.routes,
      discover: config.discover,
      dev: config.dev,
      poll: config.poll,
      maxBodyDepth: config.maxBodyDepth,
      log: config.log,
      compression: config.compression,
      middleware: config.middleware,
      websockets: config.websockets,
      maxBodySize: config.maxBodySize
    }
    this.worker = new Worker(WORKER_URL, {
      workerData: init,
      name: `isopool isolate ${index}`,
      ...(config.resourceLimits === undefined ? {} : { resourceLimits: config.resourceLimits })
    })
    this.lastProgress = performance.now()
  }

  /** Start an isolate and resolve once it has imported every module, or reject with why not. */
  static start (index: number, config: IsolateConfig, events: IsolateEvents, epoch: number): Promise<IsolateHandle> {
    const handle = new IsolateHandle(index, config, events, epoch)
    const worker = handle.worker
    return new Promise((resolve, reject) => {
      let settled = false
      let failure: IsopoolError | null = null
      const onMessage = (msg: IsolateMessage): void => {
        if (msg.type === 'ready') {
          handle.manifest = msg.manifest
          handle.socketManifest = msg.sockets ?? []
          settled = true
          worker.off('message', onMessage)
          worker.off('error', onError)
          worker.on('error', (err) => { console.error(`isopool: isolate ${index} failed:`, err) })
          worker.on('message', (m: IsolateMessage) => events.message(handle, m))
          void handle.serveResponses()
          resolve(handle)
        } else if (msg.type === 'error') {
          failure = IsopoolError.fromWire(msg.error)
        }
      }
      const onError = (err: Error): void => {
        failure ??= new IsopoolError('ISOPOOL_ERR_ISOLATE_START', { isolate: index, reason: err.message }, { cause: err })
      }
      worker.on('message', onMessage)
      worker.on('error', onError)
      worker.on('exit', (code) => {
        handle.exited = true
        handle.stopping = true
        handle.responses.interrupt()
        if (!settled) {
          settled = true
          reject(failure ?? new IsopoolError('ISOPOOL_ERR_ISOLATE_START', { isolate: index, reason: `exit code ${code}` }))
          return
        }
        handle.died(new IsopoolError('ISOPOOL_ERR_ISOLATE_EXITED', { reason: handle.killReason ?? `exit code ${code}` }))
        events.exit(handle, code)
      })
    })
  }

  get inFlight (): number { return this.pending.size }

  /** Its thread is not asleep on the request ring (placement.ts, IsolateState). */
  get awake (): boolean { return !this.requests.consumerAsleep() }

  /** When (performance.now()) it last took a request or its answers were drained (placement). */
  lastActive = 0

  /** For metrics: what the supervisor and the pool last said of it. */
  get state (): 'ready' | 'stalled' | 'suspect' | 'stopping' {
    return this.stopping || this.exited ? 'stopping' : this.stalled ? 'stalled' : this.suspect ? 'suspect' : 'ready'
  }

  /** True while new requests may be placed here. */
  get accepting (): boolean {
    return !this.stopping && !this.suspect && !this.stalled && this.backlog.empty && this.pending.size - this.streams < this.maxInFlight && this.routes !== null
  }

  /**
   * Place a request here: a request without a body, or with one that streams, has its REQ_HEAD
   * written now; one whose body fits one frame with its head is held until the body is all here
   * (Placement.body), then written whole, so the isolate can lend the body to the handler where
   * it lies (src/isolate/request.ts). Null when the ring has no room for the head now; nothing
   * is written then.
   */
  take (request: PlaceableRequest, now = performance.now()): Placement | null {
    const slot = this.freeSlots.pop()
    if (slot === undefined) return null
    const len = request.bodyLen
    const whole = len !== 0 && len !== UNKNOWN_LENGTH && !request.route.streamBody && HEAD_PREFIX + request.text.length + len <= this.requests.maxFrame &&
      this.collecting + len <= this.requests.capacity
    const id = this.nextId
    const p = new Placement(this, request, id, slot, len === 0 ? 'none' : whole ? 'whole' : 'stream')
    this.claims.offer(slot, id)
    if (!whole) {
      // The head goes now (with END when there is no body); a backlog means no room either.
      // A length past what a u32 holds (a streamed-body route's) is sent as unknown.
      const n = this.backlog.empty ? writeHead(this.requests, KIND_REQ_HEAD, id, request.route.index, slot, request.text, len > UNKNOWN_LENGTH ? UNKNOWN_LENGTH : len, null, 0, len === 0) : -1
      if (n < 0) {
        this.freeSlots.push(slot) // never published: the isolate cannot have seen the offer
        return null
      }
      if (len === 0) p.sent = true
    } else {
      this.collecting += len
    }
    this.nextId = nextRequestId(id)
    // Idle until now, so not stuck until now (stuckFor): its ring's tail moves only once it is
    // done with a frame, which for a stuck handler's own frame is never.
    if (this.pending.size === 0) this.lastProgress = now
    this.work += request.cost
    this.lastActive = now
    if (request.cost >= LONG_MS) this.long++
    this.pending.set(id, p)
    return p
  }

  /** A whole-mode placement's body is all here: its one frame goes into the ring (or waits). */
  writeWhole (p: Placement): void {
    if (p.collected !== p.request.bodyLen) {
      // More or less than announced: the HTTP layer frames bodies by their length, so this is a
      // bug; send what there is as a stream rather than a frame that lies about its length.
      throw new IsopoolError('ISOPOOL_ERR_FRAME_INVALID', { reason: `body of ${p.collected} bytes announced as ${p.request.bodyLen}` })
    }
    p.sent = true
    this.backlog.add(new OutFrame(p, KIND_REQ_HEAD, null, true))
  }

  /** The whole frame of `p` is in the ring at `at`: its held body is not held any more. */
  wroteWhole (p: Placement, at: number): void {
    this.collecting -= p.request.bodyLen
    p.parts = null
    p.frameAt = at
    p.frameLen = HEAD_PREFIX + p.request.text.length + p.request.bodyLen
  }

  /** A piece of a streamed body; false when it waits for ring space. */
  writeBody (p: Placement, chunk: Uint8Array | null, final: boolean): boolean {
    if (final) p.sent = true
    return this.backlog.add(new OutFrame(p, KIND_BODY, chunk, final))
  }

  /** Tell the isolate to drop a streamed request whose body will never complete, and forget it. */
  abort (p: Placement): void {
    this.backlog.add(new OutFrame(p, KIND_ABORT, null, false))
    this.forget(p, false)
  }

  /** Tell the isolate a request it runs (or streams the answer of) is given up; it stays here
   * until its answer ends. */
  signalAbort (p: Placement): void {
    this.backlog.add(new OutFrame(p, KIND_ABORT, null, false))
  }

  /** Acknowledge `n` bytes of `p`'s response stream (frame.ts, CREDIT). */
  credit (p: Placement, n: number): void {
    this.backlog.add(new OutFrame(p, KIND_CREDIT, null, false, n))
  }

  /** Send a WebSocket frame to the isolate; false when it waits for ring space (then
   * `frame.written` is told once it is in the ring). */
  sendSocket (frame: SocketOut): boolean {
    frame.ring = this.requests
    return this.backlog.add(frame)
  }

  /** `p` leaves this isolate: answered whole (`answered`), or taken back, aborted, lost. */
  forget (p: Placement, answered: boolean): void {
    if (p.closed) return
    p.closed = true
    // Answered while its body was still coming (a handler that did not read it all): the
    // isolate drops what it holds of the body, and what is still to come is not sent.
    if (answered && p.mode === 'stream' && !p.sent) this.backlog.add(new OutFrame(p, KIND_ABORT, null, false))
    if (p.held > 0) this.collecting -= p.held
    p.parts = null
    this.pending.delete(p.id)
    // The slot is free once its request is claimed or revoked, as it now is (or the isolate is
    // gone and the table with it): the next offer overwrites it. A stream's went back at its head.
    if (p.streaming) this.streams--
    else this.freeSlots.push(p.slot)
    this.discharge(p)
    if (answered) this.answered++
    if (this.pending.size === 0) {
      // Nothing in flight: no rounding left over from the sums.
      this.work = 0
      this.long = 0
      this.notifyIdle()
    }
  }

  /** `p` no longer counts as work here: it is gone, or its handler has returned a stream. A
   * stream lives as long as its client (an SSE one for hours) and costs its isolate only a pull
   * per chunk: charged its route's cost for all that time, a thousand open streams would look
   * like a thousand jobs in flight (long ones, past LONG_MS), and the dispatcher would hold or
   * shed every request after them. */
  private discharge (p: Placement): void {
    if (p.discharged) return
    p.discharged = true
    this.work -= p.request.cost
    if (p.request.cost >= LONG_MS) this.long--
  }

  /**
   * The requests here that have not started move elsewhere (the isolate stalled, or a reload
   * retires it); the rest stay and finish here.
   */
  evacuate (): void {
    for (const p of this.pending.list()) if (!p.closed) p.request.sink.evacuate()
    this.events.space()
  }

  // ── supervision ────────────────────────────────────────────────────────────────────────────

  /**
   * Milliseconds this isolate has been stuck: it has requests in flight, took no new frame from
   * its ring, and its event loop had no idle time since the last call. A busy isolate either
   * drains its ring between handlers or, waiting on I/O, idles; only code that never yields does
   * neither. Called by the supervisor every so often, never per request.
   */
  stuckFor (now: number): number {
    const tail = this.requests.consumed()
    const elu = this.worker.performance.eventLoopUtilization()
    const recent = this.lastElu === undefined ? elu : this.worker.performance.eventLoopUtilization(elu, this.lastElu)
    this.lastElu = elu
    if (this.pending.size === 0 || tail !== this.lastTail || recent.utilization < 0.9) {
      this.lastTail = tail
      this.lastProgress = now
      return 0
    }
    return now - this.lastProgress
  }

  /** Terminate the worker; its requests in flight hear lost() with `reason`. */
  kill (reason: string): void {
    if (this.killReason !== null) return
    this.killReason = reason
    void this.worker.terminate()
  }

  /** kill() was called. */
  get killed (): boolean { return this.killReason !== null }

  /** Resolves once nothing is in flight here (used to retire an isolate after a reload). */
  whenIdle (): Promise<void> {
    if (this.pending.size === 0) return Promise.resolve()
    return new Promise(resolve => { this.idleWaiters.push(resolve) })
  }

  private notifyIdle (): void {
    if (this.pending.size !== 0 || this.idleWaiters.length === 0) return
    for (const resolve of this.idleWaiters.splice(0)) resolve()
  }

  stop (): Promise<void> {
    if (this.exited) return Promise.resolve()
    this.stopping = true
    this.stopAsked = true
    const exited = new Promise<void>(resolve => this.worker.once('exit', () => resolve()))
    this.worker.postMessage({ type: 'stop' } satisfies MainMessage)
    // An isolate whose user code holds handles open (a timer, a socket) would never end on its
    // own; give it a moment, then end it.
    const timer = setTimeout(() => { void this.worker.terminate() }, 2000)
    return exited.finally(() => clearTimeout(timer))
  }

  /** The worker is gone: deliver the answers it finished, then every other placement is lost. */
  private died (reason: IsopoolError): void {
    // Answers already in the response ring are whole: they go out, and those requests are done.
    try {
      this.drainResponses()
    } catch {} // a broken frame: what is left is lost below
    this.backlog.stop()
    for (const p of this.pending.list()) {
      if (p.closed) continue
      p.request.sink.lost(reason)
      this.forget(p, false)
    }
    this.pending.clear()
    this.notifyIdle()
    // Its WebSocket connections are closed (1011 when it died; the others stay up).
    this.sockets?.lost(this, this.stopAsked && this.killReason === null)
  }

  // ── response ring: drain into sinks ────────────────────────────────────────────────────────

  private async serveResponses (): Promise<void> {
    // The worker handle keeps this thread's event loop alive while we wait (waitAsync does not).
    try {
      while (!this.stopping) {
        this.drainResponses()
        // This thread is awake for the rest of this event-loop turn anyway (writing the answers
        // just drained, reading sockets): look again at its end, in the check phase, before
        // announcing the sleep that makes the isolate notify. Answers it writes meanwhile cost it
        // no notify and this thread no wake-up; one setImmediate per wake-up, no polling — the
        // sleep is announced as soon as a look finds nothing.
        await new Promise(setImmediate)
        if (this.stopping) break
        this.drainResponses()
        const wait = this.responses.waitForData()
        if (wait !== null) await wait
      }
    } catch (err) {
      // A malformed frame means this isolate's ring cannot be trusted any more: end the isolate
      // (its requests are lost and it is replaced), never the main thread.
      console.error(`isopool: isolate ${this.index} sent a malformed response frame; stopping it`, err)
      void this.worker.terminate()
    }
  }

  private drainResponses (): void {
    const ring = this.responses
    let pos: number
    let freed = false
    // The isolate, if it waits for space (a download fills the ring), is woken once, after the
    // drain (ring.ts, releaseSpace), not for every frame freed. A frame that throws here ends
    // the isolate (serveResponses), so no wake is owed then.
    let released = false
    while ((pos = ring.peek()) >= 0) {
      const kind = frameKind(ring, pos)
      if (kind === KIND_RES_HEAD) {
        const h = readHead(ring, pos)
        const p = this.pending.get(h.id)
        if (p !== undefined) {
          const end = (h.flags & FLAG_END) !== 0
          p.answering = true
          // What the handler cost the isolate, as it measured it: the route's cost for placement.
          p.request.route.cost.observe(resBusyMicros(h.arg) / 1000)
          if (!end && h.bodyLen === UNKNOWN_LENGTH && !p.streaming) {
            p.streaming = true
            // Its handler has returned: the request is claimed (a RES_HEAD proves it), so its
            // slot is free for another, and it no longer counts against maxInFlight — an isolate
            // may hold thousands of open streams and still take requests.
            this.freeSlots.push(p.slot)
            this.streams++
            this.discharge(p)
            // Work (and maybe a long one's place) came free: requests held for it are placed
            // now, not when some request ends — with only streams in flight, none may.
            freed = true
          }
          // The sink may give the request up (a failed head): forget it here either way.
          try {
            p.request.sink.head(resStatus(h.arg), h.aux, h.text, h.bodyLen, ring.data, h.bodyStart, h.bodyEnd, end)
          } finally {
            if (end) {
              this.forget(p, true)
              freed = true
            }
          }
        }
      } else if (kind === KIND_BODY) {
        const p = this.pending.get(frameId(ring, pos))
        if (p !== undefined) {
          const end = (frameFlags(ring, pos) & FLAG_END) !== 0
          try {
            p.request.sink.body(ring.data, pos + FRAME_HEADER, pos + ring.frameLength, end)
          } finally {
            if (end) {
              this.forget(p, true)
              freed = true
            }
          }
        }
      } else if (kind === KIND_CREDIT) {
        // The isolate took `arg` bytes of a streamed request body: it may have more.
        this.pending.get(frameId(ring, pos))?.credited(frameArg(ring, pos))
      } else if (kind === KIND_ABORT) {
        // A response stream failed in the isolate: its answer cannot complete.
        const p = this.pending.get(frameId(ring, pos))
        if (p !== undefined) {
          try {
            p.request.sink.broken()
          } finally {
            this.forget(p, true)
            freed = true
          }
        }
      } else if ((kind === KIND_WS_MESSAGE || kind === KIND_WS_CLOSE || kind === KIND_WS_TOPIC || kind === KIND_WS_PUBLISH) && this.sockets !== null) {
        this.sockets.frame(this, kind, frameId(ring, pos), frameArg(ring, pos), (frameFlags(ring, pos) & FLAG_END) !== 0, ring.data, pos + FRAME_HEADER, pos + ring.frameLength)
      } else if (kind === KIND_WS_PUBLISH) {
        // No WebSocket routes: a publish() reaches nobody.
      } else {
        throw new IsopoolError('ISOPOOL_ERR_FRAME_INVALID', { reason: `unknown frame kind ${kind} in the response ring` })
      }
      released = ring.releaseSpace() || released
    }
    if (released) ring.wakeProducer()
    if (freed) {
      this.lastActive = performance.now()
      this.events.space()
    }
  }
}
