// When and where each request runs: admission, placement (which isolate: a PlacementPolicy,
// placement.ts), and the holding of long requests (route-costs.ts has the model). Policy only: the
// dispatcher sees isolates through Candidate and requests through Job, and reads time from an
// injected Clock, so every rule here is tested without sockets, threads or sleeps
// (test/unit/dispatch.test.ts).
//
//   submit(job) ── a candidate can take it soon enough ──▶ candidate.take(job) → job.placed(p)
//        │                                                (the one the placement policy picks)
//        ├── every candidate full ────────────────────────▶ queue   (FIFO; pump() retries)
//        ├── long, and it must wait (full, or every ───────▶ held    (light ones pass it)
//        │   candidate has its long ones)
//        ├── its expected wait is over maxQueueWait ───────▶ refuse(503 QUEUE_WAIT, Retry-After: that wait)
//        └── the waiting requests hold maxQueue / maxQueueBytes ▶ refuse(503 OVERLOADED)
//
// Admission is by time, not by count. A request's expected wait is the work ahead of it — what
// the isolates have in flight and what waits before it here, each request at its route's learned
// cost — spread over the isolates of the generation; one that would wait longer than
// maxQueueWait is refused at once, with a Retry-After of that wait, rather than accepted to time
// out later. A burst the isolates clear in time is taken whole, however many requests it has;
// sustained overload is shed at the door. Requests that still wait past maxQueueWait (the isolates
// stalled, or the estimate was short) are shed by expire(). The counts are a memory backstop only.
//
// Order: nothing passes the queue (a request that finds others waiting waits behind them), a
// long request that must wait waits held (so it is never in the queue ahead of light ones), light
// requests pass held long ones — but once one has been held a few times its own cost (heldFor,
// route-costs.ts) it may go to an isolate as a second long one (MAX_LONG) even while light ones
// come, so the light ones placed after it wait behind it there: a long request's wait is bounded
// however many light ones come — and no request passes a held one of its own route (a route whose
// cost hovers around LONG_MS must not have its held requests passed by its own later ones that
// came in as light). Requests moved off an isolate that died or stalled before they started go
// back into the queue before every request accepted after them.

import { IsopoolError } from '../shared/errors.ts'
import { spreadPolicy } from './placement.ts'
import type { IsolateState, PlacementPolicy } from './placement.ts'
import { heldFor, LIGHT_WINDOW_MS, LONG_MS, MAX_LONG, MAX_LONG_MIXED } from './route-costs.ts'

/** Milliseconds, monotonic. */
export interface Clock {
  now (): number
}

export const systemClock: Clock = { now: () => performance.now() }

/** A request as the dispatcher sees it. */
export interface Job<P> {
  /** Which route it is (identity matters: held requests of one route keep their order). */
  readonly route: object
  /** Its place in the order requests were accepted. */
  readonly seq: number
  /** Memory it holds while it waits here (its head, its buffers): the maxQueueBytes backstop. */
  readonly bytes: number
  /** Expected ms of isolate work (the route's learned cost, read when it is placed). */
  expectedCost (): number
  /** The cost it was placed or queued with; while it is on a candidate, charged there. */
  cost: number
  /** Answered or given up: it needs no place any more. */
  readonly settled: boolean
  /** While it waits here: since when, and how it is counted. The dispatcher's alone to write
   * (a field of the job's, not a Map of the dispatcher's: a Map whose keys come and go with the
   * requests keeps dead ones alive through its old tables, shared/id-table.ts). */
  waiting?: Waiting | null
  /** It is on `placement` now: its frames go there. */
  placed (placement: P): void
  /** No room for it: answer `err`, with Retry-After `retryAfter` seconds when given. */
  refuse (err: IsopoolError, retryAfter?: number): void
}

