// Where a request goes among the isolates that can take it: the placement policy, one small
// interface with an implementation per rule (the `placement` option), all held to one shared
// test suite (test/unit/placement.test.ts). The dispatcher (dispatch.ts) decides whether a
// request may be placed now at all — admission, the queue, the long requests it holds back —
// and asks the policy only which of the isolates that may take it should.
//
//   'spread'  the isolate with the least expected work in flight, then the fewest requests: a
//             light request lands where it waits least, at the price of waking every isolate in
//             turn when the work is light (each wake-up of a sleeping thread is ~50 µs on a VM,
//             more than a light request costs to run).
//   'warm'    a light request goes to an isolate that is awake already (running, or looking at
//             its ring) while its expected work stays within WARM_MS, the most recently active
//             one first, so light traffic packs onto the isolates that are up and the others
//             sleep; when none is, or for a long request, as 'spread'.
//
// A policy is picked once, at start-up; it reads only the states it is handed and the clock the
// dispatcher passes in, so every rule is tested with a fake clock and no threads.

import { LONG_MS } from './route-costs.ts'

/** An isolate as a placement policy sees it. */
export interface IsolateState {
  /** Expected ms of work in flight: the learned costs of the requests placed on it. */
  readonly work: number
  /** Requests in flight on it. */
  readonly inFlight: number
  /** Its thread is not asleep on its request ring: it runs a handler or looks at the ring, so a
   * request placed there now costs no wake-up. */
  readonly awake: boolean
  /** When (the dispatcher's clock, ms) it last took a request or answered one. */
  readonly lastActive: number
}

/** Picks the isolate a request goes to. */
export interface PlacementPolicy {
  /** Its name, as the `placement` option gives it. */
  readonly name: string
  /**
   * Of `candidates`, among those `eligible` admits (it may be asked more than once per
   * candidate), the one a request expected to cost `cost` ms should go to at `now`; null when
   * none is eligible.
   */
  pick<C extends IsolateState> (candidates: readonly C[], eligible: (c: C) => boolean, cost: number, now: number): C | null
}

/** Least expected work, then fewest in flight; the first of equals (a stable order). */
export const spreadPolicy: PlacementPolicy = {
  name: 'spread',
  pick (candidates, eligible) {
    let best = null
    for (let i = 0; i < candidates.length; i++) {
      const c = candidates[i]
      if (!eligible(c)) continue
      if (best === null || c.work < best.work || (c.work === best.work && c.inFlight < best.inFlight)) best = c
    }
    return best
  }
}

/** An awake isolate takes light requests while its expected work, the new one's included, stays
 * within this many ms: what a light request placed there may wait behind, against a wake-up's
 * ~0.05 ms and a second thread's CPU. Half a long request (route-costs.ts). */
export const WARM_MS = LONG_MS / 2

/** Light requests to the most recently active awake isolate with little work; else 'spread'. */
export const warmPolicy: PlacementPolicy = {
  name: 'warm',
  pick (candidates, eligible, cost, now) {
    if (cost < LONG_MS) {
      let warm = null
      for (let i = 0; i < candidates.length; i++) {
        const c = candidates[i]
        if (!c.awake || c.work + cost > WARM_MS || !eligible(c)) continue
        if (warm === null || c.lastActive > warm.lastActive || (c.lastActive === warm.lastActive && c.work < warm.work)) warm = c
      }
      if (warm !== null) return warm
    }
    return spreadPolicy.pick(candidates, eligible, cost, now)
  }
}

/** The policies the `placement` option names. */
export const PLACEMENT_POLICIES: Readonly<Record<string, PlacementPolicy>> = { spread: spreadPolicy, warm: warmPolicy }
