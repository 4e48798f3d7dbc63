// DeadlineList (src/main/deadlines.ts) with a fake clock: the timer it arms, who expires when,
// and that it arms no timer per request.
import { describe, expect, it } from 'vitest'
import { DeadlineList } from '../../src/main/deadlines.ts'
import type { DeadlineClock, Timed } from '../../src/main/deadlines.ts'

class FakeClock implements DeadlineClock {
  t = 0
  armed: { at: number, fn: () => void, live: boolean }[] = []
  now (): number { return this.t }
  after (ms: number, fn: () => void): void {
    this.armed.push({ at: this.t + ms, fn, live: true })
  }
  get live (): number { return this.armed.filter(h => h.live).length }
  /** Move to `t`, running every live timer due by then, in order. */
  advance (to: number): void {
    for (;;) {
      const due = this.armed.filter(h => h.live && h.at <= to).sort((a, b) => a.at - b.at)[0]
      if (due === undefined) break
      this.t = due.at
      due.live = false
      due.fn()
    }
    this.t = to
  }
}

class Item implements Timed {
  deadlinePrev: Timed | null = null
  deadlineNext: Timed | null = null
  deadlineAt = 0
  deadlineList: DeadlineList | null = null
  expiredAt: number | null = null
  readonly name: string
  readonly clock: FakeClock
  onExpire: (() => void) | null = null
  constructor (name: string, clock: FakeClock) { this.name = name; this.clock = clock }
  expired (): void { this.expiredAt = this.clock.t; this.onExpire?.() }
}

describe('DeadlineList', () => {
  it('takes the time its caller read for an item, not the clock\'s later one', () => {
    const clock = new FakeClock()
    const list = new DeadlineList(100, clock)
    const a = new Item('a', clock)
    clock.advance(10)
    list.add(a, 4) // read at 4, added at 10
    expect(a.deadlineAt).toBe(104)
    clock.advance(103)
    expect(a.expiredAt).toBeNull()
    clock.advance(104)
    expect(a.expiredAt).toBe(104)
  })

  it('expires each item its timeout after it was added, oldest first, with one timer armed at a time', () => {
    const clock = new FakeClock()
    const list = new DeadlineList(100, clock)
    const a = new Item('a', clock)
    const b = new Item('b', clock)
    const c = new Item('c', clock)
    list.add(a)
    clock.advance(30)
    list.add(b)
    clock.advance(60)
    list.add(c)
    expect(clock.live).toBe(1)
    expect(clock.armed).toHaveLength(1)
    clock.advance(100)
    expect(a.expiredAt).toBe(100)
    expect(b.expiredAt).toBeNull()
    clock.advance(500)
    expect([a.expiredAt, b.expiredAt, c.expiredAt]).toEqual([100, 130, 160])
    expect(list.size).toBe(0)
    expect(clock.live).toBe(0)
    // A later one after the list ran empty gets a timer of its own.
    const d = new Item('d', clock)
    list.add(d)
    clock.advance(700)
    expect(d.expiredAt).toBe(600)
  })

  it('never expires an item removed first, and arms no timer per item', () => {
    const clock = new FakeClock()
    const list = new DeadlineList(50, clock)
    const items = Array.from({ length: 1000 }, (_, i) => new Item(String(i), clock))
    // A thousand requests that each end before their time, one after the other: one timer in all,
    // which finds none when it fires and arms no other.
    for (const it of items) {
      list.add(it)
      list.remove(it)
    }
    expect(clock.armed).toHaveLength(1)
    clock.advance(1000)
    expect(clock.armed).toHaveLength(1)
    expect(clock.live).toBe(0)
    expect(items.every(it => it.expiredAt === null)).toBe(true)
    list.remove(items[0]) // not in the list: nothing happens
    expect(list.size).toBe(0)
  })

  it('starts the time again for an item added anew (a streamed body that moved)', () => {
    const clock = new FakeClock()
    const list = new DeadlineList(100, clock)
    const a = new Item('a', clock)
    const b = new Item('b', clock)
    list.add(a)
    list.add(b)
    clock.advance(80)
    list.add(a) // touched: now behind b
    clock.advance(100)
    expect(b.expiredAt).toBe(100)
    expect(a.expiredAt).toBeNull()
    clock.advance(180)
    expect(a.expiredAt).toBe(180)
  })

  it('times an item added while another expires (a pipelined request that starts) from then', () => {
    const clock = new FakeClock()
    const list = new DeadlineList(100, clock)
    const a = new Item('a', clock)
    const b = new Item('b', clock)
    const late = new Item('late', clock)
    a.onExpire = () => { list.add(late) }
    list.add(a)
    clock.advance(10)
    list.add(b)
    clock.advance(100)
    expect(a.expiredAt).toBe(100)
    expect(late.deadlineAt).toBe(200)
    clock.advance(110)
    expect(b.expiredAt).toBe(110)
    clock.advance(250)
    expect(late.expiredAt).toBe(200)
  })
})
