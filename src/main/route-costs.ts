// What a request of each route costs an isolate, as the isolates measure it, for placement.
//
// Fewest-requests-in-flight treats a 2 ms CPU job and a 20 µs lookup alike, so a light request
// may land behind a heavy one on an isolate that cannot take it up until the job is done — the
// latency of light requests under a mixed load. Placing by the expected work in flight instead
// (the sum of its requests' route costs) sends light requests to the isolate that is free soon.
//
// The main thread cannot see handlers run, so the isolate measures it: each answer's RES_HEAD
// carries how long its handler's synchronous part kept the isolate from doing anything else
// (frame.ts, resArg). That is the cost to place by — not the answer's latency: a handler that
// awaits a 100 ms query costs its isolate almost nothing meanwhile, and counting the wait would
// hold such requests back as if they were CPU jobs.

// Placement by work alone still lets long requests pile up on every isolate, and a light one
// then waits behind all of them wherever it goes. So a long request (expected LONG_MS or more)
// goes only to an isolate with fewer than a few long ones in flight; the others wait in the
// main thread, where they hold up no one. How few depends on who is there to protect: while
// light requests of other routes come (one in the last LIGHT_WINDOW_MS), one long request per
// isolate, so a light one waits behind one job at most; with only long requests about, two, so
// the next job is already in the isolate's ring when the current one ends and no time goes to
// the round trip in between (on a VM ~100 µs: two sleeping threads to wake). Held requests keep
// their order within a route: a route whose cost hovers around LONG_MS must not have its held
// requests passed by its own later ones that came in as light (dispatch.ts).

/** Requests expected to keep an isolate busy this long (ms) or longer are long ones. */
export const LONG_MS = 1
/** Long requests in flight on one isolate at most: while light ones come, and otherwise. */
export const MAX_LONG_MIXED = 1
export const MAX_LONG = 2
/** How recent a light request must be for MAX_LONG_MIXED to apply. */
export const LIGHT_WINDOW_MS = 1000

// Light requests passing held long ones keeps their latency low, but under a steady light load a
// long one could wait for ever — and with a closed-loop client (every connection sends its next
// request when the last is answered), the faster the light ones are answered, the more connections
// end up parked on long ones, so their wait grows with the light traffic served. So the wait is
// bounded, as a stretch: a long request held HELD_STRETCH times its own expected cost (and at least
// HELD_FOR_MS) is overdue: it may go to an isolate as a second long one (MAX_LONG) while light ones
// come, and the light ones placed there after it wait behind it (dispatch.ts). A 2 ms job is passed
// for 20 ms at most, a 500 ms one for 2 s: each is delayed in proportion to what it costs. One
// that finds every isolate at MAX_LONG holds up no light one: that would not start it sooner.
/** The shortest time (ms) a long request may be held while light ones pass it. */
export const HELD_FOR_MS = 20
/** How many times its own expected cost a long request may be held while light ones pass it. */
export const HELD_STRETCH = 4

/** How long (ms) a long request expected to cost `cost` ms may be held while light ones pass it. */
export const heldFor = (cost: number): number => Math.max(HELD_FOR_MS, HELD_STRETCH * cost)

/** A route nobody has answered yet is taken to cost this much, in ms: about a light request. */
const UNKNOWN_MS = 0.05
/** Weight of the newest observation in the moving average. */
const ALPHA = 0.1

/** What a request of one route keeps an isolate busy for, as a moving average of what the
 * isolates measured. One per route; its requests read it when they are placed. */
export class RouteCost {
  private ms = -1

  /** Expected ms a request of this route keeps an isolate busy. */
  get expected (): number {
    return this.ms < 0 ? UNKNOWN_MS : this.ms
  }

  /** A request of this route kept an isolate busy for `ms`. */
  observe (ms: number): void {
    this.ms = this.ms < 0 ? ms : this.ms + ALPHA * (ms - this.ms)
  }
}
