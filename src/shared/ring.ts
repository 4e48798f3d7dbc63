// A single-producer, single-consumer ring of variable-length frames in a SharedArrayBuffer.
//
// One ring carries bytes in one direction between exactly two threads: the main thread and one
// isolate. Each side owns one cursor and only reads the other's, so no lock is ever taken.
//
//  SharedArrayBuffer
//  ┌──────────────── control block (128 bytes, Int32 slots) ─────────────────┐┌──── data ────┐
//  │ [0] HEAD     producer's write cursor     [16] TAIL     consumer's read   ││ capacity     │
//  │ [1] ASLEEP   consumer sleeps on it       [17] WAITING  producer sleeps on ││ bytes, a     │
//  │ [2] CAPACITY (bytes, power of two)            it for free space          ││ power of two │
//  └──────────────────────────────────────────────────────────────────────────┘└──────────────┘
//  HEAD and TAIL sit 64 bytes apart so the two threads do not write the same cache line.
//
//  data (positions are cursor & (capacity - 1)):
//
//        TAIL                          HEAD
//         ▼                             ▼
//  ┌──────┬───────────┬──────┬──────────┬──────────────────┬─────┐
//  │ free │ frame     │ frame│ frame    │ free             │ PAD │◀ a frame never wraps: when it
//  └──────┴───────────┴──────┴──────────┴──────────────────┴─────┘  does not fit before the end,
//                                                                   a PAD frame fills the rest
//
// Cursors are free-running unsigned 32-bit byte counts (stored in Int32 slots, read with >>> 0):
// used = HEAD - TAIL (mod 2^32), free = capacity - used. Every frame starts on an 8-byte
// boundary and the capacity is a power of two, so `cursor & mask` is always a frame start and a
// PAD frame always has room for its 8-byte length+kind prefix.
//
// Memory ordering. JS Atomics are sequentially consistent. The producer writes a frame's bytes
// with plain stores and then publishes them with Atomics.store(HEAD); the consumer reads HEAD
// with Atomics.load before it touches those bytes, so it sees them whole. Symmetrically the
// consumer's Atomics.store(TAIL) hands the space back only after it finished reading it.
//
// Wake-ups. A consumer with nothing to read sets ASLEEP=1, re-reads HEAD and only then sleeps
// with Atomics.waitAsync() *on ASLEEP itself*, expecting 1. The producer stores HEAD, then reads
// ASLEEP and, if it is 1, clears it with compareExchange and notifies ASLEEP. With sequential
// consistency at least one side sees the other's store (Dekker): either the consumer's re-read
// sees the new HEAD and it does not sleep, or the producer sees ASLEEP=1 and wakes it.
// Waiting on the flag, not on HEAD, is what makes this safe: whoever clears ASLEEP — at any
// moment, even a late compareExchange left over from the previous sleep — makes a wait that is
// not registered yet return at once (the value is no longer 1), and one that is registered is
// notified. A consumer therefore never sleeps while ASLEEP=0, and a producer that sees ASLEEP=0
// may skip the notify. (Waiting on HEAD lost wake-ups: a stale clear of a fresh ASLEEP=1 left a
// consumer asleep with no one left to notify it.) A consumer that is awake is never notified,
// so a busy pair exchanges frames without a single syscall. The producer waiting for free space
// uses the mirror image: WAITING, set by it and cleared by the consumer's release() (or, for a
// consumer draining many frames, by one wakeProducer() after their releaseSpace() calls).
//
// Polling before sleeping. A sleeping thread costs a wake-up per frame when frames come one at a
// time, and on a VM that wake-up (futex or event-loop task alike) is most of a round trip: ~50 µs
// here, against ~5 µs when one of the two threads stays awake (bench/micro/wake.ts; a vCPU idle
// for a moment wakes fast, one idle for long does not). pollForData() keeps a consumer awake for
// a short budget after it ran dry, looking at HEAD once per turn of its event loop (setImmediate),
// so its other I/O, timers and promises go on between looks; only when the budget runs out does
// it sleep as above. While it polls ASLEEP stays 0, so the producer skips even the notify. The
// isolates poll (the `poll` option); the main thread never does — one polling side is enough.
// The price is CPU for the budget after every burst: worth it where the thread has a core of its
// own, not where it takes one from someone else.

