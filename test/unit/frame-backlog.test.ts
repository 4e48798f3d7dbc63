// The frame backlog both threads use: order, waiting for space, and the rule that a caller who
// pauses its source on `false` always hears about the write (the consumer frees space on another
// thread at any moment, so a write may succeed right after one that failed).
import { describe, expect, it } from 'vitest'
import { FrameBacklog } from '../../src/shared/frame-backlog.ts'
import type { RingProducer } from '../../src/shared/ring.ts'

/** A ring whose free space the test hands out; waitForSpace resolves when it does. */
class FakeRing {
  room = 0
  private wake: (() => void) | null = null
  waitForSpace (): Promise<unknown> {
    return new Promise<void>(resolve => { this.wake = resolve })
  }

  free (n: number): void {
    this.room += n
    const w = this.wake
    this.wake = null
    w?.()
  }
}

class Item {
  readonly name: string
  readonly ring: FakeRing
  writes = 0
  /** Succeeds on this attempt (1-based) whatever the room: the consumer freed space meanwhile. */
  readonly succeedOn: number
  constructor (ring: FakeRing, name: string, succeedOn = Infinity) {
    this.ring = ring
    this.name = name
    this.succeedOn = succeedOn
  }

  write (): boolean {
    this.writes++
    if (this.writes >= this.succeedOn) return true
    if (this.ring.room <= 0) return false
    this.ring.room--
    return true
  }
}

const tick = (): Promise<void> => new Promise(resolve => setImmediate(resolve))

function setup (): { ring: FakeRing, backlog: FrameBacklog<Item>, written: string[], drained: number[] } {
  const ring = new FakeRing()
  const written: string[] = []
  const drained: number[] = []
  const backlog = new FrameBacklog<Item>(ring as unknown as RingProducer, { written: i => written.push(i.name), drained: () => drained.push(written.length) })
  return { ring, backlog, written, drained }
}

describe('FrameBacklog', () => {
  it('writes at once what fits while nothing waits', () => {
    const { ring, backlog, written } = setup()
    ring.room = 1
    expect(backlog.add(new Item(ring, 'a'))).toBe(true)
    expect(backlog.empty).toBe(true)
    expect(written).toEqual([]) // `written` is for what had to wait
  })

  it('keeps order: what comes after a waiting item waits behind it, even if it would fit', async () => {
    const { ring, backlog, written, drained } = setup()
    expect(backlog.add(new Item(ring, 'a'))).toBe(false)
    ring.room = 5 // room now, but b must not pass a
    expect(backlog.add(new Item(ring, 'b'))).toBe(false)
    await tick()
    expect(written).toEqual(['a', 'b'])
    expect(drained).toEqual([2])
  })

  it('waits for space, and writes as the consumer frees it', async () => {
    const { ring, backlog, written } = setup()
    backlog.add(new Item(ring, 'a'))
    backlog.add(new Item(ring, 'b'))
    await tick()
    expect(written).toEqual([])
    ring.free(1)
    await tick()
    expect(written).toEqual(['a'])
    ring.free(1)
    await tick()
    expect(written).toEqual(['a', 'b'])
  })

  it('never reports a write before add() has returned false, even when the next attempt succeeds', async () => {
    const { ring, backlog, written } = setup()
    const item = new Item(ring, 'a', 2) // fails in add(), would succeed on the flush's first try
    let paused = false
    expect(backlog.add(item)).toBe(false)
    paused = true // what the caller does on false
    expect(written).toEqual([])
    await tick()
    expect(written).toEqual(['a'])
    expect(paused).toBe(true)
  })

  it('drops items whose messages were given up, and writes nothing once stopped', async () => {
    const { ring, backlog, written } = setup()
    for (const n of ['a', 'b', 'c']) backlog.add(new Item(ring, n))
    expect(backlog.drop(i => i.name === 'b').map(i => i.name)).toEqual(['b'])
    ring.free(5)
    await tick()
    expect(written).toEqual(['a', 'c'])
    backlog.add(new Item(ring, 'd', 1000))
    backlog.stop()
    ring.free(5)
    await tick()
    expect(written).toEqual(['a', 'c'])
  })

  it('counts what waits, and is empty again once it is written', async () => {
    const { ring, backlog } = setup()
    backlog.add(new Item(ring, 'a'))
    backlog.add(new Item(ring, 'b'))
    expect([backlog.empty, backlog.length]).toEqual([false, 2])
    ring.free(2)
    await tick()
    expect([backlog.empty, backlog.length]).toEqual([true, 0])
  })

  it('flushes again for what waits after an earlier wait was drained', async () => {
    const { ring, backlog, written, drained } = setup()
    backlog.add(new Item(ring, 'a'))
    ring.free(1)
    await tick()
    expect(backlog.add(new Item(ring, 'b'))).toBe(false)
    ring.free(1)
    await tick()
    expect(written).toEqual(['a', 'b'])
    expect(drained).toEqual([1, 2])
  })

  it('once stopped, neither writes nor queues what is added, nor says it drained', async () => {
    const { ring, backlog, written, drained } = setup()
    const a = new Item(ring, 'a')
    backlog.add(a)
    await tick() // the flush waits for space
    backlog.stop()
    expect(backlog.length).toBe(0)
    const e = new Item(ring, 'e')
    expect(backlog.add(e)).toBe(false)
    ring.free(5)
    await tick()
    expect(written).toEqual([])
    expect(drained).toEqual([])
    expect(e.writes).toBe(1) // the attempt in add() only
  })
})
