// The entry point of every isolate: import the handler modules once, tell the main thread we are
// ready, then serve the request ring for the rest of our life.

import { parentPort, workerData } from 'node:worker_threads'
import { ClaimTable } from '../shared/claims.ts'
import { IsopoolError } from '../shared/errors.ts'
import {
  bodyView, copyOut, copyOutInto, FLAG_END, FRAME_HEADER, frameArg, frameFlags, frameId, frameKind, KIND_ABORT, KIND_BODY, KIND_CREDIT, KIND_REQ_HEAD, readHead,
  UNKNOWN_LENGTH, KIND_WS_CLOSE, KIND_WS_DRAIN, KIND_WS_MESSAGE, KIND_WS_OPEN
} from '../shared/frame.ts'
import { compilePath } from '../shared/path-pattern.ts'
import type { PathPattern } from '../shared/path-pattern.ts'
import { streamsBody } from '../shared/protocol.ts'
import type { IsolateInit, IsolateMessage, MainMessage, ManifestRoute, ManifestSocket } from '../shared/protocol.ts'
import { pollForData, RingConsumer, RingProducer } from '../shared/ring.ts'
import { loadHandlers } from './loader.ts'
import type { Handler } from './loader.ts'
import { LATER } from './middleware.ts'
import type { Chain, ChainHooks } from './middleware.ts'
import { LogSink, setLogSink } from './log.ts'
import type { HandlerContext } from './log.ts'
import { takeMetricDeltas } from './metrics.ts'
import { ABORT, DETACH, IsolateRequest, SETTLE } from './request.ts'
import { BodyStream } from './body-stream.ts'
import { IdTable } from '../shared/id-table.ts'
import { ResponseWriter } from './respond.ts'
import { discoverSockets, startSockets } from './websocket.ts'
import type { Sockets } from './websocket.ts'

/** A request whose body is still arriving in BODY frames. */
interface PartialRequest {
  route: number
  text: string
  /** Preallocated when the length is known, else grown as chunks arrive. */
  body: Uint8Array
  received: number
}

const init = workerData as IsolateInit
const port = parentPort!
const post = (msg: IsolateMessage): void => port.postMessage(msg)
// req.log and handler errors go to the main thread's logger when it has one (the logger option).
if (init.log !== null) setLogSink(new LogSink(init.log.level, post))

const requests = new RingConsumer(init.requestRing)
const responses = new RingProducer(init.responseRing)
// The responses of one drain's handlers (and of the promises they settle right after) reach
// the main thread with one wake-up.
responses.wakeWith(queueMicrotask)
const writer = new ResponseWriter(responses, init.dev, init.compression)
// Each request is claimed here before it runs (src/shared/claims.ts): one the main thread took
// back meanwhile (it moved to another isolate) is dropped unrun.
const claims = new ClaimTable(init.claims, init.epoch)
/** performance.now() + this = the claim table's clock (claims.ts, busyClock). */
const clockOffset = performance.timeOrigin - init.epoch
const partials = new IdTable<PartialRequest>()
/** Bodies of streaming routes still arriving, by request id: their handlers run already. */
const bodyStreams = new IdTable<BodyStream>()
/** Streamed requests whose claim failed: their BODY frames are dropped until the last one. */
const dropped = new IdTable<true>()
/** Requests whose answer is not all sent yet when their handler's synchronous part ends (a
 * pending handler, a response stream): an ABORT frame reaches them here (req.signal). Not a
 * Map: its keys come and go with every request (shared/id-table.ts says why). */
const inflight = new IdTable<IsolateRequest>()

function untrack (id: number, req: IsolateRequest): void {
  if (inflight.get(id) === req) inflight.delete(id)
  req[SETTLE]()
}
let handlers: Handler[] = []
let names: string[] = []
let manifest: ManifestRoute[] = []
/** The websocket() declarations found in the `modules`, for the main thread. */
let socketManifest: ManifestSocket[] = []
let teardown = async (): Promise<void> => {}
let patterns: PathPattern[] = []
/** Per route, `METHOD /pattern`, for the log line of a handler's error. */
let labels: string[] = []
/** Per route, whether its answers may be compressed: the compression option is on and the route
 * did not say `compression: false`. */