import { IsopoolError } from './errors.ts'

const HEAD = 0
const ASLEEP = 1
const CAPACITY = 2
const TAIL = 16
const WAITING = 17

/** Bytes before the data area. */
export const RING_CONTROL_BYTES = 128
/** Every frame starts with a u32 length and a u8 kind; kind 0 is padding to the end of the data. */
export const PAD_KIND = 0
/** The smallest frame other than a PAD: the 16-byte header of frame.ts. */
const MIN_FRAME = 16
/** Smallest and largest data capacity a ring accepts. */
export const RING_MIN_CAPACITY = 4096
export const RING_MAX_CAPACITY = 1 << 30

export const align8 = (n: number): number => (n + 7) & ~7

/** The largest frame (header included) a ring of `capacity` data bytes is guaranteed to take once
 * it drains: with an empty ring the cursor may sit anywhere, and a frame of at most half the
 * capacity fits either before the end or, after a PAD, from position 0. */
export const maxFrameOf = (capacity: number): number => capacity >>> 1

// The frame layout is little-endian and written through typed arrays, which use the platform's
// byte order: refuse to run where the two differ rather than exchange garbage.
if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error('isopool needs a little-endian platform')
}

/** Allocate the shared memory of a ring with `capacity` data bytes (a power of two). */
export function createRingBuffer (capacity: number): SharedArrayBuffer {
  if (!Number.isInteger(capacity) || capacity < RING_MIN_CAPACITY || capacity > RING_MAX_CAPACITY ||
      (capacity & (capacity - 1)) !== 0) {
    throw new IsopoolError('ISOPOOL_ERR_INVALID_OPTION', {
      option: 'ringSize',
      reason: `must be a power of two between ${RING_MIN_CAPACITY} and ${RING_MAX_CAPACITY}, got ${capacity}`
    })
  }
  const sab = new SharedArrayBuffer(RING_CONTROL_BYTES + capacity)
  new Int32Array(sab, 0, RING_CONTROL_BYTES / 4)[CAPACITY] = capacity
  return sab
}

class RingSide {
  readonly ctl: Int32Array
  /** The data area as a Buffer, so strings are written and read in place. */
  readonly data: Buffer
  /** The data area as 32- and 16-bit words: every frame starts on an 8-byte boundary, so its
   * header fields are aligned and read or written with one indexed access, no bounds dance.
   * (Typed arrays use the platform's byte order; the frame layout is little-endian, which is
   * every platform Node runs on today — checked once, below.) */
  readonly u32: Uint32Array
  readonly u16: Uint16Array
  readonly capacity: number
  readonly mask: number
  /** The largest frame (header included) that is guaranteed to fit once the ring drains. */
  readonly maxFrame: number

  constructor (sab: SharedArrayBuffer) {
    this.ctl = new Int32Array(sab, 0, RING_CONTROL_BYTES / 4)
    this.capacity = this.ctl[CAPACITY]
    this.mask = this.capacity - 1
    this.data = Buffer.from(sab, RING_CONTROL_BYTES, this.capacity)
    this.u32 = new Uint32Array(sab, RING_CONTROL_BYTES, this.capacity >>> 2)
    this.u16 = new Uint16Array(sab, RING_CONTROL_BYTES, this.capacity >>> 1)
    this.maxFrame = maxFrameOf(this.capacity)
  }
}

/** Frames at least this long wake a sleeping consumer at commit, burst or not (see wakeWith). */
const WAKE_AT_ONCE_BYTES = 32 * 1024

/** The writing end. Only one thread may hold it. */
export class RingProducer extends RingSide {
  /** Our own cursor: only we write HEAD, so we never need to load it. */
  private head: number
  /** Set between reserve() and commit(): where the reserved frame starts and how long it may be. */
  private reservedAt = -1
  private reservedLen = 0
  private spaceWait: Promise<unknown> | null = null
  /** TAIL as the last reserve() saw it: the value "no space" was decided on. */
  private tailSeen = 0

  constructor (sab: SharedArrayBuffer) {
    super(sab)
    this.head = Atomics.load(this.ctl, HEAD) >>> 0
    this.published = this.head
  }

