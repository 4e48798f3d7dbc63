// When and where each request runs: admission (a bounded queue), placement (the isolate with the
// least expected work), and the holding of long requests (route-costs.ts has the model). Policy
// only: the dispatcher sees isolates through Candidate and requests through Job, and reads time
// from an injected Clock, so every rule here is tested without sockets, threads or sleeps
// (test/unit/dispatch.test.ts).
//
//   submit(job) ── queue empty, a candidate can take it ──▶ candidate.take(job) → job.placed(p)
//        │                                                  (least work, then fewest in flight)
//        ├── every candidate full ─────────────────────────▶ queue   (FIFO; pump() retries)
//        ├── long, every candidate has its long ones ───────▶ held    (light ones pass it)
//        └── queue + held at maxQueue ─────────────────────▶ job.refuse(503 overloaded)
//
// Order: nothing passes the queue (a request that finds others waiting waits behind them), light
// requests pass held long ones, and no request passes a held one of its own route (a route whose
// cost hovers around LONG_MS must not have its held requests passed by its own later ones that
// came in as light). Requests moved off an isolate that died or stalled before they started go
// back to the front of the queue, in the order they were accepted.

import { IsopoolError } from '../shared/errors.ts'
import { LIGHT_WINDOW_MS, LONG_MS, MAX_LONG, MAX_LONG_MIXED } from './route-costs.ts'

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
  /** Expected ms of isolate work (the route's learned cost, read when it is placed). */
  expectedCost (): number
  /** The cost it was placed with, charged to the candidate that took it. */
  cost: number
  /** Answered or given up: it needs no place any more. */
  readonly settled: boolean
  /** It is on `placement` now: its frames go there. */
  placed (placement: P): void
  /** No room for it: answer `err`. */
  refuse (err: IsopoolError): void
}

/** An isolate as the dispatcher sees it. */
export interface Candidate<J, P> {
  /** Expected ms of work in flight: the costs of the requests placed on it. */
  readonly work: number
  readonly inFlight: number
  /** Long requests in flight (cost ≥ LONG_MS). */
  readonly long: number
  /** False while it may take nothing: starting or stopping, stalled, at maxInFlight, its ring
   * backed up. */
  readonly accepting: boolean
  /** Put `job` on it: the placement, or null when its ring has no room now (it reports the
   * space later, and the dispatcher's pump() runs). */
  take (job: J): P | null
}

const PLACED = 0
const FULL = 1
const HELD = 2

export class Dispatcher<P, J extends Job<P> = Job<P>> {
  private readonly clock: Clock
  private readonly maxQueue: number
  /** Isolates that may take requests, in a stable order (the current generation). */
  private candidates: readonly Candidate<J, P>[] = []
  /** Requests waiting for an isolate, oldest first. */
  private queue: J[] = []
  /** Long requests waiting for an isolate with room for one more of them; they wait here, where
   * they hold up no one, not behind a job on an isolate. */
  private held: J[] = []
  /** Held requests per route. */
  private readonly heldOf = new Map<object, number>()
  /** When a request that is not a long one was last placed, its route, and when one of another
   * route was: whether light requests come is asked for routes other than the long request's
   * own (one whose cost hovers around LONG_MS has no one to protect from it). */
  private lightAt = -Infinity
  private lightRoute: object | null = null
  private otherLightAt = -Infinity

  constructor (options: { maxQueue: number }, clock: Clock = systemClock) {
    this.maxQueue = options.maxQueue
    this.clock = clock
  }

  /** The isolates requests may go to; waiting requests are placed on them at once. */
  setCandidates (candidates: readonly Candidate<J, P>[]): void {
    this.candidates = candidates
    this.pump()
  }

  /** Requests waiting in the main thread. */
  get waiting (): number { return this.queue.length + this.held.length }

  /** A new request: placed now, queued, held, or refused when the main thread holds maxQueue. */
  submit (job: J): void {
    if (this.queue.length > 0) this.wait(job)
    // No overtaking among long requests, nor within a route.
    else if (this.held.length > 0 && ((this.heldOf.get(job.route) ?? 0) > 0 || job.expectedCost() >= LONG_MS)) this.hold(job)
    else {
      const placed = this.place(job)
      if (placed === FULL) this.wait(job)
      else if (placed === HELD) this.hold(job)
    }
  }

