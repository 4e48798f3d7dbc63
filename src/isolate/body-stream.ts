// A request body that streams into the isolate (a route whose maxBodySize is above the server's):
// its chunks as the main thread delivers them, read by the handler through req.stream() while
// the rest is still arriving. Memory stays bounded by credit (frame.ts, CREDIT): the main thread
// sends at most STREAM_WINDOW bytes the handler has not taken, and each chunk is acknowledged
// when the handler takes it, so a handler that reads slowly holds the client back by TCP.
//
//   BODY frame ──push()──▶ [ queued chunks ] ──next()──▶ handler
//                                              └─ grant(n) ──CREDIT(n)──▶ main thread reads on
//
// A reader that stops early (breaks out of its loop) leaves the rest to be discarded: every
// chunk from then on is acknowledged on arrival, so the main thread drains the body up to the
// route's limit. A client that goes away ends the iteration with ISOPOOL_ERR_BODY_ABORTED.

import { IsopoolError } from '../shared/errors.ts'
import { noteStreamedBytes } from '../shared/young-gc.ts'

export class BodyStream implements AsyncIterable<Uint8Array> {
  /** Acknowledge `n` bytes taken (or discarded) to the main thread. */
  private readonly grant: (n: number) => void
  private queue: Uint8Array[] = []
  private ended = false
  private error: IsopoolError | null = null
  /** Nobody reads any more: chunks are acknowledged and dropped as they come. */
  private discarding = false
  private taken = false
  private wake: (() => void) | null = null

  constructor (grant: (n: number) => void) {
    this.grant = grant
  }

  /** A chunk arrived (the caller's own copy, out of the ring). */
  push (chunk: Uint8Array): void {
    noteStreamedBytes(chunk.byteLength)
    if (this.ended || this.error !== null) return
    if (this.discarding) {
      this.grant(chunk.byteLength)
      return
    }
    if (chunk.byteLength > 0) this.queue.push(chunk)
    this.notify()
  }

  /** The body is complete. */
  end (): void {
    this.ended = true
    this.notify()
  }

  /** The request was given up (its client left, its time ran out, the server stops): a reader
   * waiting for more gets ISOPOOL_ERR_BODY_ABORTED. */
  abort (): void {
    if (this.ended || this.error !== null) return
    this.error = new IsopoolError('ISOPOOL_ERR_BODY_ABORTED')
    this.queue = []
    this.notify()
  }

  /** Nobody will read the rest: acknowledge what is queued and whatever comes. */
  discard (): void {
    if (this.discarding) return
    this.discarding = true
    let n = 0
    for (const c of this.queue) n += c.byteLength
    this.queue = []
    if (n > 0) this.grant(n)
  }

  [Symbol.asyncIterator] (): AsyncIterator<Uint8Array> {
    if (this.taken) throw new IsopoolError('ISOPOOL_ERR_BODY_CONSUMED')
    this.taken = true
    return this.chunks()
  }

  /** The whole body, gathered (text(), json(), msgpack() on a streamed route). */
  async collect (): Promise<Uint8Array> {
    const parts: Uint8Array[] = []
    let size = 0
    for await (const c of this) {
      parts.push(c)
      size += c.byteLength
    }
    if (parts.length === 1) return parts[0]
    const out = new Uint8Array(size)
    let at = 0
    for (const c of parts) {
      out.set(c, at)
      at += c.byteLength
    }
    return out
  }

  private async * chunks (): AsyncGenerator<Uint8Array, void, undefined> {
    try {
      while (true) {
        const chunk = this.queue.shift()
        if (chunk !== undefined) {
          this.grant(chunk.byteLength)
          yield chunk
          continue
        }
        if (this.error !== null) throw this.error
        if (this.ended) return
        await new Promise<void>(resolve => { this.wake = resolve })
      }
    } finally {
      // Ended, broken out of, or thrown through: what is left is not read.
      this.discard()
    }
  }

  private notify (): void {
    const wake = this.wake
    this.wake = null
    wake?.()
  }
}
