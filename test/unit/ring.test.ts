// The ring (src/shared/ring.ts) with producer and consumer in one thread, so every state is
// chosen by the test: reservations at their limits, wrap-around and PAD frames, frames that lie
// about their length, and the wake-up protocol on the control block. A wake-up is observed
// through Atomics.notify's count: a notify of the flag after the step returns 0 when the step
// already woke the sleeper, 1 when the sleeper still waits. (The cross-thread orderings that only
// a second thread can interleave are left to test/ring.test.ts and the socket suites.)
import { describe, expect, it } from 'vitest'
import {
  align8, createRingBuffer, maxFrameOf, PAD_KIND, pollForData, RING_CONTROL_BYTES, RING_MAX_CAPACITY, RING_MIN_CAPACITY,
  RingConsumer, RingProducer
} from '../../src/shared/ring.ts'
import { FRAME_HEADER, frameId, KIND_BODY, writeFrameHeader } from '../../src/shared/frame.ts'
import type { IsopoolError } from '../../src/shared/errors.ts'

// The control block's layout (the top of ring.ts): the words both threads share.
const HEAD = 0
const ASLEEP = 1
const CAPACITY = 2
const TAIL = 16
const WAITING = 17

function pair (capacity = 4096): { p: RingProducer, c: RingConsumer, ctl: Int32Array } {
  const sab = createRingBuffer(capacity)
  return { p: new RingProducer(sab), c: new RingConsumer(sab), ctl: new Int32Array(sab, 0, RING_CONTROL_BYTES / 4) }
}

let nextId = 1
/** Publish one frame of exactly `len` bytes (its body bytes 0xab); returns its id. */
function frame (p: RingProducer, len = FRAME_HEADER): number {
  const pos = p.reserve(len, len)
  expect(pos, `room for ${len} bytes`).toBeGreaterThanOrEqual(0)
  const id = nextId++
  p.data.fill(0xab, pos, pos + len)
  writeFrameHeader(p, pos, len, KIND_BODY, 0, 0, id, 0)
  p.commit(len)
  return id
}

/** Commit a frame of `len` bytes at `pos`, as reserved, with a header that says so. */
function publish (p: RingProducer, pos: number, len: number): void {
  writeFrameHeader(p, pos, len, KIND_BODY, 0, 0, nextId++, 0)
  p.commit(len)
}

/** Read the next frame: its position and id, released. */
function take (c: RingConsumer): { pos: number, id: number, len: number } {
  const pos = c.peek()
  expect(pos, 'a frame').toBeGreaterThanOrEqual(0)
  const got = { pos, id: frameId(c, pos), len: c.frameLength }
  c.release()
  return got
}

/** Producer and consumer with frames of these lengths published, and the first `taken` read. */
function withFrames (lengths: number[], taken: number): { p: RingProducer, c: RingConsumer, ctl: Int32Array } {
  const r = pair()
  for (const len of lengths) frame(r.p, len)
  for (let i = 0; i < taken; i++) take(r.c)
  return r
}

const code = (fn: () => unknown): string | undefined => {
  try { fn() } catch (err) { return (err as IsopoolError).code }
  return undefined
}

describe('createRingBuffer', () => {
  it('takes a power of two from RING_MIN_CAPACITY to RING_MAX_CAPACITY', () => {
    for (const capacity of [RING_MIN_CAPACITY, 8192, 1 << 20]) {
      const sab = createRingBuffer(capacity)
      expect(sab.byteLength).toBe(RING_CONTROL_BYTES + capacity)
      expect(new Int32Array(sab)[CAPACITY]).toBe(capacity)
      expect(new RingConsumer(sab).capacity).toBe(capacity)
    }
    expect(createRingBuffer(RING_MAX_CAPACITY).byteLength).toBe(RING_CONTROL_BYTES + RING_MAX_CAPACITY)
  })

  it('refuses anything else with ISOPOOL_ERR_INVALID_OPTION for ringSize', () => {
    for (const capacity of [RING_MIN_CAPACITY / 2, RING_MIN_CAPACITY - 8, RING_MIN_CAPACITY + 8, 6144, RING_MAX_CAPACITY * 2, 4096.5, Number.NaN, 0, -4096]) {
      let err: IsopoolError | undefined
      try { createRingBuffer(capacity) } catch (e) { err = e as IsopoolError }
      expect(err?.code, String(capacity)).toBe('ISOPOOL_ERR_INVALID_OPTION')
      expect(err?.params.option).toBe('ringSize')
      expect(err?.message).toContain(String(capacity))
    }
  })
})