let compressible: boolean[] = []
/** Per route: its body streams under credit (its maxBodySize is above the server's, streamsBody)
 * and its handler runs at the head, reading the body as it arrives (req.stream()). */
let bodyStreamed: boolean[] = []
let running = true
/** The WebSocket connections pinned here (src/isolate/websocket.ts). */
let sockets: Sockets | null = null

/** Run the handler of `route` on `req`. True when it finished synchronously (returned a value
 * or threw); false when it returned a promise still to settle. */
function run (route: number, id: number, req: IsolateRequest): boolean {
  let value: unknown
  let busy = 0
  // What the handler keeps this thread from doing anything else, for the main thread's
  // placement (src/main/route-costs.ts): its synchronous part. An async handler's waits cost
  // the isolate nothing; what it computes after them is not counted.
  const start = performance.now()
  // The main thread reads how long this synchronous part has run, to move what waits behind a
  // handler that does not return (src/main/isolate-pool.ts).
  claims.busy(start + clockOffset)
  try {
    // A chain hands an answer that comes later straight to complete() (middleware.ts, Chain):
    // no promise of this thread's on it. Called back only after this function has returned.
    value = chains[route]
      ? (handlers[route] as unknown as Chain)(req, res => { complete(id, res, route, req, busy + (lateBusy.get(req) ?? 0)) })
      : handlers[route](req)
  } catch (err) {
    claims.idle()
    writer.busy = micros(start)
    writer.compressing = compressible[route] ? req : null
    writer.error(id, err, where(route, req))
    return true
  }
  claims.idle()
  busy = micros(start)
  if (value === LATER) {
    inflight.set(id, req)
    return false
  }
  if (value !== null && typeof value === 'object' && typeof (value as PromiseLike<unknown>).then === 'function') {
    inflight.set(id, req)
    ;(value as PromiseLike<unknown>).then(v => complete(id, v, route, req, chained ? busy + (lateBusy.get(req) ?? 0) : busy), err => {
      writer.busy = busy
      writer.compressing = compressible[route] ? req : null
      writer.error(id, err, where(route, req))
      untrack(id, req)
    })
    return false
  }
  complete(id, value, route, req, busy)
  return true
}

const micros = (since: number): number => Math.round((performance.now() - since) * 1000)

/** Some route runs middleware (src/isolate/middleware.ts). */
let chained = false
/** Per route, whether its handler is a composed chain (a Chain). */
let chains: boolean[] = []
/** Per request, the µs its handler ran after run() had returned: called by a middleware that
 * awaited something first. */
const lateBusy = new WeakMap<IsolateRequest, number>()

/** What the middleware chains ask of this worker. */
const chainHooks: ChainHooks = {
  // The handler's synchronous part is busy time wherever it runs: within run()'s (a middleware
  // called next() before its first await) it is counted there; later, it is timed here, shown
  // to the supervisor like run()'s, and added to what the request reports.
  call: (_route, handler, req) => claims.running ? handler(req) : runLate(handler, req),
  toResponse: (route, outcome, threw, req, by) => {
    // A value is answered without a log context (one that cannot be sent is logged, naming its
    // handler); a throw, with the request, its route and who threw.
    if (!threw) return writer.toResponse(outcome, false, names[route], req)
    const context = where(route, req)
    if (by !== undefined) context.handler = by
    return writer.toResponse(outcome, true, names[route], req, context)
  }
}

function runLate (handler: (req: IsolateRequest) => unknown, req: IsolateRequest): unknown {
  const start = performance.now()
  claims.busy(start + clockOffset)
  try {
    return handler(req)
  } finally {
    claims.idle()
    lateBusy.set(req, (lateBusy.get(req) ?? 0) + micros(start))
  }
}

/** The request and route a handler's error is logged with (src/isolate/log.ts): made only when
 * one is. */
function where (route: number, req: IsolateRequest): HandlerContext {
  return { method: req.method, url: req.url, route: labels[route], handler: names[route], id: req.id }
}

function complete (id: number, value: unknown, route: number, req: IsolateRequest, busy: number): void {
  writer.busy = busy
  writer.compressing = compressible[route] ? req : null
  // Total: whatever the value, one answer goes out and nothing throws or rejects.
  const sending = writer.result(id, value, names[route], req)
  if (sending === undefined) {
    untrack(id, req)
    return
  }
  inflight.set(id, req)
  void sending.finally(() => untrack(id, req))
}

