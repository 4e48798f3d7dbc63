// Token buckets by key: the rate limit's arithmetic, with no clock of its own (it is handed one)
// and no timers, so it is unit-tested with a fake clock.
//
//   a bucket holds up to `max` tokens and refills continuously, `max` per `window` ms; a request
//   takes one, or is refused when there is less than one
//
// A bucket that has refilled to `max` is the same as no bucket, so buckets are made on first use
// and dropped once full again. Memory is bounded two ways, both amortized into take():
//
//   - a sweep drops every full bucket each time the map has doubled since the last sweep (O(1)
//     a take on average, however many keys come and go);
//   - past `maxKeys` buckets, the least recently used goes (the map is kept in use order: a
//     bucket taken from moves to its end, at most once a second), so a flood of distinct keys costs at most `maxKeys`
//     buckets. Such an evicted key starts again with a full bucket: under a flood that large its
//     limit leaks, its memory does not.

interface Bucket {
  tokens: number
  /** The clock's time when `tokens` was last brought up to date. */
  at: number
  /** When it was last moved to the end of the map (the use order). */
  moved: number
}

/** How stale a bucket's place in the use order may get before a take moves it (ms). */
const TOUCH_MS = 1000

/** Buckets kept before the first sweep. */
const FIRST_SWEEP = 1024

export class TokenBuckets {
  readonly max: number
  readonly window: number
  /** Tokens a bucket gains per ms. */
  private readonly rate: number
  private readonly now: () => number
  private readonly maxKeys: number
  /** Least recently used first. */
  private readonly buckets = new Map<string, Bucket>()
  private nextSweep = FIRST_SWEEP
  /** Whole tokens left after the last take(). */
  remaining = 0
  /** Ms from the last take() until its bucket is full again. */
  resetMs = 0
  /** Ms from the last take() until its bucket has a whole token again; 0 when it has one now. */
  retryMs = 0

  /** `max` requests per `window` ms; `now` in ms (performance.now by default). */
  constructor (max: number, window: number, now: () => number = () => performance.now(), maxKeys = 65_536) {
    this.max = max
    this.window = window
    this.rate = max / window
    this.now = now
    this.maxKeys = maxKeys
  }

  /** Buckets held now. */
  get size (): number { return this.buckets.size }

  /** Take a token from `key`'s bucket at `now` (the clock's time: a caller that read it already
   * hands it over): true if there was one. Sets remaining, resetMs, retryMs. */
  take (key: string, now: number = this.now()): boolean {
    const max = this.max
    const map = this.buckets
    let b = map.get(key)
    if (b === undefined) {
      if (map.size >= this.nextSweep) this.sweep(now)
      if (map.size >= this.maxKeys) map.delete(map.keys().next().value!)
      b = { tokens: max, at: now, moved: now }
      map.set(key, b)
    } else {
      // To the end, as the most recently used — when it was last moved more than a second ago:
      // eviction only needs the order roughly (it drops the longest unused), and a key that
      // comes often costs a Map delete and insert once a second, not on every request.
      if (now - b.moved > TOUCH_MS) {
        map.delete(key)
        map.set(key, b)
        b.moved = now
      }
      const elapsed = now - b.at
      if (elapsed > 0) {
        const t = b.tokens + elapsed * this.rate
        b.tokens = t > max ? max : t
        b.at = now
      }
    }
    const ok = b.tokens >= 1
    if (ok) b.tokens -= 1
    const tokens = b.tokens
    this.remaining = Math.floor(tokens)
    this.resetMs = Math.ceil((max - tokens) / this.rate)
    this.retryMs = tokens >= 1 ? 0 : Math.ceil((1 - tokens) / this.rate)
    return ok
  }

  /** Drop every bucket that is full by `now`; the next sweep once the map has doubled. */
  sweep (now: number): void {
    const max = this.max
    const rate = this.rate
    for (const [key, b] of this.buckets) {
      if (b.tokens + (now - b.at) * rate >= max) this.buckets.delete(key)
    }
    this.nextSweep = Math.max(FIRST_SWEEP, 2 * this.buckets.size)
  }
}