describe('reserve', () => {
  it('grants min to max bytes, never more than maxFrame, and refuses a min over it', () => {
    const { p } = pair()
    expect(p.maxFrame).toBe(maxFrameOf(4096))
    expect(p.maxFrame).toBe(2048)
    expect(p.reserve(16, 100)).toBe(0)
    expect(p.reserved).toBe(100)
    p.reserve(100, 16)
    expect(p.reserved).toBe(100)
    p.reserve(16, 5000)
    expect(p.reserved).toBe(2048)
    p.reserve(2048, 2048)
    expect(p.reserved).toBe(2048)
    let err: IsopoolError | undefined
    try { p.reserve(2049, 2049) } catch (e) { err = e as IsopoolError }
    expect(err?.code).toBe('ISOPOOL_ERR_FRAME_TOO_LARGE')
    expect(err?.params).toEqual({ size: 2049, max: 2048 })
  })

  it('refuses when the space is not there now, and takes a frame that fills it exactly', () => {
    const full = withFrames([2048, 2048], 0)
    expect(full.p.free()).toBe(0)
    expect(full.p.reserve(16, 16)).toBe(-1)
    const exact = withFrames([2048, 2032], 0) // 16 bytes left, at the end
    expect(exact.p.free()).toBe(16)
    expect(exact.p.reserve(17, 17)).toBe(-1)
    expect(exact.p.reserve(16, 100)).toBe(4080)
    expect(exact.p.reserved).toBe(16)
  })

  it('grants only what lies before the end of the data', () => {
    const { p } = withFrames([2048, 952], 2) // drained, the cursor at 3000
    expect(p.free()).toBe(4096)
    expect(p.reserve(16, 2048)).toBe(3000)
    expect(p.reserved).toBe(1096)
  })

  it('pads to the end and starts again at 0 when the frame does not fit before the end', () => {
    const { p, c } = withFrames([2048, 2040], 2) // drained, the cursor 8 bytes before the end
    expect(p.reserve(16, 16)).toBe(0)
    expect(p.reserved).toBe(16)
    const id = nextId++
    writeFrameHeader(p, 0, 16, KIND_BODY, 0, 0, id, 0)
    p.commit(16)
    expect(take(c)).toEqual({ pos: 0, id, len: 16 }) // the 8-byte PAD is skipped
    expect(p.free()).toBe(4096)
    expect(c.peek()).toBe(-1)
  })

  it('counts the PAD against the free space, and pads nothing when the frame does not fit after it', () => {
    const { p, c } = withFrames([1024, 1024, 2040], 1) // 1024 free at the start, 8 at the end
    expect(p.free()).toBe(1032)
    expect(p.reserve(1032, 1032)).toBe(-1) // 8 of the 1032 would go to the PAD
    expect(p.free()).toBe(1032)
    expect(p.reserve(16, 2048)).toBe(0)
    expect(p.reserved).toBe(1024)
    publish(p, 0, 16)
    expect(p.free()).toBe(1032 - 8 - 16)
    expect(take(c).len).toBe(1024)
    expect(take(c).len).toBe(2040)
    expect(take(c)).toMatchObject({ pos: 0, len: 16 })
  })

  it('takes a frame that fills exactly what the PAD leaves', () => {
    const { p } = withFrames([1024, 1024, 2040], 1)
    expect(p.reserve(1024, 1024)).toBe(0)
    expect(p.reserved).toBe(1024)
  })

  it('fills the ring and reads it back in order across many wrap-arounds', () => {
    const { p, c } = pair()
    const sizes = [16, 24, 40, 200, 1000, 2048, 16, 512, 1800, 88]
    const expected: number[] = []
    for (let round = 0; round < 30; round++) {
      for (const len of sizes) {
        while (p.reserve(len, len) < 0) expect(take(c).id).toBe(expected.shift())
        expected.push(frame(p, len))
      }
    }
    while (expected.length > 0) expect(take(c).id).toBe(expected.shift())
    expect(c.peek()).toBe(-1)
    expect(p.free()).toBe(4096)
  })
})