/** An isolate as the dispatcher sees it (work, inFlight, awake, lastActive: IsolateState). */
export interface Candidate<J, P> extends IsolateState {
  /** Long requests in flight (cost ≥ LONG_MS). */
  readonly long: number
  /** False while it may take nothing: starting or stopping, stalled, at maxInFlight, its ring
   * backed up. */
  readonly accepting: boolean
  /** Put `job` on it: the placement, or null when its ring has no room now (it reports the
   * space later, and the dispatcher's pump() runs). `now` is the dispatcher's clock, read once
   * for the placement (its lastActive from then on). */
  take (job: J, now: number): P | null
}

export interface DispatcherOptions {
  /** Requests that may wait here at most (memory backstop). */
  maxQueue: number
  /** Bytes the waiting requests may hold at most (memory backstop). */
  maxQueueBytes: number
  /** Expected wait in ms a request is admitted with, and the longest it may then wait; 0 for no
   * limit by time. */
  maxQueueWait: number
  /** Which of the isolates that may take a request gets it (placement.ts); 'spread' when not given. */
  placement?: PlacementPolicy
}

const PLACED = 0
const FULL = 1
const HELD = 2
/** Admission only: it would wait in an isolate's ring longer than maxQueueWait. */
const TOO_LONG = 3

/** How long after a request was shed the dispatcher still counts as shedding (for /readyz). */
export const SHEDDING_FOR_MS = 1000

/** What a waiting request carries with it here. */
export interface Waiting {
  /** When it started to wait (clock ms). */
  since: number
  /** The cost it was counted with in the work waiting. */
  cost: number
  /** In the held list, not the queue. */
  held: boolean
}

export class Dispatcher<P, J extends Job<P> = Job<P>> {
  private readonly clock: Clock
  private readonly options: DispatcherOptions
  /** Isolates that may take requests, in a stable order (the current generation). */
  private candidates: readonly Candidate<J, P>[] = []
  /** Requests waiting for an isolate, oldest first. */
  private queue: J[] = []
  /** Long requests waiting for an isolate with room for one more of them; they wait here, where
   * they hold up no one, not behind a job on an isolate. */
  private held: J[] = []
  /** Jobs waiting (queued or held), counted as they are: job.waiting is set on each. */
  private waitingN = 0
  /** Held requests per route. */
  private readonly heldOf = new Map<object, number>()
  /** Requests counted as waiting in the queue and in the held list (a withdrawn one is no longer
   * counted, and is dropped from its list lazily), their expected ms of work, and their bytes. */
  private queuedN = 0
  private heldN = 0
  private queueWork = 0
  private heldWork = 0
  private waitingBytes = 0
  /** When a request was last shed (clock ms). */
  private shedAt = -Infinity
  /** When a request that is not a long one was last placed, its route, and when one of another
   * route was: whether light requests come is asked for routes other than the long request's
   * own (one whose cost hovers around LONG_MS has no one to protect from it). */
  private lightAt = -Infinity
  private lightRoute: object | null = null
  private otherLightAt = -Infinity

  private readonly policy: PlacementPolicy

  constructor (options: DispatcherOptions, clock: Clock = systemClock) {
    this.options = options
    this.clock = clock
    this.policy = options.placement ?? spreadPolicy
  }

  /** The placement policy in use. */
  get placement (): PlacementPolicy { return this.policy }

  /** The isolates requests may go to; waiting requests are placed on them at once. */
  setCandidates (candidates: readonly Candidate<J, P>[]): void {
    this.candidates = candidates
    this.pump()
  }

  /** Requests waiting in the main thread. */
  get waiting (): number { return this.queuedN + this.heldN }

  /** Of the waiting requests, the long ones held back (they wait for an isolate with room for one). */
  get heldCount (): number { return this.heldN }

  /** Bytes the waiting requests hold. */
  get bytesWaiting (): number { return this.waitingBytes }

  /** A request was shed within the last SHEDDING_FOR_MS. */
  get shedding (): boolean { return this.clock.now() - this.shedAt < SHEDDING_FOR_MS }

