// Frames waiting for ring space, in order: both sides have them (the main thread's request bodies,
// an isolate's large responses) and both wait the same way. A write that fits goes into the ring
// at once; one that does not waits here, and so does everything written after it, so frames
// leave in the order they were written. One flush loop per ring sleeps on the ring's free space
// (RingProducer.waitForSpace: Atomics.waitAsync, no polling) and writes as much as fits each time
// the consumer frees some.
//
//   add(a) ──fits──▶ ring
//   add(b) ──no room──▶ [ b ] ──▶ flush: wait for space · write b (perhaps in parts) · next
//   add(c) ───────────▶ [ b, c ]    (c waits behind b even if it would fit: order is kept)

import type { RingProducer } from './ring.ts'

/** One message (or part of one) to write into the ring. */
export interface PendingFrame {
  /** Write as much as fits now; true once all of it is in the ring (or nothing is left to write). */
  write (): boolean
}

export interface BacklogEvents<T> {
  /** `item` had to wait and is now all in the ring. */
  written?: (item: T) => void
  /** The backlog ran empty after waiting. */
  drained?: () => void
}

export class FrameBacklog<T extends PendingFrame> {
  readonly ring: RingProducer
  private items: T[] = []
  private flushing = false
  private stopped = false
  private readonly events: BacklogEvents<T>

  constructor (ring: RingProducer, events: BacklogEvents<T> = {}) {
    this.ring = ring
    this.events = events
  }

  /** Nothing is waiting: a write may go straight into the ring. */
  get empty (): boolean { return this.items.length === 0 }

  get length (): number { return this.items.length }

  /**
   * Write `item` now if nothing waits and it fits; else queue it. True when it is in the ring.
   * When it returns false, `written` has not been called yet: the flush starts after the caller's
   * synchronous part, so a caller that pauses its source on false always hears the resume. (The
   * consumer frees space on its own thread at any moment: a flush started right here could write
   * the item at once and report it before the caller paused.)
   */
  add (item: T): boolean {
    if (this.items.length === 0 && item.write()) return true
    this.items.push(item)
    if (!this.flushing && !this.stopped) {
      this.flushing = true
      queueMicrotask(() => { void this.flush() })
    }
    return false
  }

  /** Forget the waiting items for which `drop` is true (their messages were given up). */
  drop (drop: (item: T) => boolean): T[] {
    const dropped = this.items.filter(drop)
    if (dropped.length > 0) this.items = this.items.filter(i => !drop(i))
    return dropped
  }

  /** The ring's consumer is gone: nothing more will be written. */
  stop (): void {
    this.stopped = true
    this.items = []
  }

  private async flush (): Promise<void> {
    try {
      while (this.items.length > 0 && !this.stopped) {
        const item = this.items[0]
        if (!item.write()) {
          await this.ring.waitForSpace()
          continue
        }
        this.items.shift()
        this.events.written?.(item)
      }
    } finally {
      this.flushing = false
    }
    if (!this.stopped) this.events.drained?.()
  }
}