describe('commit', () => {
  it('publishes the frame: the consumer sees it and the free space shrinks by its aligned length', () => {
    const { p, c, ctl } = pair()
    expect(c.hasData()).toBe(false)
    expect(p.reserve(16, 64)).toBe(0)
    publish(p, 0, 21)
    expect(ctl[HEAD]).toBe(24)
    expect(p.free()).toBe(4096 - align8(21))
    expect(c.hasData()).toBe(true)
    expect(c.peek()).toBe(0)
    expect(c.frameLength).toBe(21)
  })

  it('refuses more than was reserved, and a commit without a reservation', () => {
    const { p } = pair()
    expect(code(() => p.commit(0))).toBe('ISOPOOL_ERR_FRAME_INVALID')
    p.reserve(16, 16)
    let err: IsopoolError | undefined
    try { p.commit(17) } catch (e) { err = e as IsopoolError }
    expect(err?.code).toBe('ISOPOOL_ERR_FRAME_INVALID')
    expect(err?.message).toContain('17')
    p.commit(16)
    expect(code(() => p.commit(16))).toBe('ISOPOOL_ERR_FRAME_INVALID') // that reservation is used up
  })
})

describe('peek and release', () => {
  it('return the same frame until release, and release only once', () => {
    const { p, c, ctl } = pair()
    const a = frame(p)
    const b = frame(p, 24)
    expect(c.peek()).toBe(0)
    expect(c.peek()).toBe(0)
    c.release()
    c.release() // nothing peeked: nothing to hand back
    expect(ctl[TAIL]).toBe(16)
    expect(p.consumed()).toBe(16)
    expect(p.free()).toBe(4096 - 24)
    expect(take(c)).toEqual({ pos: 16, id: b, len: 24 })
    expect(a).toBe(b - 1)
    expect(c.peek()).toBe(-1)
  })

  it('tell whether a frame may be ready: published, peeked, or seen but not read', () => {
    const { p, c } = pair()
    expect(c.hasData()).toBe(false)
    frame(p)
    frame(p)
    expect(c.hasData()).toBe(true) // published, not loaded yet
    c.peek()
    expect(c.hasData()).toBe(true)
    c.release()
    expect(c.hasData()).toBe(true) // the second one, already seen
    take(c)
    expect(c.hasData()).toBe(false)
    expect(c.waitForData()).not.toBeNull() // and it would sleep
    c.interrupt()
  })

  it('refuse a length that runs past what was published', () => {
    const { p, c } = withFrames([2048], 1)
    frame(p) // at 2048, 16 bytes published
    p.u32[2048 >>> 2] = 64
    let err: IsopoolError | undefined
    try { c.peek() } catch (e) { err = e as IsopoolError }
    expect(err?.code).toBe('ISOPOOL_ERR_FRAME_INVALID')
    expect(err?.message).toContain('64')
  })

  it('refuse a length that runs past the end of the data, though more was published after a wrap', () => {
    const { p, c } = withFrames([2048, 1960], 2) // drained, the cursor at 4008
    frame(p, 88) // to the end exactly
    frame(p, 200) // at 0
    p.u32[4008 >>> 2] = 200
    expect(code(() => c.peek())).toBe('ISOPOOL_ERR_FRAME_INVALID')
    p.u32[4008 >>> 2] = 88
    expect(take(c)).toMatchObject({ pos: 4008, len: 88 })
    expect(take(c)).toMatchObject({ pos: 0, len: 200 })
  })

  it('refuse a frame shorter than a frame header, and take one of just a header', () => {
    const { p, c } = pair()
    frame(p)
    expect(take(c).len).toBe(16)
    frame(p)
    p.u32[16 >>> 2] = 8
    let err: IsopoolError | undefined
    try { c.peek() } catch (e) { err = e as IsopoolError }
    expect(err?.code).toBe('ISOPOOL_ERR_FRAME_INVALID')
    expect(err?.message).toContain('8 bytes')
  })

  it('refuse a PAD that does not end the data area', () => {
    const { p, c } = withFrames([2048, 1992], 2) // drained, the cursor 56 bytes before the end
    expect(p.reserve(100, 100)).toBe(0) // behind a PAD of 56
    publish(p, 0, 100)
    expect(p.data[4040 + 4]).toBe(PAD_KIND)
    p.u32[4040 >>> 2] = 48
    let err: IsopoolError | undefined
    try { c.peek() } catch (e) { err = e as IsopoolError }
    expect(err?.code).toBe('ISOPOOL_ERR_FRAME_INVALID')
    expect(err?.message).toContain('48')
    p.u32[4040 >>> 2] = 56
    expect(take(c)).toMatchObject({ pos: 0, len: 100 })
  })
})