/** Handle every frame that is ready; runs handlers as their requests complete. */
function drain (): void {
  let pos: number
  while ((pos = requests.peek()) >= 0) {
    const kind = frameKind(requests, pos)
    if (kind === KIND_REQ_HEAD) {
      const h = readHead(requests, pos)
      if (h.arg >= handlers.length) throw new IsopoolError('ISOPOOL_ERR_FRAME_INVALID', { reason: `route index ${h.arg} out of range` })
      if (h.aux >= claims.size) throw new IsopoolError('ISOPOOL_ERR_FRAME_INVALID', { reason: `claim slot ${h.aux} out of range` })
      // Claimed before anything is done with it: a streamed request when its assembly starts
      // (only this isolate will hold its body), a whole one right before its handler runs.
      if (!claims.claim(h.aux, h.id)) {
        if ((h.flags & FLAG_END) === 0) dropped.set(h.id, true)
        requests.release()
        continue
      }
      const inline = h.bodyEnd - h.bodyStart
      if (bodyStreamed[h.arg]) {
        // A streaming route: the handler starts now; the chunks reach it as they come. (One with
        // no body, or one whole in this frame, reads it the same way.)
        const id = h.id
        const stream = new BodyStream(n => writer.grant(id, n))
        if (inline > 0) stream.push(copyOut(requests.data, h.bodyStart, h.bodyEnd, true))
        if ((h.flags & FLAG_END) !== 0) stream.end()
        else bodyStreams.set(id, stream)
        requests.release()
        run(h.arg, id, new IsolateRequest(h.text, patterns[h.arg], null, false, stream))
        continue
      }
      if ((h.flags & FLAG_END) !== 0) {
        // The whole request is here. Its body is lent to the handler where it lies (see
        // src/isolate/request.ts); the frame is released once the handler's synchronous part is
        // over, after the request has copied what it still needs. The next frame waits for
        // that anyway: this thread runs one handler at a time.
        const body = inline === 0 ? null : requests.data.subarray(h.bodyStart, h.bodyEnd)
        const req = new IsolateRequest(h.text, patterns[h.arg], body, true)
        let done = false
        try {
          done = run(h.arg, h.id, req)
        } finally {
          req[DETACH](done)
          requests.release()
        }
        continue
      }
      const body = new Uint8Array(h.bodyLen === UNKNOWN_LENGTH ? Math.max(inline, 16384) : h.bodyLen)
      copyOutInto(requests.data, h.bodyStart, h.bodyEnd, body, 0)
      partials.set(h.id, { route: h.arg, text: h.text, body, received: inline })
    } else if (kind === KIND_BODY) {
      const id = frameId(requests, pos)
      const stream = bodyStreams.get(id)
      if (stream !== undefined) {
        // Its own copy: the frame is released right after, and the handler may keep the chunk.
        bodyView(requests, pos) // checks the frame's length
        stream.push(copyOut(requests.data, pos + FRAME_HEADER, pos + requests.frameLength, true))
        if ((frameFlags(requests, pos) & FLAG_END) !== 0) {
          bodyStreams.delete(id)
          stream.end()
        }
        requests.release()
        continue
      }
      const p = partials.get(id)
      if (p === undefined) {
        if (dropped.get(id) === undefined) throw new IsopoolError('ISOPOOL_ERR_FRAME_INVALID', { reason: `BODY frame for unknown request ${id}` })
        if ((frameFlags(requests, pos) & FLAG_END) !== 0) dropped.delete(id)
        requests.release()
        continue
      }
      const chunk = bodyView(requests, pos)
      const need = p.received + chunk.byteLength
      if (need > p.body.byteLength) {
        const grown = new Uint8Array(Math.max(need, p.body.byteLength * 2))
        grown.set(p.body.subarray(0, p.received))
        p.body = grown
      }
      copyOutInto(requests.data, pos + FRAME_HEADER, pos + requests.frameLength, p.body, p.received)
      p.received = need
      if ((frameFlags(requests, pos) & FLAG_END) !== 0) {
        partials.delete(id)
        requests.release()
        run(p.route, id, new IsolateRequest(p.text, patterns[p.route], p.body.subarray(0, p.received)))
        continue
      }
    } else if (kind === KIND_ABORT) {
      const id = frameId(requests, pos)
      partials.delete(id)
      dropped.delete(id)
      // A body still streaming in: its reader gets ISOPOOL_ERR_BODY_ABORTED.
      bodyStreams.get(id)?.abort()
      bodyStreams.delete(id)
      // Given up while it runs or streams: req.signal fires, a response stream is cancelled.
      inflight.get(id)?.[ABORT]()
    } else if (kind === KIND_CREDIT) {
      writer.credit(frameId(requests, pos), frameArg(requests, pos))
    } else if (kind === KIND_WS_MESSAGE) {
      sockets!.received(frameId(requests, pos), frameArg(requests, pos) === 1, bodyView(requests, pos), (frameFlags(requests, pos) & FLAG_END) !== 0)
    } else if (kind === KIND_WS_OPEN) {
      const h = readHead(requests, pos)
      sockets!.open(h.id, h.arg, h.text)
    } else if (kind === KIND_WS_CLOSE) {
      sockets!.closed(frameId(requests, pos), frameArg(requests, pos), Buffer.from(bodyView(requests, pos)).toString('utf8'))
    } else if (kind === KIND_WS_DRAIN) {
      sockets!.pressure(frameId(requests, pos), frameArg(requests, pos) === 1)
    } else {
      throw new IsopoolError('ISOPOOL_ERR_FRAME_INVALID', { reason: `unknown frame kind ${kind} in the request ring` })
    }
    requests.release()
  }
}

