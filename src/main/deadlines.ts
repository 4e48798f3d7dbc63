// Request deadlines: one timer per timeout length, not one per request.
//
// Every route's requests have the same time (its `timeout`), so the requests of one length run
// out in the order they started: a FIFO, here a list threaded through the requests themselves
// (no node allocated), with one Node timer armed for its oldest. A request that ends leaves the
// list in O(1) and leaves the timer be; the timer, when it fires, ends every request past its
// time and is armed again for the next oldest, so it fires about once per timeout length.
//
//   list ─▶ oldest ⇄ … ⇄ newest          timer: at oldest.deadlineAt
//
// Why not setTimeout per request: a Timeout object per request, and the timer list's insert and
// unlink on the main thread's hot path (~0.2 µs a request in a `hello` profile), for a timer
// that almost never fires. (This was written while chasing the main thread's promotion of every
// request to the old generation; that turned out to be the per-request Maps, see
// src/shared/id-table.ts, not the timers: with this list alone the promotion stayed as it was.)

/** What a DeadlineList holds: an object that knows what to do when its time is up. Its list
 * fields are the list's; nothing else writes them. */
export interface Timed {
  deadlinePrev: Timed | null
  deadlineNext: Timed | null
  /** performance.now() at which its time is up; 0 while in no list. */
  deadlineAt: number
  deadlineList: DeadlineList | null
  /** Its time is up (it has left its list). */
  expired (timeout: number): void
}

export interface DeadlineClock {
  now (): number
  /** Call `fn` once, after `ms`. */
  after (ms: number, fn: () => void): void
}

const nodeClock: DeadlineClock = {
  now: () => performance.now(),
  // Unref'd: a server's listening socket keeps its process up, not a request's time.
  after: (ms, fn) => { setTimeout(fn, ms).unref() }
}

/** The timed objects of one timeout length, oldest first. */
export class DeadlineList {
  readonly timeout: number
  private readonly clock: DeadlineClock
  private head: Timed | null = null
  private tail: Timed | null = null
  /** When the timer is armed for (0: not armed). */
  private timerAt = 0
  size = 0

  constructor (timeout: number, clock: DeadlineClock = nodeClock) {
    this.timeout = timeout
    this.clock = clock
  }

  /** `t`'s time starts now (again, if it was in a list); `now` when the caller read the clock
   * already (one read a request, server.ts). */
  add (t: Timed, now = this.clock.now()): void {
    if (t.deadlineList !== null) t.deadlineList.remove(t)
    t.deadlineAt = now + this.timeout
    t.deadlineList = this
    t.deadlinePrev = this.tail
    t.deadlineNext = null
    if (this.tail === null) this.head = t
    else this.tail.deadlineNext = t
    this.tail = t
    this.size++
    // Armed already: for an older one, which re-arms it when it fires. Else for the oldest, which
    // is `t` unless this runs within fire() (an expiry that starts another request).
    if (this.timerAt === 0) this.arm(this.head!.deadlineAt)
  }

  /** `t` is over before its time (a no-op when it is in no list). */
  remove (t: Timed): void {
    if (t.deadlineList !== this) return
    const prev = t.deadlinePrev
    const next = t.deadlineNext
    if (prev === null) this.head = next
    else prev.deadlineNext = next
    if (next === null) this.tail = prev
    else next.deadlinePrev = prev
    t.deadlinePrev = t.deadlineNext = null
    t.deadlineList = null
    t.deadlineAt = 0
    this.size--
    // The timer stays armed, even with the list empty: it finds the next oldest when it fires,
    // or nothing. Cancelled here, one request at a time (a client that sends the next only after
    // the answer) would arm a timer per request again.
  }

  private arm (at: number): void {
    this.timerAt = at
    this.clock.after(Math.max(1, Math.ceil(at - this.clock.now())), this.fire)
  }

  private readonly fire = (): void => {
    this.timerAt = 0
    const now = this.clock.now()
    let t = this.head
    while (t !== null && t.deadlineAt <= now) {
      this.remove(t)
      // A timed object's expiry may add or remove others (a timeout answers, a pipelined
      // request starts): the list is read again from its head after each.
      t.expired(this.timeout)
      t = this.head
    }
    if (this.head !== null && this.timerAt === 0) this.arm(this.head.deadlineAt)
  }
}

/** The lists of a server, one per timeout length in use. */
export class Deadlines {
  private readonly lists = new Map<number, DeadlineList>()
  private readonly clock: DeadlineClock

  constructor (clock: DeadlineClock = nodeClock) {
    this.clock = clock
  }

  /** The list of `timeout` ms (> 0). */
  of (timeout: number): DeadlineList {
    let list = this.lists.get(timeout)
    if (list === undefined) {
      list = new DeadlineList(timeout, this.clock)
      this.lists.set(timeout, list)
    }
    return list
  }
}
