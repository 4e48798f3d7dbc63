// When the main thread acknowledges a response stream's bytes to its isolate (CREDIT, frame.ts).
//
// Acknowledging every BODY frame the socket took costs a CREDIT frame per frame: for an SSE
// stream of small events, one frame back for every event out, half of all the frames crossing.
// The isolate only needs credit to make progress, and it is only ever stopped by the window: it
// pulls while its unacknowledged bytes (sent − credited) are below STREAM_WINDOW. So the main
// thread holds what the socket took ("ready") and sends it in one CREDIT once the bytes it has
// received and not credited reach half the window:
//
//   credit now  ⇔  ready > 0  and  received − credited ≥ STREAM_WINDOW / 2
//
// Why a producer blocked at the full window is never left waiting. It blocks only when
// sent − credited ≥ W. Every byte it sent is in the response ring or its backlog, and the main
// thread drains those whatever the client does, so eventually received = sent, and then
// received − credited ≥ W ≥ W / 2 for as long as nothing is credited. From then on each byte is
// either ready (the socket took it) or owed (it waits for the socket's 'drain'), and both paths
// end in a check of the rule: took() on arrival, drained() on 'drain'. The first check that finds
// ready > 0 credits it all; the condition on received − credited holds until that credit, so no
// ready byte is held back. What is left unacknowledged is only what the socket has not taken:
// that is backpressure from a slow client, which is the point of the window. And a producer not
// blocked needs no credit yet: the rule never holds back more than W / 2 of taken bytes, so it
// always has at least the other half of the window to go on.
//
// Several credits of one stream within one turn (a drain of the response ring delivers many
// frames) go out as one frame: the caller asks for the credit due at the end of the turn
// (Exchange schedules it in a microtask) rather than on each frame.

import { STREAM_WINDOW } from '../shared/frame.ts'

/** Received − credited at which the taken bytes are acknowledged. */
export const CREDIT_THRESHOLD = STREAM_WINDOW / 2

/** One response stream's acknowledgement state on the main thread. Pure: no I/O, no clock. */
export class StreamCredit {
  /** Stream bytes received from the isolate. */
  private received = 0
  /** Bytes acknowledged to the isolate. */
  private credited = 0
  /** Bytes the socket took and not acknowledged yet. */
  private ready = 0
  private readonly threshold: number

  constructor (threshold = CREDIT_THRESHOLD) {
    this.threshold = threshold
  }

  /** `n` bytes arrived and the socket took them without needing a drain. */
  took (n: number): void {
    this.received += n
    this.ready += n
  }

  /** `n` bytes arrived and wait in the socket for its 'drain'. */
  held (n: number): void {
    this.received += n
  }

  /** The socket drained `n` held bytes. */
  drained (n: number): void {
    this.ready += n
  }

  /** True when credit is due by the rule above. */
  get due (): boolean {
    return this.ready > 0 && this.received - this.credited >= this.threshold
  }

  /** The bytes to acknowledge now (0: none, by the rule above); counted as credited. */
  take (): number {
    if (!this.due) return 0
    const n = this.ready
    this.ready = 0
    this.credited += n
    return n
  }

  /** Bytes the isolate counts as unacknowledged, as far as this side knows. */
  get unacknowledged (): number { return this.received - this.credited }
}