async function serve (): Promise<void> {
  while (running) {
    drain()
    // Ran dry: keep looking for init.poll µs (between turns of this event loop, so handlers
    // awaiting I/O go on) before sleeping; a request that comes meanwhile costs no wake-up.
    if (init.poll > 0 && !requests.hasData() && await pollForData(requests, init.poll)) continue
    const wait = requests.waitForData()
    if (wait !== null) await wait
  }
}

port.on('message', (msg: MainMessage) => {
  if (msg.type === 'stop') {
    running = false
    requests.interrupt()
    // Shutting down: what still runs or streams is given up (its stream's finally runs).
    for (const req of inflight.list()) req[ABORT]()
    for (const stream of bodyStreams.list()) stream.abort()
    // Close the setup() resources, then the port: its listener is what keeps this thread's
    // event loop alive (waitAsync does not), so the isolate ends once user code is done.
    void teardown().finally(() => port.close())
  } else if (msg.type === 'metrics') {
    // A scrape (src/main/metrics.ts): this thread's CPU time and the handler metrics' deltas,
    // which restart from zero.
    post({ type: 'metrics', id: msg.id, metrics: { cpu: process.threadCpuUsage(), handler: takeMetricDeltas() } })
  }
})

try {
  const loaded = await loadHandlers(init.modules, init.routes, init.discover, { dev: init.dev, maxBodyDepth: init.maxBodyDepth }, { global: init.middleware, hooks: chainHooks })
  ;({ handlers, names, manifest, teardown, chained, chains } = loaded)
  patterns = [...init.routes, ...manifest].map(r => compilePath(r.method, r.path))
  labels = [...init.routes, ...manifest].map(r => `${r.method} ${r.path}`)
  compressible = [...init.routes, ...manifest].map(r => init.compression !== null && r.compression !== false)
  bodyStreamed = [...init.routes.map(r => r.streamBody === true), ...manifest.map(m => streamsBody(m.maxBodySize, init.maxBodySize))]
  const declaredSockets = await discoverSockets(init.discover)
  socketManifest = declaredSockets.map(d => d.spec)
  sockets = await startSockets(responses, init.websockets, { busy: () => claims.busy(performance.now() + clockOffset), idle: () => claims.idle() }, declaredSockets)
} catch (err) {
  const wire = err instanceof IsopoolError
    ? err.toWire()
    : { code: 'ISOPOOL_ERR_ISOLATE_START', message: `Isolate ${init.index} could not start: ${(err as Error)?.message ?? String(err)}` }
  // The main thread terminates every isolate when one fails; nothing more to do here.
  post({ type: 'error', error: wire })
  port.close()
  running = false
}
if (running) {
  post({ type: 'ready', manifest, sockets: socketManifest })
  await serve()
}