describe('waking the consumer', () => {
  it('wakes a consumer that sleeps at the commit of a frame', async () => {
    const { p, c, ctl } = pair()
    const wait = c.waitForData()
    expect(wait).toBeInstanceOf(Promise)
    expect(ctl[ASLEEP]).toBe(1)
    frame(p)
    expect(ctl[ASLEEP]).toBe(0)
    expect(Atomics.notify(ctl, ASLEEP)).toBe(0) // it was notified already
    expect(await wait).toBe('ok')
    expect(c.waitForData()).toBeNull() // a frame is there: no sleep
    expect(ctl[ASLEEP]).toBe(0)
  })

  it('does not notify a consumer that is awake', () => {
    const { p, ctl } = pair()
    const other = Atomics.waitAsync(ctl, ASLEEP, 0) // someone else waiting on the flag
    expect(other.async).toBe(true)
    frame(p)
    p.wake()
    expect(Atomics.notify(ctl, ASLEEP)).toBe(1) // still waiting: nobody notified it
    expect(ctl[ASLEEP]).toBe(0)
  })

  it('wakes at most twice per scheduled task: at the first commit of a burst and once after it', async () => {
    const { p, c, ctl } = pair()
    const tasks: (() => void)[] = []
    p.wakeWith(task => tasks.push(task))
    let wait = c.waitForData()
    frame(p) // the first of a burst wakes at once
    expect(Atomics.notify(ctl, ASLEEP)).toBe(0)
    expect(await wait).toBe('ok')
    expect(tasks).toHaveLength(1)
    take(c)
    wait = c.waitForData() // drained, asleep again
    frame(p) // within the burst: no wake now
    frame(p)
    expect(ctl[ASLEEP]).toBe(1)
    expect(tasks).toHaveLength(1)
    tasks.shift()!() // after the burst
    expect(ctl[ASLEEP]).toBe(0)
    expect(Atomics.notify(ctl, ASLEEP)).toBe(0)
    expect(await wait).toBe('ok')
    take(c)
    take(c)
    // The next burst starts over.
    wait = c.waitForData()
    frame(p)
    expect(ctl[ASLEEP]).toBe(0)
    expect(tasks).toHaveLength(1)
    expect(await wait).toBe('ok')
  })

  it('does not wake again after a burst of one frame: the first wake covered it', () => {
    const { p, c, ctl } = pair()
    const tasks: (() => void)[] = []
    p.wakeWith(task => tasks.push(task))
    frame(p)
    take(c)
    void c.waitForData()
    tasks.shift()!()
    expect(ctl[ASLEEP]).toBe(1)
    expect(Atomics.notify(ctl, ASLEEP)).toBe(1) // still asleep
  })

  it('wakes at once for a frame of 32 KiB or more, burst or not', () => {
    const { p, c, ctl } = pair(1 << 17)
    const tasks: (() => void)[] = []
    p.wakeWith(task => tasks.push(task))
    frame(p)
    take(c)
    void c.waitForData()
    frame(p, 32 * 1024 - 8)
    expect(ctl[ASLEEP]).toBe(1)
    frame(p, 32 * 1024)
    expect(ctl[ASLEEP]).toBe(0)
    expect(Atomics.notify(ctl, ASLEEP)).toBe(0)
  })

  it('can be interrupted from the consumer side', async () => {
    const { c, ctl } = pair()
    const wait = c.waitForData()
    c.interrupt()
    expect(ctl[ASLEEP]).toBe(0)
    expect(Atomics.notify(ctl, ASLEEP)).toBe(0)
    expect(await wait).toBe('ok')
  })
})

