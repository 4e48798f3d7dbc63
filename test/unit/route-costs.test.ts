// What a route's requests are expected to cost an isolate (src/main/route-costs.ts): a guess
// until the isolates have measured one, then a moving average of what they measured.
import { describe, expect, it } from 'vitest'
import { LONG_MS, RouteCost } from '../../src/main/route-costs.ts'

describe('RouteCost', () => {
  it('takes a route nobody has answered yet for a light one', () => {
    const cost = new RouteCost()
    expect(cost.expected).toBeGreaterThan(0)
    expect(cost.expected).toBeLessThan(LONG_MS)
  })

  it('is the first measurement as it is, a zero one included', () => {
    const zero = new RouteCost()
    zero.observe(0)
    expect(zero.expected).toBe(0)
    const cost = new RouteCost()
    cost.observe(12.5)
    expect(cost.expected).toBe(12.5)
  })

  it('moves part of the way toward each new measurement, from below and from above', () => {
    const cost = new RouteCost()
    cost.observe(10)
    cost.observe(20)
    expect(cost.expected).toBeGreaterThan(10)
    expect(cost.expected).toBeLessThan(20)
    const before = cost.expected
    cost.observe(0)
    expect(cost.expected).toBeGreaterThan(0)
    expect(cost.expected).toBeLessThan(before)
    const fromZero = new RouteCost()
    fromZero.observe(0)
    fromZero.observe(10)
    expect(fromZero.expected).toBeGreaterThan(0)
    expect(fromZero.expected).toBeLessThan(10)
  })

  it('settles on what the isolates keep measuring, never past it', () => {
    const cost = new RouteCost()
    cost.observe(10)
    for (let i = 0; i < 100; i++) {
      cost.observe(20)
      expect(cost.expected).toBeLessThanOrEqual(20)
    }
    expect(cost.expected).toBeCloseTo(20, 1)
    for (let i = 0; i < 100; i++) cost.observe(1)
    expect(cost.expected).toBeCloseTo(1, 1)
  })
})
