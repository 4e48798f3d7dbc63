// Whole messages over a ring, for bench/micro: what both sides of the micro-benchmark write and
// read, done the way the server does it (src/main/isolate-handle.ts, src/isolate/worker.ts):
//
//   HEAD frame (text + as much of the body as fits contiguously) [+ BODY frames for the rest]
//
// A message that fits one frame (at most half the ring) is written whole, as the server writes a
// request whose body fits (IsolateHandle.adopt) and every response that fits; a larger one is a
// HEAD and BODY frames. The reader takes a body in one of three ways (ReadMode):
//
//   lend     a view of the ring, valid until the frame is released: what an isolate gives a
//            synchronous handler for a one-frame body (src/isolate/request.ts, req.text/json)
//   scratch  copied into one buffer the reader reuses: what the main thread does with a response
//            on its way to the socket (writeJoined in src/main/http1.ts)
//   copy     copied into a fresh buffer the reader owns: what `req.body` costs, and what every
//            body cost before the server read in place — the same work as a structured clone
//
// A body split over frames is always assembled into a fresh buffer, as the isolate does.

import { bodyView, copyOut, copyOutInto, FLAG_END, FRAME_HEADER, frameFlags, frameKind, KIND_BODY, readHead, writeBody, writeHead } from '../../src/shared/frame.ts'
import type { RingConsumer, RingProducer } from '../../src/shared/ring.ts'

export type ReadMode = 'lend' | 'scratch' | 'copy'

export interface Message {
  id: number
  text: string
  body: Uint8Array | null
}

/**
 * Write a whole message. The micro-benchmark sizes its rings so that a whole burst always fits;
 * running out of space is a bug of the benchmark, not backpressure to wait for.
 */
export function sendMessage (ring: RingProducer, kind: number, id: number, arg: number, aux: number, text: string, body: Uint8Array | null): void {
  const len = body === null ? 0 : body.byteLength
  let off = writeHead(ring, kind, id, arg, aux, text, len, body, 0, true)
  if (off < 0) ringFull()
  while (off < len) {
    const n = writeBody(ring, KIND_BODY, id, body, off, true)
    if (n < 0) ringFull()
    off += n
  }
}

function ringFull (): never {
  throw new Error('ring full: the micro-benchmark must size its rings for a whole burst')
}

/** Reassembles HEAD + BODY frames. Frames of one message are contiguous: one partial at a time. */
export class MessageReader {
  private partial: { id: number, text: string, body: Uint8Array, received: number } | null = null
  private readonly mode: ReadMode
  private scratch = Buffer.allocUnsafeSlow(0)

  constructor (mode: ReadMode) {
    this.mode = mode
  }

  /**
   * Consume the frame at `pos` (the caller releases it afterwards). Returns the message it
   * completes, or null when more frames are to come.
   */
  read (ring: RingConsumer, pos: number): Message | null {
    const kind = frameKind(ring, pos)
    const end = (frameFlags(ring, pos) & FLAG_END) !== 0
    if (kind === KIND_BODY) {
      const p = this.partial
      if (p === null) throw new Error('BODY frame without a HEAD')
      const chunk = bodyView(ring, pos)
      copyOutInto(ring.data, pos + FRAME_HEADER, pos + ring.frameLength, p.body, p.received)
      p.received += chunk.byteLength
      if (!end) return null
      this.partial = null
      return { id: p.id, text: p.text, body: p.body }
    }
    // A HEAD (REQ_HEAD or RES_HEAD: the layout is the same).
    const h = readHead(ring, pos) // decodes the text into a JS string
    if (end) return { id: h.id, text: h.text, body: h.bodyLen === 0 ? null : this.take(ring.data, h.bodyStart, h.bodyEnd) }
    const body = new Uint8Array(h.bodyLen)
    copyOutInto(ring.data, h.bodyStart, h.bodyEnd, body, 0)
    this.partial = { id: h.id, text: h.text, body, received: h.bodyEnd - h.bodyStart }
    return null
  }

  /** The body of a one-frame message, `data[start, end)`, as this reader's mode takes it. */
  private take (data: Buffer, start: number, end: number): Uint8Array {
    if (this.mode === 'lend') return data.subarray(start, end)
    if (this.mode === 'copy') return copyOut(data, start, end, true)
    if (this.scratch.byteLength < end - start) this.scratch = Buffer.allocUnsafeSlow(end - start)
    copyOutInto(data, start, end, this.scratch, 0)
    return this.scratch.subarray(0, end - start)
  }
}

/**
 * A safety net for a consumer loop that sleeps in RingConsumer.waitForData(): if the loop stays
 * asleep through two checks in a row while a frame is ready, its wake-up was lost; count it and
 * wake the loop with interrupt(). Without this a lost wake-up hangs the benchmark forever; with
 * it, each one costs a stall of 10–20 ms, which shows in the numbers, and the count is reported.
 * (Two checks, not one, so a notify whose promise has not run yet is not mistaken for a loss.)
 */
export class WakeupGuard {
  /** Incremented on each lost wake-up; may be shared (Int32Array over a SharedArrayBuffer). */
  private readonly lost: Int32Array
  private readonly ring: RingConsumer
  private sleeping = false
  private episode = 0
  private suspect = -1
  private readonly timer: NodeJS.Timeout

  constructor (ring: RingConsumer, lost: Int32Array, intervalMs = 10) {
    this.ring = ring
    this.lost = lost
    this.timer = setInterval(() => this.check(), intervalMs)
    this.timer.unref()
  }

  /** Call right before awaiting waitForData()'s promise… */
  asleep (): void {
    this.sleeping = true
    this.episode++
  }

  /** …and right after it resolved. */
  awake (): void {
    this.sleeping = false
  }

  stop (): void {
    clearInterval(this.timer)
  }

  private check (): void {
    if (!this.sleeping || this.ring.peek() < 0) {
      this.suspect = -1
      return
    }
    if (this.suspect !== this.episode) {
      this.suspect = this.episode
      return
    }
    this.suspect = -1
    Atomics.add(this.lost, 0, 1)
    this.ring.interrupt()
  }
}