describe('waiting for space', () => {
  it('sleeps until the consumer frees space, one wait shared by every caller', async () => {
    const { p, c, ctl } = withFrames([2048, 2048], 0)
    expect(p.reserve(16, 16)).toBe(-1)
    const wait = p.waitForSpace()
    expect(ctl[WAITING]).toBe(1)
    expect(p.waitForSpace()).toBe(wait)
    let done = false
    void wait.then(() => { done = true })
    await new Promise(resolve => setImmediate(resolve))
    expect(done).toBe(false)
    take(c)
    expect(ctl[WAITING]).toBe(0)
    expect(Atomics.notify(ctl, WAITING)).toBe(0) // the release notified it
    await wait
    expect(done).toBe(true)
    // A later wait is a new one.
    frame(p, 2048)
    expect(p.reserve(16, 16)).toBe(-1)
    const again = p.waitForSpace()
    expect(again).not.toBe(wait)
    expect(ctl[WAITING]).toBe(1)
    take(c)
    await again
  })

  it('does not sleep when space was freed since the reserve that failed', async () => {
    const { p, c, ctl } = withFrames([2048, 2048], 0)
    expect(p.reserve(16, 16)).toBe(-1)
    take(c) // nobody waits yet: no notify
    const wait = p.waitForSpace()
    expect(ctl[WAITING]).toBe(0)
    await wait
    expect(p.reserve(16, 16)).toBeGreaterThanOrEqual(0)
  })

  it('frees a drain\'s frames with releaseSpace and wakes the producer once, at wakeProducer', async () => {
    const { p, c, ctl } = withFrames([1024, 1024, 1024, 1024], 0)
    expect(p.reserve(16, 16)).toBe(-1)
    const wait = p.waitForSpace()
    expect(ctl[WAITING]).toBe(1)
    for (let i = 0; i < 4; i++) {
      expect(c.peek()).toBeGreaterThanOrEqual(0)
      expect(c.releaseSpace()).toBe(true)
      // The space is handed back at once (TAIL moves), the producer is not woken yet.
      expect(ctl[WAITING]).toBe(1)
    }
    expect(c.releaseSpace()).toBe(false) // nothing peeked: nothing to hand back
    expect(p.free()).toBe(4096)
    c.wakeProducer()
    expect(ctl[WAITING]).toBe(0)
    expect(Atomics.notify(ctl, WAITING)).toBe(0) // wakeProducer notified it
    await wait
    c.wakeProducer() // nobody waits: no notify, nothing changes
    expect(ctl[WAITING]).toBe(0)
  })

  it('is not notified by a release when the producer does not wait', () => {
    const { p, c, ctl } = pair()
    frame(p)
    const other = Atomics.waitAsync(ctl, WAITING, 0)
    expect(other.async).toBe(true)
    take(c)
    expect(Atomics.notify(ctl, WAITING)).toBe(1)
  })
})

describe('pollForData', () => {
  const turns = (n: number, fn: () => void): void => {
    if (n === 0) fn()
    else setImmediate(() => turns(n - 1, fn))
  }

  it('is true at once when a frame is there', async () => {
    const { p, c } = pair()
    frame(p)
    expect(await pollForData(c, 1000)).toBe(true)
  })

  it('is true when a frame comes a few turns of the event loop later, within the budget', async () => {
    const { p, c } = pair()
    const poll = pollForData(c, 1_000_000)
    turns(3, () => frame(p))
    expect(await poll).toBe(true)
  })

  it('is false once the budget has passed without a frame', async () => {
    const { c } = pair()
    const start = performance.now()
    expect(await pollForData(c, 3000)).toBe(false)
    expect(performance.now() - start).toBeGreaterThanOrEqual(3)
  })
})
