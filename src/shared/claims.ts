// The claim table: which of the requests placed on an isolate it has started, in shared memory.
//
// A request sits in an isolate's request ring until the isolate gets to it. If the isolate dies,
// is judged stuck or is retired by a reload meanwhile, the request has not run and can run
// elsewhere — but only if "has not run" is a fact both threads agree on, never a guess from the
// main thread's side. So the isolate *claims* each request before it runs it, and the main thread
// may *revoke* one that is not claimed yet. Both are one compareExchange on the request's slot:
// exactly one of them wins, and a request is run at most once.
//
//  SharedArrayBuffer, Int32 words
//  ┌──────────── control (CONTROL_WORDS) ─────────────┬──── slots [0, size): one per request in flight ────┐
//  │ [0] BUSY_SINCE  ms (since the table's epoch, low   │    id    offered: placed, not started (id > 0)     │
//  │                 31 bits) at which the isolate's    │   -id    claimed: the isolate has started it        │
//  │                 current synchronous handler began; │    0     revoked: nobody may run it (or never used) │
//  │                 0 when it runs none                │                                                    │
//  └────────────────────────────────────────────────────┴────────────────────────────────────────────────────┘
//
// Lifecycle of a slot (the main thread allocates slots; the REQ_HEAD frame carries its index):
//
//    free ──offer(id)──▶ offered ──claim (isolate): CAS id→-id──▶ claimed ──┐
//     ▲                    │                                              │
//     │                    └──revoke (main): CAS id→0──▶ revoked ─────────┤
//     └──────── the main thread's own free list, once claimed or revoked ◀┘
//
// Memory ordering. offer() writes the id before the frame that names the slot is published by the
// ring's store of HEAD, and the isolate loads HEAD before it claims: it always sees the offer (a
// plain write before a sequentially consistent store is visible after the load that reads it,
// as the frame's own bytes are). The claim and the revoke are sequentially consistent
// read-modify-writes of one word, so one wins and the loser sees the winner's value. The main
// thread puts a slot back on its free list only once its value is no longer the offered id —
// claimed (the isolate never reads a slot again once it claimed it) or revoked — so a slot is
// never reused under an isolate that might still claim it; the next offer simply overwrites it.
// A frame whose slot was revoked and then reused for another request still carries the old id:
// its claim fails against the new id (an aligned Int32 is never torn, even by a racing plain
// write), and the isolate drops the frame. Ids are 31-bit (so -id is an Int32) and run
// 1 … 2^31 - 1 before they wrap: a stale frame would have to outlive two billion others.
//
// BUSY_SINCE lets the main thread see, with one load and no message, how long the handler running
// now has kept the isolate: a handler stuck in synchronous code shows up the moment it runs longer
// than the supervisor allows, and the requests queued behind it move to other isolates at once.
// The isolate writes it with plain stores (the supervisor reads it every few tens of ms and
// tolerates a value a moment old); each request costs the two threads one offer, one claim and
// two plain stores, no more.

const BUSY_SINCE = 0
/** Words before the slots: the busy words and room to grow, on their own cache lines. */
const CONTROL_WORDS = 16

/** The largest request id; ids wrap to 1 after it. */
export const MAX_REQUEST_ID = 0x7fffffff

export function createClaimBuffer (slots: number): SharedArrayBuffer {
  return new SharedArrayBuffer((CONTROL_WORDS + slots) * 4)
}

/** The next request id after `id`: 1 … MAX_REQUEST_ID, never 0. */
export function nextRequestId (id: number): number {
  return id >= MAX_REQUEST_ID ? 1 : id + 1
}

export class ClaimTable {
  readonly words: Int32Array
  readonly size: number
  /** performance.timeOrigin of the main thread, in whole ms: both sides count BUSY_SINCE from it. */
  readonly epoch: number

  constructor (sab: SharedArrayBuffer, epoch: number) {
    this.words = new Int32Array(sab)
    this.size = this.words.length - CONTROL_WORDS
    this.epoch = epoch
  }

  // ── main thread ────────────────────────────────────────────────────────────────────────────

  /** Offer request `id` in `slot` (a free one): the isolate may claim it once the frame naming it
   * is published (see the memory ordering above). */
  offer (slot: number, id: number): void {
    this.words[CONTROL_WORDS + slot] = id
  }

  /** Take back request `id` if the isolate has not claimed it: true when it never will run. */
  revoke (slot: number, id: number): boolean {
    return Atomics.compareExchange(this.words, CONTROL_WORDS + slot, id, 0) === id
  }

  /** True when the isolate has claimed (started) request `id`. */
  claimed (slot: number, id: number): boolean {
    return Atomics.load(this.words, CONTROL_WORDS + slot) === -id
  }

  /** Milliseconds the isolate's current synchronous handler has run at `now` (ms since epoch,
   * as busyClock gives it), or 0 when none runs. */
  busyFor (now: number): number {
    const since = Atomics.load(this.words, BUSY_SINCE)
    if (since === 0) return 0
    // Both sides keep the low 31 bits of the ms count: a difference modulo 2^31 stays right
    // when the count wraps, once every 24.8 days.
    const ran = ((Math.floor(now) & 0x7fffffff) - since) & 0x7fffffff
    // A handler that started after the caller read `now` (the isolate's clock one ms on, or the
    // two clocks' rounding apart) gives a negative difference, 2^31 - 1 and so on once masked:
    // it has run 0 ms, not 24.8 days (read as that, the supervisor killed its isolate as stuck).
    // A real run of 2^30 ms (12.4 days) is far past any hard timeout.
    return ran >= 0x40000000 ? 0 : ran
  }

  // ── isolate ────────────────────────────────────────────────────────────────────────────────

  /** Claim request `id` before running it: false when the main thread revoked it (drop it). */
  claim (slot: number, id: number): boolean {
    return Atomics.compareExchange(this.words, CONTROL_WORDS + slot, id, -id) === id
  }

  /** A synchronous handler starts at `now` (busyClock's ms). */
  busy (now: number): void {
    // The low 31 bits (see busyFor), and never 0, which means idle.
    this.words[BUSY_SINCE] = (now & 0x7fffffff) || 1
  }

  /** The synchronous part of the handler is over. */
  idle (): void {
    this.words[BUSY_SINCE] = 0
  }

  /** A synchronous handler runs now: busy() was called and idle() not yet (this isolate's view). */
  get running (): boolean {
    return this.words[BUSY_SINCE] !== 0
  }
}

/** A clock both threads read alike: ms since `epoch` (the main thread's performance.timeOrigin,
 * rounded), from this thread's monotonic performance.now(). */
export function busyClock (epoch: number): () => number {
  const offset = performance.timeOrigin - epoch
  return () => performance.now() + offset
}