  /** A new request: placed now, queued or held — or refused, when it would wait too long or the
   * waiting requests hold all the memory they may. `now`: this dispatcher's clock, when the
   * caller read it already for the request. */
  submit (job: J, now?: number): void {
    // A held one may have become overdue just now: it goes first, if an isolate may take it.
    if (this.heldN > 0 && this.queuedN === 0 && this.heldOverdue()) this.pump()
    // A long request that must wait waits held, however it came to wait (its isolates have
    // their long ones, or take nothing now: stalled behind a job, at maxInFlight, their rings
    // full), so light ones that come after it still pass it; its own wait is bounded all the same
    // (heldFor). Queued, it would hold up every light one behind it once an isolate is free.
    const long = job.expectedCost() >= LONG_MS
    if (this.queuedN > 0) this.wait(job, long)
    // No overtaking among long requests, nor within a route.
    else if (this.heldN > 0 && ((this.heldOf.get(job.route) ?? 0) > 0 || long)) this.wait(job, true)
    else {
      const placed = this.place(job, true, now)
      if (placed === FULL) this.wait(job, long)
      else if (placed === HELD) this.wait(job, true)
      else if (placed === TOO_LONG) this.shed(job, new IsopoolError('ISOPOOL_ERR_QUEUE_WAIT', { wait: Math.round(this.leastWork()), limit: this.options.maxQueueWait }), this.leastWork())
    }
  }

  /**
   * The expected wait of a request that would wait now: the work in flight on the isolates and
   * the work waiting before it here (queued; and held, for a long one, which queues behind them),
   * spread over the isolates of the generation (those stalled or restarting come back).
   */
  expectedWait (long: boolean): number {
    let work = this.queueWork + (long ? this.heldWork : 0)
    for (const c of this.candidates) work += c.work
    return work / Math.max(1, this.candidates.length)
  }

  /**
   * A request that was accepted earlier and lost its place before it started (its isolate died,
   * stalled, or was retired): back in line before every request accepted after it, whatever the
   * queue's length or wait — it was admitted once. The caller pumps once it has put back all it
   * moves.
   */
  requeue (job: J): void {
    let i = 0
    while (i < this.queue.length && this.queue[i].seq < job.seq) i++
    this.queue.splice(i, 0, job)
    job.cost = job.expectedCost()
    this.counted(job, false)
  }

  /** `job` no longer waits (its client left, or its time ran out): it stops counting at once,
   * and leaves its list when the pump or the sweep reaches it (no search of a long queue). */
  withdraw (job: J): void {
    this.uncounted(job)
  }

  /** Take every waiting request out (to answer them at shutdown), oldest first. */
  takeAll (): J[] {
    const all = [...this.queue.splice(0), ...this.held.splice(0)].filter(job => isWaiting(job))
    for (const job of all) job.waiting = null
    this.heldOf.clear()
    this.waitingN = 0
    this.queuedN = this.heldN = this.queueWork = this.heldWork = this.waitingBytes = 0
    return all
  }

  /** Every waiting request, for a look at each (rerouting after a reload: its route may change,
   * so the held counts are taken again after). */
  forEachWaiting (fn: (job: J) => void): void {
    for (const job of [...this.queue, ...this.held]) if (isWaiting(job)) fn(job)
    this.heldOf.clear()
    for (const job of this.held) if (isWaiting(job)) this.heldOf.set(job.route, (this.heldOf.get(job.route) ?? 0) + 1)
  }

  /**
   * Shed the requests that have waited here longer than maxQueueWait (the isolates stalled, or
   * their work was longer than expected): each gets 503 at once rather than its timeout later.
   * Called every few tens of ms.
   */
  expire (): void {
    const limit = this.options.maxQueueWait
    if (limit <= 0 || this.waitingN === 0) return
    const now = this.clock.now()
    const stale: [J, number, boolean][] = []
    // One pass over each list: what stays keeps its order; withdrawn ones go too.
    const keep = (list: J[], held: boolean): J[] => list.filter((job) => {
      const w = job.waiting ?? undefined
      if (w === undefined) return false
      if (now - w.since <= limit) return true
      stale.push([job, now - w.since, held])
      return false
    })
    this.queue = keep(this.queue, false)
    this.held = keep(this.held, true)
    for (const [job, waited, held] of stale) {
      this.uncounted(job)
      if (!job.settled) this.shed(job, new IsopoolError('ISOPOOL_ERR_QUEUE_EXPIRED', { wait: Math.round(waited), limit }), this.expectedWait(held))
    }
  }

