// The main thread's side of one isolate: its worker, its two rings, the requests it has in
// flight, the frames waiting for ring space, and the loop that drains its responses into sockets.

import { Worker } from 'node:worker_threads'
import type { EventLoopUtilization } from 'node:perf_hooks'
import type { Http1Response } from './http1.ts'
import { IsopoolError } from '../shared/errors.ts'
import {
  bodyView, CONTENT_TYPES, copyOut, FLAG_END, FRAME_HEADER, frameFlags, frameId, frameKind, KIND_ABORT, KIND_BODY, KIND_REQ_HEAD,
  KIND_RES_HEAD, HEAD_PREFIX, readHead, resBusyMicros, resStatus, UNKNOWN_LENGTH, writeBody, writeHead, writeWholeHead
} from '../shared/frame.ts'
import type { IsolateInit, IsolateMessage, MainMessage, ManifestRoute, RouteSpec } from '../shared/protocol.ts'
import { createRingBuffer, RingConsumer, RingProducer } from '../shared/ring.ts'
import { sendError } from './exchange.ts'
import type { ResourceLimits } from './options.ts'
import { LONG_MS } from './route-costs.ts'
import type { RouteCosts } from './route-costs.ts'
import type { Exchange } from './exchange.ts'

const WORKER_URL = new URL('../isolate/worker.ts', import.meta.url)

/** A frame that did not fit in the request ring yet. */
interface Outgoing {
  ex: Exchange
  kind: number
  chunk: Uint8Array | null
  offset: number
  final: boolean
}

export interface IsolateEvents {
  /** An exchange got its whole answer (or was given up): it no longer counts as in flight. */
  complete (ex: Exchange): void
  /** Ring space or an in-flight slot came free: queued requests may be placed now. */
  space (): void
  /** The worker stopped without being asked to. */
  exit (handle: IsolateHandle, code: number): void
}

export interface IsolateConfig {
  modules: string[]
  routes: RouteSpec[]
  discover: string[]
  ringSize: number
  dev: boolean
  poll: number
  maxBodyDepth: number
  resourceLimits: ResourceLimits | undefined
  /** The server's, shared by every isolate: what each route's requests cost (route-costs.ts). */
  costs: RouteCosts
}

export class IsolateHandle {
  readonly index: number
  readonly worker: Worker
  readonly requests: RingProducer
  readonly responses: RingConsumer
  /** Requests placed here and not yet completed. */
  readonly pending = new Map<number, Exchange>()
  private backlog: Outgoing[] = []
  private flushing = false
  /** Body bytes of the requests adopted here whose head is not in the ring yet (adopt()); at
   * most what the request ring holds. Past that, bodies stream. */
  private collecting = 0
  private nextId = 1
  private stopping = false
  private exited = false
  private readonly events: IsolateEvents
  private readonly costs: RouteCosts
  /** Expected ms of work in flight here: the route costs of the requests in flight (placement). */
  work = 0
  /** Requests in flight here expected to take LONG_MS or more (route-costs.ts). */
  long = 0

  private constructor (index: number, config: IsolateConfig, events: IsolateEvents) {
    this.index = index
    this.events = events
    this.costs = config.costs
    const requestRing = createRingBuffer(config.ringSize)
    const responseRing = createRingBuffer(config.ringSize)
    this.requests = new RingProducer(requestRing)
    // Requests parsed in one event-loop turn (the HTTP layer parses every readable socket before
    // setImmediate callbacks run) reach the isolate with one wake-up.
    this.requests.wakeWith(setImmediate)
    this.responses = new RingConsumer(responseRing)
    const init: IsolateInit = { index, requestRing, responseRing, modules: config.modules, routes: config.routes, discover: config.discover, dev: config.dev, poll: config.poll, maxBodyDepth: config.maxBodyDepth }
    this.worker = new Worker(WORKER_URL, {
      workerData: init,
      name: `isopool isolate ${index}`,
      ...(config.resourceLimits === undefined ? {} : { resourceLimits: config.resourceLimits })
    })
    this.lastProgress = Date.now()
  }

  /** The server's reload generation this isolate belongs to. */
  generation = 0
  /** The route() declarations this isolate found, as it reported them when ready. */
  manifest: ManifestRoute[] = []
  private lastProgress: number
  private lastTail = 0
  private lastElu: EventLoopUtilization | undefined
  private killReason: string | null = null
  /** Set by the supervisor while the isolate looks stuck: new requests go elsewhere. */
  suspect = false