  /**
   * A request that was accepted earlier and lost its place before it started (its isolate died,
   * stalled, or was retired): back in line before every request accepted after it, whatever the
   * queue's length — it was admitted once. The caller pumps once it has put back all it moves.
   */
  requeue (job: J): void {
    let i = 0
    while (i < this.queue.length && this.queue[i].seq < job.seq) i++
    this.queue.splice(i, 0, job)
  }

  /** `job` no longer waits (its client left, or its time ran out). */
  withdraw (job: J): void {
    const i = this.queue.indexOf(job)
    if (i >= 0) this.queue.splice(i, 1)
    const j = this.held.indexOf(job)
    if (j >= 0) {
      this.held.splice(j, 1)
      this.unheld(job)
    }
  }

  /** Take every waiting request out (to answer them at shutdown), oldest first. */
  takeAll (): J[] {
    const all = [...this.queue.splice(0), ...this.held.splice(0)]
    this.heldOf.clear()
    return all
  }

  /** Every waiting request, for a look at each (rerouting after a reload: its route may change,
   * so the held counts are taken again after). */
  forEachWaiting (fn: (job: J) => void): void {
    for (const job of [...this.queue, ...this.held]) fn(job)
    this.heldOf.clear()
    for (const job of this.held) this.heldOf.set(job.route, (this.heldOf.get(job.route) ?? 0) + 1)
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
    while (this.queue.length > 0) {
      const job = this.queue[0]
      if (!job.settled) {
        const placed = this.place(job)
        if (placed === FULL) return
        if (placed === HELD) this.pushHeld(job) // moves from one list to the other: no new place taken
      }
      this.queue.shift()
    }
    while (this.held.length > 0) {
      const job = this.held[0]
      if (!job.settled && this.place(job) !== PLACED) return
      this.held.shift()
      this.unheld(job)
    }
  }

  /**
   * Put `job` on the candidate that can take it now and will be free soonest: PLACED; FULL when
   * none can take anything now; HELD when it is a long one and every candidate that could take it
   * already has as many long ones in flight as it may.
   */
  private place (job: J): number {
    const candidates = this.candidates
    // The route's cost as known now (a request may have waited while it was learned).
    job.cost = job.expectedCost()
    const long = job.cost >= LONG_MS
    const now = this.clock.now()
    const maxLong = !long ? 0
      : now - (job.route === this.lightRoute ? this.otherLightAt : this.lightAt) < LIGHT_WINDOW_MS ? MAX_LONG_MIXED : MAX_LONG
    let full: Candidate<J, P>[] | null = null
    let held = false
    let placement: P | null = null
    while (placement === null) {
      let best: Candidate<J, P> | null = null
      for (let i = 0; i < candidates.length; i++) {
        const c = candidates[i]
        if (!c.accepting || (full !== null && full.includes(c))) continue
        if (long && c.long >= maxLong) {
          held = true
          continue
        }
        // Least expected work in flight (route-costs.ts), then fewest requests.
        if (best === null || c.work < best.work || (c.work === best.work && c.inFlight < best.inFlight)) best = c
      }
      if (best === null) return held ? HELD : FULL
      placement = best.take(job)
      // Its ring is full: try the next one; it reports its space, and pump() comes back.
      if (placement === null) (full ??= []).push(best)
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

  private wait (job: J): void {
    if (this.overloaded(job)) return
    this.queue.push(job)
  }

  private hold (job: J): void {
    if (!this.overloaded(job)) this.pushHeld(job)
  }

  private pushHeld (job: J): void {
    this.held.push(job)
    this.heldOf.set(job.route, (this.heldOf.get(job.route) ?? 0) + 1)
  }

  /** `job` left the held list. */
  private unheld (job: J): void {
    const n = (this.heldOf.get(job.route) ?? 1) - 1
    if (n === 0) this.heldOf.delete(job.route)
    else this.heldOf.set(job.route, n)
  }

  /** Refuse with 503 when the main thread already holds maxQueue requests. */
  private overloaded (job: J): boolean {
    if (this.queue.length + this.held.length >= this.maxQueue) {
      job.refuse(new IsopoolError('ISOPOOL_ERR_OVERLOADED'))
      return true
    }
    return false
  }
}