  /** Place waiting requests, oldest first, while isolates can take them. Re-entrant calls (a
   * placement that completes a request at once, which frees a place) only ask for another pass. */
  pump (): void {
    if (this.pumping) {
      this.again = true
      return
    }
    this.pumping = true
    try {
      do {
        this.again = false
        this.pumpOnce()
      } while (this.again)
    } finally {
      this.pumping = false
    }
  }

  private pumping = false
  private again = false

  private pumpOnce (): void {
    // Held ones overdue go first, where an isolate may take them as a second long one; one that
    // finds none holds up no one (blocking light ones would not make it start any sooner).
    while (this.heldN > 0 && this.heldOverdue()) {
      const job = this.held[0]
      if (!job.settled && this.place(job, false) !== PLACED) break
      this.held.shift()
      this.uncounted(job)
    }
    while (this.queue.length > 0) {
      const job = this.queue[0]
      // Settled or withdrawn meanwhile: it needs no place.
      if (!job.settled && isWaiting(job)) {
        const placed = this.place(job, false)
        if (placed === FULL) return
        if (placed === HELD) {
          // Moves from one list to the other: no new place taken, and its wait goes on.
          this.queue.shift()
          this.moveToHeld(job)
          continue
        }
      }
      this.queue.shift()
      this.uncounted(job)
    }
    while (this.held.length > 0) {
      const job = this.held[0]
      if (!job.settled && isWaiting(job) && this.place(job, false) !== PLACED) return
      this.held.shift()
      this.uncounted(job)
    }
  }

  /**
   * Put `job` on the candidate that can take it now and will be free soonest: PLACED; FULL when
   * none can take anything now; HELD when it is a long one and every candidate that could take it
   * already has as many long ones in flight as it may; TOO_LONG (`admit` only: a new request)
   * when the work already on that candidate is more than maxQueueWait.
   */
  private place (job: J, admit: boolean, at?: number): number {
    const candidates = this.candidates
    // The route's cost as known now (a request may have waited while it was learned).
    const cost = job.expectedCost()
    const long = cost >= LONG_MS
    const now = at ?? this.clock.now()
    // A held one overdue may be the second long one on an isolate, light ones about or not.
    this.maxLong = !long ? 0
      : now - (job.route === this.lightRoute ? this.otherLightAt : this.lightAt) < LIGHT_WINDOW_MS && !this.overdue(job, now) ? MAX_LONG_MIXED : MAX_LONG
    this.long = long
    this.full = null
    this.skippedLong = false
    let placement: P | null = null
    while (placement === null) {
      const best = this.policy.pick(candidates, this.eligible, cost, now)
      if (best === null) return this.skippedLong ? HELD : FULL
      if (admit && this.options.maxQueueWait > 0 && best.work > this.options.maxQueueWait) return TOO_LONG
      job.cost = cost
      placement = best.take(job, now)
      // Its ring is full: try the next one; it reports its space, and pump() comes back.
      if (placement === null) (this.full ??= []).push(best)
    }
    if (!long) {
      if (job.route !== this.lightRoute) {
        this.otherLightAt = this.lightAt
        this.lightRoute = job.route
      }
      this.lightAt = now
    }
    job.placed(placement)
    return PLACED
  }

  // The request being placed, as eligible() reads it: made once, not a closure per request.
  private long = false
  private maxLong = 0
  private full: Candidate<J, P>[] | null = null
  /** A candidate was passed over only for having its long ones: the request is HELD, not FULL. */
  private skippedLong = false
  private readonly eligible = (c: Candidate<J, P>): boolean => {
    if (!c.accepting || (this.full !== null && this.full.includes(c))) return false
    if (this.long && c.long >= this.maxLong) {
      this.skippedLong = true
      return false
    }
    return true
  }

