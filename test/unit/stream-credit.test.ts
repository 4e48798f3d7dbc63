// The lazy-credit rule of src/main/stream-credit.ts, with no sockets: credit is held until half
// the window is unacknowledged, and a producer blocked at the full window always gets credit
// once the socket has taken its bytes (simulated against every order of events below).
import { describe, expect, it } from 'vitest'
import { STREAM_WINDOW } from '../../src/shared/frame.ts'
import { CREDIT_THRESHOLD, StreamCredit } from '../../src/main/stream-credit.ts'

describe('StreamCredit', () => {
  it('holds the credit of small frames until half the window is unacknowledged', () => {
    const c = new StreamCredit()
    expect(CREDIT_THRESHOLD).toBe(STREAM_WINDOW / 2)
    let credited = 0
    for (let i = 0; i < 1000; i++) {
      c.took(100)
      credited += c.take()
    }
    // 100,000 bytes of SSE events: below half the window, not one CREDIT frame.
    expect(credited).toBe(0)
    expect(c.unacknowledged).toBe(100_000)
    c.took(CREDIT_THRESHOLD - 100_000)
    expect(c.due).toBe(true)
    expect(c.take()).toBe(CREDIT_THRESHOLD)
    expect(c.unacknowledged).toBe(0)
    expect(c.take()).toBe(0)
  })

  it('never credits bytes the socket still holds, and credits them on drain once due', () => {
    const c = new StreamCredit()
    c.held(STREAM_WINDOW)
    expect(c.due).toBe(false)
    expect(c.take()).toBe(0)
    c.drained(STREAM_WINDOW)
    expect(c.take()).toBe(STREAM_WINDOW)
  })

  it('credits the taken bytes at once when the held ones bring it past the threshold', () => {
    const c = new StreamCredit()
    c.took(1000)
    c.held(CREDIT_THRESHOLD)
    // The isolate is half a window in: what the socket took goes back now, the held part on drain.
    expect(c.take()).toBe(1000)
    c.drained(CREDIT_THRESHOLD)
    expect(c.take()).toBe(CREDIT_THRESHOLD)
  })

  // A deterministic pseudo-random model of one stream: the isolate sends chunks while its
  // unacknowledged bytes are below the window; the main thread receives them in batches (a ring
  // drain), the socket takes each or holds it until a later drain; credit is taken at the end of
  // each batch, as Exchange does. The invariant: whenever the producer is blocked and the main
  // thread has received everything and the socket has drained, credit is due.
  it('never leaves a producer blocked at the full window once the socket has drained', () => {
    let seed = 42
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff
      return seed % n
    }
    for (let run = 0; run < 200; run++) {
      const c = new StreamCredit()
      const chunkMax = 1 + rand(96 * 1024)
      let unacked = 0
      const inFlight: number[] = []
      let held = 0
      let frames = 0
      let credits = 0
      for (let step = 0; step < 2000; step++) {
        // The isolate pulls as long as it may.
        while (unacked < STREAM_WINDOW && inFlight.length < 64) {
          const n = 1 + rand(chunkMax)
          unacked += n
          inFlight.push(n)
          frames++
        }
        // The main thread drains some of the ring; the socket needs a drain now and then.
        const batch = inFlight.length === 0 ? 0 : 1 + rand(inFlight.length)
        for (let i = 0; i < batch; i++) {
          const n = inFlight.shift()!
          if (held > 0 || rand(4) === 0) {
            held += n
            c.held(n)
          } else {
            c.took(n)
          }
        }
        if (held > 0 && rand(3) === 0) {
          c.drained(held)
          held = 0
        }
        const n = c.take()
        if (n > 0) credits++
        unacked -= n
        expect(unacked).toBe(c.unacknowledged + inFlight.reduce((a, b) => a + b, 0))
        const blocked = unacked >= STREAM_WINDOW
        if (blocked && inFlight.length === 0 && held === 0) {
          // Nothing is left on the way and the socket took all: this would be a deadlock.
          throw new Error(`run ${run}, step ${step}: producer blocked with no credit due`)
        }
        if (blocked && inFlight.length === 0) {
          // The only way forward is the socket's drain: it makes credit due.
          c.drained(held)
          held = 0
          expect(c.due).toBe(true)
        }
      }
      // Lazy: far fewer CREDIT frames than BODY frames whenever chunks are small.
      if (chunkMax < 8 * 1024) expect(credits * 10).toBeLessThan(frames)
    }
  })
})
