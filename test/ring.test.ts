// The ring and the frame codec on their own, producer and consumer in one thread, so every
// interleaving is chosen by the test: random frame sizes, wrap-around, chunking, full rings.
import { describe, expect, it } from 'vitest'
import { Worker } from 'node:worker_threads'
import { createRingBuffer, RingConsumer, RingProducer } from '../src/shared/ring.ts'
import { bodyView, FLAG_END, frameFlags, frameId, frameKind, KIND_BODY, KIND_REQ_HEAD, readHead, writeBody, writeHead } from '../src/shared/frame.ts'

/** A small deterministic PRNG, so a failure can be replayed from its seed. */
function rng (seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function pair (capacity = 4096): { p: RingProducer, c: RingConsumer } {
  const sab = createRingBuffer(capacity)
  return { p: new RingProducer(sab), c: new RingConsumer(sab) }
}

describe('ring', () => {
  it('starts empty and refuses a frame over half its capacity with a coded error', () => {
    const { p, c } = pair()
    expect(c.peek()).toBe(-1)
    expect(p.free()).toBe(4096)
    expect(() => p.reserve(2049, 2049)).toThrow(expect.objectContaining({ code: 'ISOPOOL_ERR_FRAME_TOO_LARGE' }))
  })

  it('reports full, then has room again once the consumer releases', () => {
    const { p, c } = pair()
    let written = 0
    while (writeBody(p, KIND_BODY, written, new Uint8Array(1000), 0, true) >= 0) written++
    expect(written).toBeGreaterThan(2)
    expect(p.reserve(1016, 1016)).toBe(-1)
    expect(c.peek()).toBeGreaterThanOrEqual(0)
    c.release()
    expect(writeBody(p, KIND_BODY, 99, new Uint8Array(1000), 0, true)).toBe(1000)
  })

  it('writes a HEAD whole when asked to, wrapping or waiting rather than splitting it', () => {
    /** A ring whose next frame starts 1,048 bytes before its end, and is empty. */
    const nearEnd = (): { p: RingProducer, c: RingConsumer } => {
      const r = pair(4096)
      for (let i = 0; i < 3; i++) {
        expect(writeBody(r.p, KIND_BODY, i, new Uint8Array(1000), 0, true)).toBe(1000)
        expect(r.c.peek()).toBeGreaterThanOrEqual(0)
        r.c.release()
      }
      return r
    }
    const body = new Uint8Array(1500).fill(7)
    // Split: the head and what fits before the end, the rest for BODY frames.
    const split = nearEnd()
    const n = writeHead(split.p, KIND_REQ_HEAD, 2, 0, 0, 'x', 1500, body, 0, true)
    expect(n).toBeGreaterThan(0)
    expect(n).toBeLessThan(1500)
    const { p, c } = nearEnd()
    // Whole: a PAD to the end, then the frame at 0 with END and every byte.
    expect(writeHead(p, KIND_REQ_HEAD, 2, 0, 0, 'x', 1500, body, 0, true, true)).toBe(1500)
    const pos = c.peek()
    expect(pos).toBe(0)
    expect(frameFlags(c, pos) & FLAG_END).toBe(FLAG_END)
    const h = readHead(c, pos)
    expect(h.bodyEnd - h.bodyStart).toBe(1500)
    // With no room for the whole frame now, nothing is written.
    expect(writeHead(p, KIND_REQ_HEAD, 3, 0, 0, 'x', 2000, new Uint8Array(2000), 0, true, true)).toBe(-1)
    c.release()
    expect(writeHead(p, KIND_REQ_HEAD, 3, 0, 0, 'x', 2000, new Uint8Array(2000), 0, true, true)).toBe(2000)
  })

  it('carries random frames through many wrap-arounds with every byte intact', () => {
    for (const seed of [1, 2, 3, 42, 1234]) {
      const rand = rng(seed)
      const { p, c } = pair(4096)
      const sent: Uint8Array[] = []
      const reader = new Reader(c, sent)
      for (let step = 0; step < 4000; step++) {
        if (rand() < 0.55) {
          // A message of 0..3000 bytes, split into frames as space allows (chunking).
          const body = Uint8Array.from({ length: Math.floor(rand() * 3000) }, () => Math.floor(rand() * 256))
          const id = sent.length
          sent.push(body)
          let off = 0
          let first = true
          while ((first || off < body.byteLength)) {
            const n = first
              ? writeHead(p, KIND_REQ_HEAD, id, 7, 0, `m${id}`, body.byteLength, body, 0, true)
              : writeBody(p, KIND_BODY, id, body, off, true)
            if (n < 0) {
              // Full: let the consumer catch up completely, then go on where we were.
              reader.drain(Infinity)
              continue
            }
            off += n
            first = false
          }
        } else {
          reader.drain(Math.floor(rand() * 4))
        }
      }
      reader.drain(Infinity)
      expect(reader.received).toBe(sent.length)
      expect(sent.length).toBeGreaterThan(1000)
    }
  })

  it('rejects a frame whose length runs past what was published, without reading it', () => {
    const { p, c } = pair()
    writeBody(p, KIND_BODY, 1, new Uint8Array(10), 0, true)
    // Corrupt the length: it now claims more bytes than the producer published.
    c.data.writeUInt32LE(5000, 0)
    expect(() => c.peek()).toThrow(expect.objectContaining({ code: 'ISOPOOL_ERR_FRAME_INVALID' }))
  })

  it('rejects a HEAD frame whose text overruns the frame', () => {
    const { p, c } = pair()
    writeHead(p, KIND_REQ_HEAD, 1, 0, 0, 'GET\0/', 0, null, 0, true)
    const pos = c.peek()
    c.data.writeUInt32LE(10_000, pos + 16)
    expect(() => readHead(c, pos)).toThrow(expect.objectContaining({ code: 'ISOPOOL_ERR_FRAME_INVALID' }))
  })

  it('wakes a consumer waiting for data, and a producer waiting for space', async () => {
    const { p, c } = pair()
    const wait = c.waitForData()
    expect(wait).not.toBeNull()
    writeBody(p, KIND_BODY, 1, new Uint8Array(8), 0, true)
    await wait
    expect(c.peek()).toBeGreaterThanOrEqual(0)
    while (writeBody(p, KIND_BODY, 2, new Uint8Array(1000), 0, true) >= 0);
    const space = p.waitForSpace()
    c.release()
    await space
    expect(p.free()).toBeGreaterThan(0)
  })
})

/** Reads messages back, frame by frame, checking each against what was sent. A message may be
 * left half-read when the writer is in the middle of it. */
class Reader {
  received = 0
  private partial: { id: number, bytes: number[] } | null = null
  private readonly c: RingConsumer
  private readonly sent: Uint8Array[]

  constructor (c: RingConsumer, sent: Uint8Array[]) {
    this.c = c
    this.sent = sent
  }

  /** Consume frames until `max` more messages are complete or the ring is empty. */
  drain (max: number): void {
    const c = this.c
    let done = 0
    let pos: number
    while (done < max && (pos = c.peek()) >= 0) {
      let end: boolean
      if (frameKind(c, pos) === KIND_REQ_HEAD) {
        expect(this.partial).toBeNull()
        const h = readHead(c, pos)
        expect(h.id).toBe(this.received)
        expect(h.text).toBe(`m${h.id}`)
        expect(h.bodyLen).toBe(this.sent[h.id].byteLength)
        this.partial = { id: h.id, bytes: [...c.data.subarray(h.bodyStart, h.bodyEnd)] }
        end = (h.flags & FLAG_END) !== 0
      } else {
        expect(frameKind(c, pos)).toBe(KIND_BODY)
        expect(frameId(c, pos)).toBe(this.partial!.id)
        this.partial!.bytes.push(...bodyView(c, pos))
        end = (frameFlags(c, pos) & FLAG_END) !== 0
      }
      c.release()
      if (end) {
        expect(Buffer.from(this.partial!.bytes).equals(Buffer.from(this.sent[this.partial!.id]))).toBe(true)
        this.partial = null
        this.received++
        done++
      }
    }
  }
}

describe('ring between two threads', () => {
  // Lost wake-ups are races: a run either completes or stalls with frames waiting. Bursts of
  // random size make both sides fall asleep and wake up hundreds of thousands of times.
  // Both ways of waking: on every commit, and as the server does (wakeWith: at a burst's first
  // commit and once after it, skipped when the burst had one frame).
  it.each([false, true])('never loses a wake-up: 300,000 echoed frames in random bursts arrive, in order (wakeWith: %s)', async (scheduled) => {
    const requests = createRingBuffer(4096)
    const responses = createRingBuffer(4096)
    const worker = new Worker(new URL('./fixtures/ring-echo-worker.ts', import.meta.url), { workerData: { requests, responses, scheduled } })
    const out = new RingProducer(requests)
    if (scheduled) out.wakeWith(setImmediate)
    const inbox = new RingConsumer(responses)
    const rand = rng(7)
    const total = 300_000
    let sent = 0
    let got = 0
    let progressAt = Date.now()
    let stalled = false
    const watchdog = setInterval(() => { if (Date.now() - progressAt > 5000) { stalled = true; inbox.interrupt() } }, 250)
    // Two threads that only burn CPU: on a small machine the OS must preempt the ring's threads
    // at arbitrary instructions, which is what opens the narrow windows a lost wake-up needs.
    const burners = Array.from({ length: 2 }, () => new Worker('const end = Date.now() + 60_000; while (Date.now() < end);', { eval: true }))
    try {
      const body = new Uint8Array(120)
      while (got < total && !stalled) {
        const burst = 1 + Math.floor(rand() * 48)
        for (let i = 0; i < burst && sent < total; i++) {
          if (writeBody(out, KIND_BODY, sent, body, 0, true) < 0) break
          sent++
        }
        let pos: number
        while ((pos = inbox.peek()) >= 0) {
          expect(frameId(inbox, pos)).toBe(got)
          got++
          inbox.release()
          progressAt = Date.now()
        }
        if (got < sent) {
          const wait = inbox.waitForData()
          if (wait !== null) await wait
        } else if (sent < total && out.free() < 256) {
          await out.waitForSpace()
        }
      }
      expect(stalled, `stalled after ${got} of ${total} frames`).toBe(false)
      expect(got).toBe(total)
    } finally {
      clearInterval(watchdog)
      await Promise.all([worker, ...burners].map(w => w.terminate()))
    }
  })
})