  /**
   * Reserve one contiguous frame of at least `min` and at most `max` bytes (header included).
   * Returns the frame's offset in `data`, or -1 when there is not enough free space now; then
   * the length granted is `reserved` (≥ min, ≤ max, a multiple of 8 unless it is `max`).
   * Writes a PAD frame first when the frame must wrap; the PAD is published with the frame.
   */
  reserve (min: number, max: number): number {
    if (min > this.maxFrame) {
      throw new IsopoolError('ISOPOOL_ERR_FRAME_TOO_LARGE', { size: min, max: this.maxFrame })
    }
    if (max > this.maxFrame) max = this.maxFrame
    if (max < min) max = min
    const tail = Atomics.load(this.ctl, TAIL) >>> 0
    this.tailSeen = tail
    let free = this.capacity - ((this.head - tail) >>> 0)
    let pos = this.head & this.mask
    const toEnd = this.capacity - pos
    const need = align8(min)
    if (toEnd < need) {
      // Not enough room before the end: pad it and start again at 0, if that leaves room.
      if (free - toEnd < need) return -1
      this.u32[pos >>> 2] = toEnd
      this.data[pos + 4] = PAD_KIND
      this.head = (this.head + toEnd) >>> 0
      free -= toEnd
      pos = 0
    } else if (free < need) {
      return -1
    }
    const avail = Math.min(free, this.capacity - pos)
    this.reservedAt = pos
    this.reservedLen = Math.min(avail, max)
    return pos
  }

  /** Bytes granted by the last successful reserve(). */
  get reserved (): number { return this.reservedLen }

  /** Publish the reserved frame, `len` bytes long (≤ reserved), and wake the consumer if it sleeps. */
  commit (len: number): void {
    if (this.reservedAt < 0 || len > this.reservedLen) {
      throw new IsopoolError('ISOPOOL_ERR_FRAME_INVALID', { reason: `commit of ${len} bytes exceeds the reservation` })
    }
    this.reservedAt = -1
    this.head = (this.head + align8(len)) >>> 0
    // Release: the frame's plain writes above become visible to the consumer with this store.
    Atomics.store(this.ctl, HEAD, this.head | 0)
    this.published = this.head
    if (this.schedule === null || len >= WAKE_AT_ONCE_BYTES) {
      // A big frame is worth a wake-up of its own: the consumer copies it out while we write
      // the next, instead of waiting for the end of the burst (16 × 1 MiB is milliseconds).
      this.wake()
    } else if (!this.wakeScheduled) {
      // The first frame of a burst wakes the consumer at once, so it starts while we write the
      // rest; the scheduled wake after the burst catches a consumer that drained and slept again.
      this.wakeScheduled = true
      this.wake()
      this.schedule(this.scheduledWake)
    }
  }

  private schedule: ((task: () => void) => void) | null = null
  private wakeScheduled = false
  /** HEAD as last stored, and as it was at the last wake(): every store up to it is covered. */
  private published = 0
  private wokeAt = -1
  private readonly scheduledWake = (): void => {
    this.wakeScheduled = false
    // Nothing published since the wake at the burst's first commit (a burst of one frame): that
    // wake covered it, and a second would only rouse a consumer that has drained it already.
    if (this.published !== this.wokeAt) this.wake()
  }

  /**
   * Wake the consumer at most twice per `schedule` callback instead of on every commit: at the
   * first commit after the last scheduled wake, and once more in the scheduled task if more was
   * published after that first wake; commit()
   * still publishes each frame at once. A notify costs a syscall here and a task on the other
   * thread, and a consumer woken by one frame of a burst drains it and goes back to sleep before
   * the next one is there — so waking on every commit means waking per frame. The main thread
   * schedules with setImmediate (after the turn's I/O:
   * all requests parsed in one turn share a wake-up), an isolate with queueMicrotask (after the
   * handlers of one drain).
   */
  wakeWith (schedule: (task: () => void) => void): void {
    this.schedule = schedule
  }

