// The entry point of every isolate: import the handler modules once, tell the main thread we are
// ready, then serve the request ring for the rest of our life.

import { parentPort, workerData } from 'node:worker_threads'
import { ClaimTable } from '../shared/claims.ts'
import { IsopoolError } from '../shared/errors.ts'
import { bodyView, copyOutInto, FLAG_END, FRAME_HEADER, frameFlags, frameId, frameKind, KIND_ABORT, KIND_BODY, KIND_REQ_HEAD, readHead, UNKNOWN_LENGTH } from '../shared/frame.ts'
import { compilePath } from '../shared/path-pattern.ts'
import type { PathPattern } from '../shared/path-pattern.ts'
import type { IsolateInit, IsolateMessage, MainMessage, ManifestRoute } from '../shared/protocol.ts'
import { pollForData, RingConsumer, RingProducer } from '../shared/ring.ts'
import { loadHandlers } from './loader.ts'
import type { Handler } from './loader.ts'
import { DETACH, IsolateRequest } from './request.ts'
import { ResponseWriter } from './respond.ts'

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

const requests = new RingConsumer(init.requestRing)
const responses = new RingProducer(init.responseRing)
// The responses of one drain's handlers (and of the promises they settle right after) reach
// the main thread with one wake-up.
responses.wakeWith(queueMicrotask)
const writer = new ResponseWriter(responses, init.dev)
// Each request is claimed here before it runs (src/shared/claims.ts): one the main thread took
// back meanwhile (it moved to another isolate) is dropped unrun.
const claims = new ClaimTable(init.claims, init.epoch)
/** performance.now() + this = the claim table's clock (claims.ts, busyClock). */
const clockOffset = performance.timeOrigin - init.epoch
const partials = new Map<number, PartialRequest>()
/** Streamed requests whose claim failed: their BODY frames are dropped until the last one. */
const dropped = new Set<number>()
let handlers: Handler[] = []
let names: string[] = []
let manifest: ManifestRoute[] = []
let teardown = async (): Promise<void> => {}
let patterns: PathPattern[] = []
/** Per route, `METHOD /pattern`, for the log line of a handler's error. */
let labels: string[] = []
let running = true

/** Run the handler of `route` on `req`. True when it finished synchronously (returned a value
 * or threw); false when it returned a promise still to settle. */
function run (route: number, id: number, req: IsolateRequest): boolean {
  let value: unknown
  // What the handler keeps this thread from doing anything else, for the main thread's
  // placement (src/main/route-costs.ts): its synchronous part. An async handler's waits cost
  // the isolate nothing; what it computes after them is not counted.
  const start = performance.now()
  // The main thread reads how long this synchronous part has run, to move what waits behind a
  // handler that does not return (src/main/isolate-pool.ts).
  claims.busy(start + clockOffset)
  try {
    value = handlers[route](req)
  } catch (err) {
    claims.idle()
    writer.busy = micros(start)
    writer.error(id, err, where(route, req))
    return true
  }
  claims.idle()
  const busy = micros(start)
  if (value !== null && typeof value === 'object' && typeof (value as PromiseLike<unknown>).then === 'function') {
    (value as PromiseLike<unknown>).then(v => complete(id, v, route, req, busy), err => {
      writer.busy = busy
      writer.error(id, err, where(route, req))
    })
    return false
  }
  complete(id, value, route, req, busy)
  return true
}

const micros = (since: number): number => Math.round((performance.now() - since) * 1000)

/** The request and route a handler's error is logged with: `GET /posts/7?x=1 (route GET
 * /posts/:id, /app/posts.ts#getPost)`. The URL is cut at 1 000 characters. */
function where (route: number, req: IsolateRequest): string {
  const url = req.url.length <= 1000 ? req.url : `${req.url.slice(0, 1000)}…`
  return `${req.method} ${url} (route ${labels[route]}, ${names[route]})`
}

function complete (id: number, value: unknown, route: number, req: IsolateRequest, busy: number): void {
  writer.busy = busy
  // Total: whatever the value, one answer goes out and nothing throws or rejects.
  void writer.result(id, value, names[route], req)
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
        if ((h.flags & FLAG_END) === 0) dropped.add(h.id)
        requests.release()
        continue
      }
      const inline = h.bodyEnd - h.bodyStart
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
      const p = partials.get(id)
      if (p === undefined) {
        if (!dropped.has(id)) throw new IsopoolError('ISOPOOL_ERR_FRAME_INVALID', { reason: `BODY frame for unknown request ${id}` })
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
      partials.delete(frameId(requests, pos))
      dropped.delete(frameId(requests, pos))
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
    // Close the setup() resources, then the port: its listener is what keeps this thread's
    // event loop alive (waitAsync does not), so the isolate ends once user code is done.
    void teardown().finally(() => port.close())
  }
})

try {
  const loaded = await loadHandlers(init.modules, init.routes, init.discover, { dev: init.dev, maxBodyDepth: init.maxBodyDepth })
  ;({ handlers, names, manifest, teardown } = loaded)
  patterns = [...init.routes, ...manifest].map(r => compilePath(r.method, r.path))
  labels = [...init.routes, ...manifest].map(r => `${r.method} ${r.path}`)
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
  post({ type: 'ready', manifest })
  await serve()
}