  /** `job` is held and has been for as long as one of its cost may be (heldFor). */
  private overdue (job: J, now: number): boolean {
    const w = job.waiting ?? undefined
    return w !== undefined && w.held && now - w.since >= heldFor(w.cost)
  }

  /** The oldest held request is overdue (withdrawn ones at the front
   * leave the list here). */
  private heldOverdue (): boolean {
    while (this.held.length > 0 && (this.held[0].settled || !isWaiting(this.held[0]))) {
      this.uncounted(this.held[0])
      this.held.shift()
    }
    return this.held.length > 0 && this.overdue(this.held[0], this.clock.now())
  }

  /** The work on the candidate that has least: what a request placed now would wait for. */
  private leastWork (): number {
    let least = Infinity
    for (const c of this.candidates) if (c.accepting && c.work < least) least = c.work
    return least === Infinity ? 0 : least
  }

  /** Queue or hold a new request, if the main thread has the memory for it and it would be
   * served in time. */
  private wait (job: J, held: boolean): void {
    const o = this.options
    if (this.queuedN + this.heldN >= o.maxQueue || this.waitingBytes + job.bytes > o.maxQueueBytes) {
      this.shed(job, new IsopoolError('ISOPOOL_ERR_OVERLOADED'))
      return
    }
    job.cost = job.expectedCost()
    // A light request passes the held long ones: only the queue is ahead of it.
    const wait = this.expectedWait(held)
    if (o.maxQueueWait > 0 && wait > o.maxQueueWait) {
      this.shed(job, new IsopoolError('ISOPOOL_ERR_QUEUE_WAIT', { wait: Math.round(wait), limit: o.maxQueueWait }), wait)
      return
    }
    if (held) this.held.push(job)
    else this.queue.push(job)
    this.counted(job, held)
  }

  private moveToHeld (job: J): void {
    const w = job.waiting ?? undefined
    this.uncounted(job)
    this.held.push(job)
    this.counted(job, true, w?.since)
  }

  /** `job` joined the queue (or the held list): count it, its work and its bytes. */
  private counted (job: J, held: boolean, since = this.clock.now()): void {
    const cost = job.cost
    job.waiting = { since, cost, held }
    this.waitingN++
    this.waitingBytes += job.bytes
    if (held) {
      this.heldN++
      this.heldWork += cost
      this.heldOf.set(job.route, (this.heldOf.get(job.route) ?? 0) + 1)
    } else {
      this.queuedN++
      this.queueWork += cost
    }
  }

  /** `job` left the queue (or the held list), or was withdrawn: it no longer counts. */
  private uncounted (job: J): void {
    const w = job.waiting ?? undefined
    if (w === undefined) return
    job.waiting = null
    this.waitingN--
    this.waitingBytes -= job.bytes
    if (w.held) {
      this.heldN--
      this.heldWork -= w.cost
      // Kept at 0 rather than deleted: routes are few, and a Map that loses and gains a key per
      // request rehashes all the time.
      this.heldOf.set(job.route, (this.heldOf.get(job.route) ?? 1) - 1)
    } else {
      this.queuedN--
      this.queueWork -= w.cost
    }
    if (this.waitingN === 0) this.queueWork = this.heldWork = this.waitingBytes = 0 // no rounding left over
  }

  /** Refuse `job`: shed load. `wait` (ms) gives its Retry-After. */
  private shed (job: J, err: IsopoolError, wait?: number): void {
    this.shedAt = this.clock.now()
    job.refuse(err, wait === undefined ? undefined : retryAfter(wait))
  }
}

/** Retry-After for an expected wait of `wait` ms: the seconds it takes the isolates to clear what
 * is ahead now, 1 to 60. */
export function retryAfter (wait: number): number {
  return Math.min(60, Math.max(1, Math.ceil(wait / 1000)))
}

function isWaiting (job: { waiting?: Waiting | null }): boolean {
  return job.waiting !== undefined && job.waiting !== null
}