  /** Wake the consumer if it sleeps. Cheap when it does not: one Atomics.load. */
  wake (): void {
    // Dekker pairing with the consumer's store(ASLEEP)+load(HEAD): see the top of this file.
    // Every store of HEAD is followed, in commit() or in the scheduled wake, by this load, so the
    // pairing holds. The compareExchange makes sure one sleep gets exactly one notify.
    this.wokeAt = this.published
    if (Atomics.load(this.ctl, ASLEEP) === 1 && Atomics.compareExchange(this.ctl, ASLEEP, 1, 0) === 1) {
      Atomics.notify(this.ctl, ASLEEP)
    }
  }

  /** The consumer has announced that it sleeps (or is about to): a frame committed now costs it
   * a wake-up. One Atomics.load; a hint for placement, never for correctness. */
  consumerAsleep (): boolean {
    return Atomics.load(this.ctl, ASLEEP) === 1
  }

  /** The consumer's cursor: it moves whenever the consumer releases a frame. */
  consumed (): number {
    return Atomics.load(this.ctl, TAIL) >>> 0
  }

  /** Free bytes right now (not all of them need be contiguous). */
  free (): number {
    return this.capacity - ((this.head - (Atomics.load(this.ctl, TAIL) >>> 0)) >>> 0)
  }

  /**
   * Resolves when the consumer has freed some space since the call. Concurrent callers share
   * one wait. Does not keep the event loop alive: the caller's thread must hold a handle.
   */
  waitForSpace (): Promise<unknown> {
    if (this.spaceWait !== null) return this.spaceWait
    Atomics.store(this.ctl, WAITING, 1)
    // Compare with the TAIL our last reserve() found too small, not a fresh load: space freed
    // between that reserve() and the store above (the consumer saw WAITING=0 and did not notify)
    // means there is no reason to sleep at all.
    if ((Atomics.load(this.ctl, TAIL) >>> 0) !== this.tailSeen) {
      Atomics.store(this.ctl, WAITING, 0)
      return Promise.resolve()
    }
    const res = Atomics.waitAsync(this.ctl, WAITING, 1)
    if (!res.async) {
      Atomics.store(this.ctl, WAITING, 0)
      return Promise.resolve()
    }
    this.spaceWait = res.value.then(() => {
      this.spaceWait = null
      Atomics.store(this.ctl, WAITING, 0)
    })
    return this.spaceWait
  }
}

/** The reading end. Only one thread may hold it. */
export class RingConsumer extends RingSide {
  /** Our own cursor: only we write TAIL. */
  private tail: number
  /** Last HEAD we loaded: frames up to it are known to be complete without another load. */
  private headSeen: number
  private current = -1
  private currentLen = 0

  constructor (sab: SharedArrayBuffer) {
    super(sab)
    this.tail = Atomics.load(this.ctl, TAIL) >>> 0
    this.headSeen = this.tail
  }

  /**
   * The offset in `data` of the next complete frame, or -1 when there is none. Skips PAD
   * frames. The frame stays valid until release().
   */
  peek (): number {
    if (this.current >= 0) return this.current
    for (;;) {
      if (this.tail === this.headSeen) {
        // Acquire: everything the producer wrote before its store(HEAD) is visible after this.
        this.headSeen = Atomics.load(this.ctl, HEAD) >>> 0
        if (this.tail === this.headSeen) return -1
      }
      const pos = this.tail & this.mask
      const used = (this.headSeen - this.tail) >>> 0
      const len = this.u32[pos >>> 2]
      const room = Math.min(used, this.capacity - pos)
      // Never trust a length that would read past what was published or past the end.
      if (len < 8 || len > room) {
        throw new IsopoolError('ISOPOOL_ERR_FRAME_INVALID', { reason: `frame length ${len} at ${pos} exceeds the ${room} bytes published` })
      }
      if (this.data[pos + 4] === PAD_KIND) {
        // A PAD always runs exactly to the end of the data area; any other length would leave
        // the cursor unaligned, and a later release() could carry it past HEAD.
        if (len !== this.capacity - pos) {
          throw new IsopoolError('ISOPOOL_ERR_FRAME_INVALID', { reason: `PAD of ${len} bytes at ${pos} does not end the data area` })
        }
        this.tail = (this.tail + len) >>> 0
        continue
      }
      // Every other frame carries at least frame.ts's 16-byte header (length, kind, flags, aux,
      // id, arg): a shorter one would have its id read from beyond it.
      if (len < MIN_FRAME) {
        throw new IsopoolError('ISOPOOL_ERR_FRAME_INVALID', { reason: `frame of ${len} bytes at ${pos} is shorter than a frame header` })
      }
      this.current = pos
      this.currentLen = len
      return pos
    }
  }

