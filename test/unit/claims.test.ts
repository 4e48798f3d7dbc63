// The claim table's rules, on one thread: a request is claimed or revoked, never both, and a slot
// reused for another request cannot be claimed with the old id. (The cross-thread ordering rests
// on Atomics.compareExchange; test/faults.test.ts shows it over real isolates.)
import { describe, expect, it } from 'vitest'
import { busyClock, ClaimTable, createClaimBuffer, MAX_REQUEST_ID, nextRequestId } from '../../src/shared/claims.ts'

const table = (slots = 4): ClaimTable => new ClaimTable(createClaimBuffer(slots), 0)

describe('claims', () => {
  it('let the isolate claim an offered request once, and the main thread then not revoke it', () => {
    const t = table()
    t.offer(1, 7)
    expect(t.claimed(1, 7)).toBe(false)
    expect(t.claim(1, 7)).toBe(true)
    expect(t.claim(1, 7)).toBe(false)
    expect(t.claimed(1, 7)).toBe(true)
    expect(t.revoke(1, 7)).toBe(false)
  })

  it('let the main thread revoke an unclaimed request, and the isolate then not claim it', () => {
    const t = table()
    t.offer(2, 9)
    expect(t.revoke(2, 9)).toBe(true)
    expect(t.claim(2, 9)).toBe(false)
    expect(t.revoke(2, 9)).toBe(false)
  })

  it('keep a stale frame from claiming a slot that now holds another request, and one claimed before', () => {
    const t = table()
    t.offer(0, 5)
    expect(t.revoke(0, 5)).toBe(true)
    t.offer(0, 6) // the slot is reused; request 5's frame is still in the ring
    expect(t.claim(0, 5)).toBe(false)
    expect(t.claim(0, 6)).toBe(true)
    t.offer(0, 7) // a claimed slot is reused without being cleared first
    expect(t.claim(0, 6)).toBe(false)
    expect(t.claim(0, 7)).toBe(true)
  })

  it('use 31-bit ids that wrap to 1, never 0', () => {
    expect(nextRequestId(1)).toBe(2)
    expect(nextRequestId(MAX_REQUEST_ID)).toBe(1)
    const t = table()
    t.offer(3, MAX_REQUEST_ID)
    expect(t.claim(3, MAX_REQUEST_ID)).toBe(true)
    expect(t.claimed(3, MAX_REQUEST_ID)).toBe(true)
  })

  it('tell how long the running handler has kept the isolate, across the 31-bit wrap', () => {
    const t = table()
    expect(t.busyFor(1000)).toBe(0)
    t.busy(1000)
    expect(t.busyFor(1250)).toBe(250)
    t.idle()
    expect(t.busyFor(5000)).toBe(0)
    const wrap = 2 ** 31
    t.busy(wrap - 10)
    expect(t.busyFor(wrap + 30)).toBe(40)
  })

  it('count a handler that started after the caller read its clock as busy for 0 ms, not 2^31 - 1', () => {
    // The supervisor reads `now`, then the isolate marks a handler busy a millisecond later.
    const t = table()
    t.busy(5001)
    expect(t.busyFor(5000)).toBe(0)
    expect(t.busyFor(5000.9)).toBe(0)
    t.busy(2 ** 31 + 3) // the isolate's count has wrapped, the caller's not yet
    expect(t.busyFor(2 ** 31 - 2)).toBe(0)
    t.busy(2000)
    expect(t.busyFor(2000 + 2 ** 30 - 1)).toBe(2 ** 30 - 1)
  })

  it('count a difference of 2^30 ms or more as a handler that started after the clock was read', () => {
    const t = table()
    t.busy(2000)
    expect(t.busyFor(2000 + 2 ** 30)).toBe(0)
    expect(t.busyFor(2000 + 2 ** 30 + 1)).toBe(0)
  })

  it('have one slot per request in flight, each its own', () => {
    const t = table(3)
    expect(t.size).toBe(3)
    for (let slot = 0; slot < 3; slot++) t.offer(slot, slot + 10)
    expect([0, 1, 2].map(slot => t.claim(slot, slot + 10))).toEqual([true, true, true])
    expect(t.busyFor(1)).toBe(0) // the slots do not touch the busy word
  })

  it('read a clock in ms since the epoch both threads share', () => {
    const epoch = performance.timeOrigin - 1000
    const clock = busyClock(epoch)
    const before = performance.now()
    const at = clock()
    const after = performance.now()
    expect(at).toBeGreaterThanOrEqual(before + 1000 - 1e-3)
    expect(at).toBeLessThanOrEqual(after + 1000 + 1e-3)
  })
})