  /**
   * Milliseconds this isolate has been stuck: it has requests in flight, took no new frame from
   * its ring, and its event loop had no idle time since the last call. A busy isolate either
   * drains its ring between handlers or, waiting on I/O, idles; only synchronous code that never
   * returns does neither. Called by the supervisor every so often, never per request.
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

  /** Terminate the worker; its requests in flight are answered 502 with `reason`. */
  kill (reason: string): void {
    this.killReason = reason
    void this.worker.terminate()
  }

  /** Answer every request in flight here that has no answer yet (the isolate's late answers
   * are then dropped). */
  answerAll (err: IsopoolError): void {
    for (const ex of this.pending.values()) {
      if (ex.done) continue
      // A response already under way cannot change its status: end the connection instead.
      if (ex.streaming) ex.res.destroy()
      else sendError(ex.res, err)
      // A client still uploading gets its answer and keeps its connection: the HTTP layer reads
      // and drops the rest of the body (closing instead can reset the answer away).
      if (!ex.sent) ex.req.resume()
      this.collected(ex)
      this.events.complete(ex)
    }
  }

  /** Start an isolate and resolve once it has imported every module, or reject with why not. */
  static start (index: number, config: IsolateConfig, events: IsolateEvents): Promise<IsolateHandle> {
    const handle = new IsolateHandle(index, config, events)
    const worker = handle.worker
    return new Promise((resolve, reject) => {
      let settled = false
      let failure: IsopoolError | null = null
      const onMessage = (msg: IsolateMessage): void => {
        if (msg.type === 'ready') {
          handle.manifest = msg.manifest
          settled = true
          worker.off('message', onMessage)
          worker.off('error', onError)
          worker.on('error', (err) => { console.error(`isopool: isolate ${index} failed:`, err) })
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
        } else {
          handle.failAll(new IsopoolError('ISOPOOL_ERR_ISOLATE_EXITED', { reason: handle.killReason ?? `exit code ${code}` }))
          events.exit(handle, code)
        }
      })
    })
  }

  get inFlight (): number { return this.pending.size }

  /** True when new requests should not be placed here now. */
  get congested (): boolean { return this.backlog.length > 0 || this.stopping || this.suspect }

  /**
   * Place a request's HEAD frame, with as much of `body` as fits when it is the whole body.
   * False when the ring has no room for the HEAD now; nothing is written then.
   */
  place (ex: Exchange, body: Uint8Array | null, final: boolean): boolean {
    const id = this.nextId
    const n = writeHead(this.requests, KIND_REQ_HEAD, id, ex.route, 0, ex.text, ex.bodyLen, body, 0, final)
    if (n < 0) return false
    this.take(ex, id)
    if (body !== null && n < body.byteLength) this.enqueue({ ex, kind: KIND_BODY, chunk: body, offset: n, final })
    else if (final) ex.sent = true
    return true
  }

  /**
   * Take a request whose body, of a known length that fits one frame with its head, is still to
   * come: its HEAD frame is written once the whole body is here (complete()), in one piece. The
   * isolate can then lend the body to the handler where it lies in the ring instead of
   * assembling a copy (src/isolate/request.ts). The socket chunks are held meanwhile, no more
   * than the ring's size for all of this isolate's requests at once. False when the request
   * does not qualify; place() it instead.
   */
  adopt (ex: Exchange): boolean {
    const len = ex.bodyLen
    if (len === 0 || len === UNKNOWN_LENGTH || HEAD_PREFIX + ex.text.length + len > this.requests.maxFrame) return false
    if (this.collecting + len > this.requests.capacity) return false
    this.collecting += len
    ex.parts = []
    this.take(ex, this.nextId)
    return true
  }

  /** The whole body of an adopted request is in ex.parts: send its one frame. */
  complete (ex: Exchange): void {
    this.enqueue({ ex, kind: KIND_REQ_HEAD, chunk: null, offset: 0, final: true })
  }

  /** `ex` is in flight here under `id`. */
  private take (ex: Exchange, id: number): void {
    // Idle until now, so not stuck until now (stuckFor): its ring's tail moves only once it is
    // done with a frame, which for a stuck handler's own frame is never.
    if (this.pending.size === 0) this.lastProgress = Date.now()
    this.nextId = (id + 1) >>> 0 || 1
    ex.isolate = this
    ex.id = id
    // ex.cost was set by the server from the route's cost when it chose this isolate.
    this.work += ex.cost
    if (ex.cost >= LONG_MS) this.long++
    this.pending.set(id, ex)
  }

  /** An adopted request's body is no longer held here: in the ring, or given up. */
  private collected (ex: Exchange): void {
    if (ex.parts === null) return
    ex.parts = null
    this.collecting -= ex.bodyLen
  }

  /** Send a chunk of a placed request's body. False when it had to wait for ring space; the
   * request stream is paused until it is written. */
  sendBody (ex: Exchange, chunk: Uint8Array | null, final: boolean): boolean {
    return this.enqueue({ ex, kind: KIND_BODY, chunk, offset: 0, final })
  }

  /** Tell the isolate to drop a request whose body will never complete, and forget it. */
  abort (ex: Exchange): void {
    // An adopted request the isolate has not seen needs no ABORT: its head never goes out.
    if (ex.parts !== null) this.collected(ex)
    else this.enqueue({ ex, kind: KIND_ABORT, chunk: null, offset: 0, final: false })
    this.finish(ex)
  }

  /** Resolves once nothing is in flight here (used to retire an isolate after a reload). */
  whenIdle (): Promise<void> {
    if (this.pending.size === 0) return Promise.resolve()
    return new Promise(resolve => { this.idleWaiters.push(resolve) })
  }

  private idleWaiters: (() => void)[] = []

  private notifyIdle (): void {
    if (this.pending.size !== 0 || this.idleWaiters.length === 0) return
    for (const resolve of this.idleWaiters.splice(0)) resolve()
  }

  stop (): Promise<void> {
    if (this.exited) return Promise.resolve()
    this.stopping = true
    const exited = new Promise<void>(resolve => this.worker.once('exit', () => resolve()))
    this.worker.postMessage({ type: 'stop' } satisfies MainMessage)
    // An isolate whose user code holds handles open (a timer, a socket) would never end on its
    // own; give it a moment, then end it.
    const timer = setTimeout(() => { void this.worker.terminate() }, 2000)
    return exited.finally(() => clearTimeout(timer))
  }

  /** Answer every request in flight here with `err` and forget them; the worker is gone. */
  private failAll (err: IsopoolError): void {
    this.backlog = []
    this.answerAll(err)
    this.pending.clear()
    this.notifyIdle()
  }

  // ── request ring: ordered writes with backpressure ─────────────────────────────────────────

  private enqueue (out: Outgoing): boolean {
    if (this.backlog.length === 0 && this.write(out)) return true
    this.backlog.push(out)
    // Stop reading the socket until this chunk is in the ring (flush resumes it). Pausing here,
    // before flush() runs, matters: flush may write it at once and resume synchronously.
    if (out.kind === KIND_BODY) out.ex.req.pause()
    if (!this.flushing) void this.flush()
    return false
  }

  private write (out: Outgoing): boolean {
    const ring = this.requests
    const ex = out.ex
    if (out.kind === KIND_ABORT) return writeBody(ring, KIND_ABORT, ex.id, null, 0, false) >= 0
    if (out.kind === KIND_REQ_HEAD) {
      if (ex.parts === null) return true // given up while it waited for room: nothing to send
      if (!writeWholeHead(ring, KIND_REQ_HEAD, ex.id, ex.route, 0, ex.text, ex.parts, ex.bodyLen)) return false
      this.collected(ex)
      ex.sent = true
      return true
    }
    const len = out.chunk === null ? 0 : out.chunk.byteLength
    do {
      const n = writeBody(ring, KIND_BODY, out.ex.id, out.chunk, out.offset, out.final)
      if (n < 0) return false
      out.offset += n
    } while (out.offset < len)
    if (out.final) out.ex.sent = true
    return true
  }

  private async flush (): Promise<void> {
    this.flushing = true
    try {
      while (this.backlog.length > 0 && !this.stopping) {
        const out = this.backlog[0]
        // A request that was given up meanwhile needs no more body frames; its ABORT still goes.
        if (out.kind === KIND_ABORT || !out.ex.done || this.pending.has(out.ex.id)) {
          if (!this.write(out)) {
            await this.requests.waitForSpace()
            continue
          }
        }
        this.backlog.shift()
        if (out.kind === KIND_BODY && !out.ex.done) out.ex.req.resume()
      }
    } finally {
      this.flushing = false
    }
    this.events.space()
  }

  // ── response ring: drain into sockets ──────────────────────────────────────────────────────

  private async serveResponses (): Promise<void> {
    // The worker handle keeps this thread's event loop alive while we wait (waitAsync does not).
    try {
      while (!this.stopping) {
        this.drainResponses()
        const wait = this.responses.waitForData()
        if (wait !== null) await wait
      }
    } catch (err) {
      // A malformed frame means this isolate's ring cannot be trusted any more: end the isolate
      // (its requests get 502 and it is replaced), never the main thread.
      console.error(`isopool: isolate ${this.index} sent a malformed response frame; stopping it`, err)
      void this.worker.terminate()
    }
  }

  private drainResponses (): void {
    const ring = this.responses
    let pos: number
    let freed = false
    while ((pos = ring.peek()) >= 0) {
      const kind = frameKind(ring, pos)
      if (kind === KIND_RES_HEAD) {
        const h = readHead(ring, pos)
        const ex = this.pending.get(h.id)
        if (ex !== undefined) {
          const end = (h.flags & FLAG_END) !== 0
          // What the handler cost the isolate, as it measured it: the route's cost for placement.
          this.costs.observe(ex.route, resBusyMicros(h.arg) / 1000)
          const ok = writeResponseHead(ex.res, resStatus(h.arg), h.aux, h.text, h.bodyLen)
          if (end) {
            // Head and body leave in one socket write, copied once out of the ring.
            if (ok) ex.res.endFrom(ring.data, h.bodyStart, h.bodyEnd)
            this.answer(ex)
            freed = true
          } else {
            ex.streaming = true
            if (ok && h.bodyEnd > h.bodyStart) ex.res.write(copyOut(ring.data, h.bodyStart, h.bodyEnd))
          }
        }
      } else if (kind === KIND_BODY) {
        const ex = this.pending.get(frameId(ring, pos))
        if (ex !== undefined) {
          const chunk = bodyView(ring, pos)
          const open = !ex.res.writableEnded && !ex.res.destroyed
          if (open && chunk.byteLength > 0) ex.res.write(copyOut(ring.data, pos + FRAME_HEADER, pos + ring.frameLength))
          if ((frameFlags(ring, pos) & FLAG_END) !== 0) {
            if (open) ex.res.end()
            this.answer(ex)
            freed = true
          }
        }
      } else {
        throw new IsopoolError('ISOPOOL_ERR_FRAME_INVALID', { reason: `unknown frame kind ${kind} in the response ring` })
      }
      ring.release()
    }
    if (freed) this.events.space()
  }

  /** Requests this isolate answered (a replacement that dies before answering any is in a crash loop). */
  answered = 0

  /** The isolate gave `ex` its whole answer. */
  private answer (ex: Exchange): void {
    this.answered++
    this.finish(ex)
  }

  private finish (ex: Exchange): void {
    this.work -= ex.cost
    if (ex.cost >= LONG_MS) this.long--
    this.pending.delete(ex.id)
    this.events.complete(ex)
    if (this.pending.size === 0) {
      // Nothing in flight: no rounding left over from the sums.
      this.work = 0
      this.long = 0
      this.notifyIdle()
    }
  }
}

/** Write status and headers; false when the body must not be written (client gone, or a 500 was
 * sent instead because the status or a header is not valid HTTP). */
function writeResponseHead (res: Http1Response, status: number, ct: number, text: string, bodyLen: number): boolean {
  if (res.destroyed || res.writableEnded) return false
  const headers: string[] = []
  const type = CONTENT_TYPES[ct]
  if (type !== undefined) headers.push('content-type', type)
  if (text.length > 0) {
    const parts = text.split('\0')
    for (let i = 0; i + 1 < parts.length; i += 2) headers.push(parts[i], parts[i + 1])
  }
  // 204 and 304 carry no body and no length (RFC 9110 §8.6).
  if (status !== 204 && status !== 304) headers.push('content-length', String(bodyLen))
  try {
    res.writeHead(status, headers)
    return true
  } catch (err) {
    sendError(res, err instanceof IsopoolError ? err : new IsopoolError('ISOPOOL_ERR_RESPONSE_INVALID', { reason: (err as Error).message }))
    return false
  }
}
