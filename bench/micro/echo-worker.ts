// The worker side of bench/micro/ring.ts: echoes every message straight back, over the transport
// it came on.
//
//  (a) rings: drains every frame that is ready per wake-up (as src/isolate/worker.ts does) and
//      writes each message back into the response ring as a RES_HEAD (+ BODY frames). With
//      `inPlace`, a one-frame body is read where it lies and written back from there before its
//      frame is released, as an isolate lends a one-frame body to a synchronous handler that
//      decodes it (req.text(), req.json()) and answers. Without, it is first copied into a fresh
//      Uint8Array, as `req.body` is. The head text is a JS string either way.
//  (b) MessagePort: posts back whatever arrived. For a Uint8Array that is a structured clone (not
//      a transfer), exactly what a server sending bytes out of a pooled buffer has to do.

import { workerData } from 'node:worker_threads'
import type { MessagePort } from 'node:worker_threads'
import { CT_OCTET, KIND_RES_HEAD } from '../../src/shared/frame.ts'
import { pollForData, RingConsumer, RingProducer } from '../../src/shared/ring.ts'
import { MessageReader, sendMessage, WakeupGuard } from './ring-messages.ts'

export interface EchoInit {
  requestRing: SharedArrayBuffer
  responseRing: SharedArrayBuffer
  /** The MessagePort end for (b): a dedicated channel, as a pool would have per worker. */
  port: MessagePort
  /** Int32 [0]: lost wake-ups rescued on the main side, [1]: on this side (see WakeupGuard). */
  lostWakeups: SharedArrayBuffer
  /** µs to keep looking for requests after running dry before sleeping, as an isolate's `poll`. */
  poll: number
  /** Read one-frame bodies in place (see above) rather than copying them out first. */
  inPlace: boolean
}

const init = workerData as EchoInit

// ── (b) MessagePort echo ───────────────────────────────────────────────────────────────────────
// The port's listener is also what keeps this thread's event loop alive: Atomics.waitAsync does
// not, so without it the worker would exit while the ring loop below waits.
init.port.on('message', (msg: unknown) => init.port.postMessage(msg))

// ── (a) ring echo ──────────────────────────────────────────────────────────────────────────────
const requests = new RingConsumer(init.requestRing)
const responses = new RingProducer(init.responseRing)
// As an isolate does: the replies of one drain wake the main thread once.
responses.wakeWith(queueMicrotask)
const reader = new MessageReader(init.inPlace ? 'lend' : 'copy')
const guard = new WakeupGuard(requests, new Int32Array(init.lostWakeups, 4, 1))

/** Answer every message that is complete now. */
function drain (): void {
  let pos: number
  while ((pos = requests.peek()) >= 0) {
    const msg = reader.read(requests, pos)
    // A lent body is answered before its frame goes back.
    if (msg !== null) sendMessage(responses, KIND_RES_HEAD, msg.id, 200, CT_OCTET, msg.text, msg.body)
    requests.release()
  }
}

// One wake-up drains everything that is ready; waitForData() returns null (no promise, no tick)
// when more arrived meanwhile. Runs until the main thread terminates us.
for (;;) {
  drain()
  // As src/isolate/worker.ts: with a poll budget, look for more between event-loop turns first.
  if (init.poll > 0 && !requests.hasData() && await pollForData(requests, init.poll)) continue
  const wait = requests.waitForData()
  if (wait !== null) {
    guard.asleep()
    await wait
    guard.awake()
  }
}