  /** Length of the frame peek() returned. */
  get frameLength (): number { return this.currentLen }

  /** Hand the current frame's space back to the producer, waking it if it waits for space. */
  release (): void {
    if (this.releaseSpace()) this.wakeProducer()
  }

  /**
   * Hand the current frame's space back without waking the producer; true if there was a frame.
   * For a consumer draining several frames in one go: a producer woken by the first frame freed
   * writes one frame into it and waits again, a wake-up (a syscall here, a task there) per frame;
   * woken once after the drain, it finds all the space freed at once. The caller must call
   * wakeProducer() after the last releaseSpace() of the drain, before it yields its thread.
   */
  releaseSpace (): boolean {
    if (this.current < 0) return false
    this.tail = (this.tail + align8(this.currentLen)) >>> 0
    this.current = -1
    // Release: we are done reading the frame's bytes before the producer may overwrite them.
    Atomics.store(this.ctl, TAIL, this.tail | 0)
    return true
  }

  /**
   * Wake the producer if it waits for space. Dekker pairing with waitForSpace()'s store(WAITING)
   * + load(TAIL): every store of TAIL is followed by this load of WAITING (at once in release(),
   * after the drain with releaseSpace()), so either the producer's load sees the new TAIL and
   * does not sleep, or this load sees WAITING=1 and wakes it. Deferring the load changes nothing
   * in that: the producer, asleep meanwhile, only waits longer, never for ever. The
   * compareExchange makes sure one sleep gets exactly one notify.
   */
  wakeProducer (): void {
    if (Atomics.load(this.ctl, WAITING) === 1 && Atomics.compareExchange(this.ctl, WAITING, 1, 0) === 1) {
      Atomics.notify(this.ctl, WAITING)
    }
  }

  /**
   * Resolves when a frame may be ready. Returns null when one is ready already (the caller
   * drains at once, no promise, no tick). Does not keep the event loop alive.
   */
  waitForData (): Promise<unknown> | null {
    if (this.hasData()) return null
    Atomics.store(this.ctl, ASLEEP, 1)
    // Re-read HEAD after announcing the sleep: see "Wake-ups" above.
    const head = Atomics.load(this.ctl, HEAD)
    if ((head >>> 0) !== this.tail) {
      Atomics.store(this.ctl, ASLEEP, 0)
      return null
    }
    const res = Atomics.waitAsync(this.ctl, ASLEEP, 1)
    if (!res.async) {
      Atomics.store(this.ctl, ASLEEP, 0)
      return null
    }
    return res.value
  }

  /** Wake a waitForData() sleeper from this side, e.g. to shut the loop down. */
  interrupt (): void {
    Atomics.store(this.ctl, ASLEEP, 0)
    Atomics.notify(this.ctl, ASLEEP)
  }

  /** Bytes written and not yet released (for metrics: ring occupancy). One Atomics.load. */
  used (): number {
    return ((Atomics.load(this.ctl, HEAD) >>> 0) - this.tail) >>> 0
  }

  /** True when a frame may be ready without sleeping: one Atomics.load at most. */
  hasData (): boolean {
    return this.current >= 0 || this.tail !== this.headSeen || (Atomics.load(this.ctl, HEAD) >>> 0) !== this.tail
  }
}

/**
 * Resolves true as soon as `ring` has a frame, or false once `micros` have passed without one,
 * looking once per turn of the event loop (see "Polling before sleeping" above). `micros` > 0.
 */
export function pollForData (ring: RingConsumer, micros: number): Promise<boolean> {
  const deadline = performance.now() + micros / 1000
  return new Promise(resolve => {
    const look = (): void => {
      if (ring.hasData()) resolve(true)
      else if (performance.now() >= deadline) resolve(false)
      else setImmediate(look)
    }
    setImmediate(look)
  })
}
