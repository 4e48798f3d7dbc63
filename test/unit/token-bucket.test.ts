// Token buckets by key (src/main/token-bucket.ts) on a fake clock: what a burst gets, how a
// bucket refills, the numbers the RateLimit fields report, and the bounds on memory.
import { describe, expect, it } from 'vitest'
import { TokenBuckets } from '../../src/main/token-bucket.ts'

function clock (): { now: () => number, advance: (ms: number) => void } {
  let t = 1000
  return { now: () => t, advance: (ms) => { t += ms } }
}

describe('TokenBuckets', () => {
  it('lets a burst of max through, then refuses', () => {
    const c = clock()
    const b = new TokenBuckets(3, 60_000, c.now)
    expect([b.take('a'), b.take('a'), b.take('a'), b.take('a')]).toEqual([true, true, true, false])
    expect(b.remaining).toBe(0)
  })

  it('takes at the time it is handed, when it is handed one, rather than its clock\'s', () => {
    const c = clock()
    const b = new TokenBuckets(10, 1000, c.now) // a token every 100 ms
    for (let i = 0; i < 10; i++) expect(b.take('k', 1000)).toBe(true)
    expect(b.take('k', 1099)).toBe(false)
    expect(b.take('k', 1100)).toBe(true) // the clock still says 1000
    expect(b.take('k')).toBe(false)
    expect(b.resetMs).toBe(1000)
  })

  it('keeps a bucket per key', () => {
    const c = clock()
    const b = new TokenBuckets(1, 60_000, c.now)
    expect(b.take('a')).toBe(true)
    expect(b.take('a')).toBe(false)
    expect(b.take('b')).toBe(true)
  })

  it('refills max per window, continuously, and never past max', () => {
    const c = clock()
    const b = new TokenBuckets(10, 1000, c.now) // a token every 100 ms
    for (let i = 0; i < 10; i++) expect(b.take('k')).toBe(true)
    expect(b.take('k')).toBe(false)
    c.advance(99)
    expect(b.take('k')).toBe(false)
    c.advance(1)
    expect(b.take('k')).toBe(true) // 100 ms after the bucket ran dry: one token
    expect(b.take('k')).toBe(false)
    c.advance(50_000) // far longer than a window: full, not more
    let n = 0
    while (b.take('k')) n++
    expect(n).toBe(10)
  })

  it('reports remaining, the ms until full and the ms until a token', () => {
    const c = clock()
    const b = new TokenBuckets(4, 4000, c.now) // a token a second
    expect(b.take('k')).toBe(true)
    expect(b.remaining).toBe(3)
    expect(b.resetMs).toBe(1000)
    expect(b.retryMs).toBe(0)
    b.take('k'); b.take('k'); b.take('k')
    expect(b.remaining).toBe(0)
    expect(b.resetMs).toBe(4000)
    expect(b.retryMs).toBe(1000)
    c.advance(250)
    expect(b.take('k')).toBe(false)
    expect(b.retryMs).toBe(750)
    expect(b.resetMs).toBe(3750)
  })

  it('does not refill backwards when the clock does not move forward', () => {
    let t = 5000
    const b = new TokenBuckets(1, 1000, () => t)
    expect(b.take('k')).toBe(true)
    t = 4000
    expect(b.take('k')).toBe(false)
  })

  it('sweep() drops the buckets that are full again, and only those', () => {
    const c = clock()
    const b = new TokenBuckets(2, 1000, c.now)
    b.take('old')
    c.advance(400)
    b.take('new')
    c.advance(200) // 'old' has refilled (600 ms ≥ 500 for its one token), 'new' has not (200 ms)
    b.sweep(c.now())
    expect(b.size).toBe(1)
    // 'new' kept its state: a second take leaves it with less than one token.
    expect(b.take('new')).toBe(true)
    expect(b.take('new')).toBe(false)
  })

  it('holds at most maxKeys buckets, dropping the least recently used', () => {
    const c = clock()
    const b = new TokenBuckets(1, 60_000, c.now, 3)
    b.take('a'); b.take('b'); b.take('c')
    c.advance(1001)
    expect(b.take('a')).toBe(false) // 'a' used again a second later: now 'b' is the least recent
    b.take('d')
    expect(b.size).toBe(3)
    expect(b.take('a')).toBe(false) // kept, still empty
    expect(b.take('c')).toBe(false) // kept
    expect(b.take('b')).toBe(true) // dropped, so it starts full again
  })

  it('moves a bucket in the use order at most once a second', () => {
    const c = clock()
    const b = new TokenBuckets(1, 60_000, c.now, 2)
    b.take('a'); b.take('b')
    expect(b.take('a')).toBe(false) // used again at once: its place is not moved
    b.take('c') // drops the first in the order: still 'a'
    expect(b.take('b')).toBe(false) // kept
    expect(b.take('a')).toBe(true) // dropped, so it starts full again
  })

  it('stays bounded under a flood of distinct keys, sweeping as it grows', () => {
    const c = clock()
    const b = new TokenBuckets(5, 1000, c.now)
    for (let i = 0; i < 50_000; i++) {
      b.take(`key-${i}`)
      c.advance(1) // each bucket is full again 200 ms after its one take
    }
    // The sweeps keep only what a few windows of traffic left unfilled.
    expect(b.size).toBeLessThan(3000)
  })
})
