// The frame codec (src/shared/frame.ts) over a real ring, producer and consumer in one thread:
// every field written is read back, bodies split where the ring has no room, and a frame that
// lies about its lengths is refused.
import { describe, expect, it } from 'vitest'
import { align8, createRingBuffer, RingConsumer, RingProducer } from '../../src/shared/ring.ts'
import {
  bodyView, CONTENT_TYPES, copyIn, copyOut, copyOutInto, CT_JSON, CT_MSGPACK, CT_NONE, CT_OCTET, CT_TEXT, FLAG_END,
  FRAME_HEADER, frameFlags, frameId, frameKind, HEAD_PREFIX, KIND_ABORT, KIND_BODY, KIND_REQ_HEAD, KIND_RES_HEAD, readHead,
  resArg, resBusyMicros, resStatus, UNKNOWN_LENGTH, writeBody, writeFrameHeader, writeHead, writeWholeHead,
  frameArg, KIND_WS_CLOSE, KIND_WS_MESSAGE, writeFrames
} from '../../src/shared/frame.ts'

function pair (capacity = 4096): { p: RingProducer, c: RingConsumer } {
  const sab = createRingBuffer(capacity)
  return { p: new RingProducer(sab), c: new RingConsumer(sab) }
}

/** `n` bytes that differ from their neighbours. */
const bytes = (n: number, seed = 1): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff)

/** A pair whose ring has exactly `free` bytes left, all of them before the end of the data. */
function withFree (free: number): { p: RingProducer, c: RingConsumer } {
  const { p, c } = pair()
  for (let left = p.capacity - free; left > 0;) {
    const len = Math.min(left, p.maxFrame)
    const pos = p.reserve(len, len)
    writeFrameHeader(p, pos, len, KIND_BODY, 0, 0, 1, 0)
    p.commit(len)
    left -= len
  }
  expect(p.free()).toBe(free)
  return { p, c }
}

/** Peek past the frames `withFree` put there. */
function skip (c: RingConsumer, frames: number): void {
  for (let i = 0; i < frames; i++) {
    expect(c.peek()).toBeGreaterThanOrEqual(0)
    c.release()
  }
}

const body = (c: RingConsumer, start: number, end: number): Buffer => Buffer.from(c.data.subarray(start, end))

describe('HEAD frames', () => {
  it('carry kind, flags, id, arg, aux, text, the body length and the body, read back as written', () => {
    const { p, c } = pair()
    const b = bytes(10)
    expect(writeHead(p, KIND_REQ_HEAD, 7, 3, 5, 'GET\0/x', 10, b, 0, true)).toBe(10)
    const pos = c.peek()
    expect(c.frameLength).toBe(HEAD_PREFIX + 6 + 10)
    expect([frameKind(c, pos), frameFlags(c, pos), frameId(c, pos)]).toEqual([KIND_REQ_HEAD, FLAG_END, 7])
    const h = readHead(c, pos)
    expect(h).toMatchObject({ id: 7, flags: FLAG_END, aux: 5, arg: 3, text: 'GET\0/x', bodyLen: 10 })
    expect(body(c, h.bodyStart, h.bodyEnd)).toEqual(Buffer.from(b))
    c.release()
    // The next frame starts elsewhere: its fields are its own.
    expect(writeHead(p, KIND_RES_HEAD, 0x7fffffff, resArg(201, 9), CT_TEXT, '', 0, null, 0, true)).toBe(0)
    const at = c.peek()
    expect(at).toBeGreaterThan(pos)
    expect([frameKind(c, at), frameFlags(c, at), frameId(c, at)]).toEqual([KIND_RES_HEAD, FLAG_END, 0x7fffffff])
    expect(readHead(c, at)).toMatchObject({ id: 0x7fffffff, aux: CT_TEXT, arg: resArg(201, 9), text: '', bodyLen: 0 })
  })

  it('read a short text the same as the last one as that string, and any other as its own bytes', () => {
    const { p, c } = pair()
    // Same length, one byte apart, then the first again, then one longer than any cached.
    const texts = ['x-bench\u00001', 'x-bench\u00001', 'x-bench\u00002', 'x-bench\u00001', `x-long\u0000${'v'.repeat(80)}`, `x-long\u0000${'v'.repeat(79)}w`]
    const read: string[] = []
    for (const t of texts) {
      writeHead(p, KIND_RES_HEAD, 1, 200, CT_TEXT, t, 0, null, 0, true)
      read.push(readHead(c, c.peek()).text)
      c.release()
    }
    expect(read).toEqual(texts)
  })

  it('carry the body from an offset', () => {
    const { p, c } = pair()
    const b = bytes(20)
    expect(writeHead(p, KIND_RES_HEAD, 1, 200, CT_OCTET, 'x\0y', 12, b, 8, true)).toBe(12)
    const h = readHead(c, c.peek())
    expect(h.flags).toBe(FLAG_END)
    expect(body(c, h.bodyStart, h.bodyEnd)).toEqual(Buffer.from(b.subarray(8)))
  })

  it('take as much of a large body as one frame holds, without END; BODY frames carry the rest', () => {
    const { p, c } = pair()
    const b = bytes(3000, 5)
    const n = writeHead(p, KIND_RES_HEAD, 9, 200, CT_JSON, 'a\0b', 3000, b, 100, true)
    expect(n).toBe(p.maxFrame - HEAD_PREFIX - 3)
    const h = readHead(c, c.peek())
    expect(c.frameLength).toBe(p.maxFrame)
    expect([h.flags, h.bodyLen]).toEqual([0, 3000])
    expect(body(c, h.bodyStart, h.bodyEnd)).toEqual(Buffer.from(b.subarray(100, 100 + n)))
    c.release()
    const m = writeBody(p, KIND_BODY, 9, b, 100 + n, true)
    expect(m).toBe(2900 - n)
    const pos = c.peek()
    expect([frameKind(c, pos), frameFlags(c, pos), frameId(c, pos)]).toEqual([KIND_BODY, FLAG_END, 9])
    expect(Buffer.from(bodyView(c, pos))).toEqual(Buffer.from(b.subarray(100 + n)))
  })

  it('carry END only when final, and a streamed body as UNKNOWN_LENGTH with no bytes', () => {
    const { p, c } = pair()
    expect(writeHead(p, KIND_REQ_HEAD, 2, 0, 0, 'POST\0/up', UNKNOWN_LENGTH, bytes(4), 0, false)).toBe(4)
    expect(readHead(c, c.peek())).toMatchObject({ flags: 0, bodyLen: UNKNOWN_LENGTH })
    c.release()
    expect(writeHead(p, KIND_REQ_HEAD, 3, 0, 0, 'POST\0/up', UNKNOWN_LENGTH, null, 0, false)).toBe(0)
    const h = readHead(c, c.peek())
    expect([h.flags, h.bodyLen, h.bodyEnd - h.bodyStart, c.frameLength]).toEqual([0, UNKNOWN_LENGTH, 0, HEAD_PREFIX + 8])
    c.release()
    expect(writeHead(p, KIND_REQ_HEAD, 4, 0, 0, 'GET\0/', 0, null, 0, true)).toBe(0)
    expect(readHead(c, c.peek()).flags).toBe(FLAG_END)
  })

  it('are not written at all when not even the text fits now', () => {
    const { p, c } = withFree(0)
    expect(writeHead(p, KIND_REQ_HEAD, 5, 0, 0, 'GET\0/', 0, null, 0, true)).toBe(-1)
    expect(writeHead(p, KIND_REQ_HEAD, 5, 0, 0, 'GET\0/', 3, bytes(3), 0, true)).toBe(-1)
    skip(c, 2)
    expect(c.peek()).toBe(-1)
  })

  it('split a body where the ring has room now, unless asked to come whole', () => {
    const b = bytes(1200, 9)
    const partial = withFree(1096)
    // Without `whole`, as much as fits now.
    expect(writeHead(partial.p, KIND_RES_HEAD, 1, 200, 0, 'ab', 1200, b, 0, true)).toBe(1096 - HEAD_PREFIX - 2)
    skip(partial.c, 2)
    const h = readHead(partial.c, partial.c.peek())
    expect(h.flags).toBe(0)
    expect(body(partial.c, h.bodyStart, h.bodyEnd)).toEqual(Buffer.from(b.subarray(0, 1096 - HEAD_PREFIX - 2)))
    expect(withFree(1096).p.free()).toBe(1096)
    // With `whole`, a frame that fits the ring once it drains is written whole or not at all.
    const whole = withFree(1096)
    expect(writeHead(whole.p, KIND_RES_HEAD, 1, 200, 0, 'ab', 1200, b, 0, true, true)).toBe(-1)
    expect(whole.p.free()).toBe(1096)
    const max = withFree(1096) // a frame of exactly maxFrame still counts as one that fits
    const rest = max.p.maxFrame - HEAD_PREFIX - 2
    expect(writeHead(max.p, KIND_RES_HEAD, 1, 200, 0, 'ab', rest, bytes(rest), 0, true, true)).toBe(-1)
    expect(writeHead(max.p, KIND_RES_HEAD, 1, 200, 0, 'ab', rest, bytes(rest), 0, true, false)).toBe(1096 - HEAD_PREFIX - 2)
    const fits = pair()
    expect(writeHead(fits.p, KIND_RES_HEAD, 1, 200, 0, 'ab', 1200, b, 0, true, true)).toBe(1200)
    expect(readHead(fits.c, fits.c.peek()).flags).toBe(FLAG_END)
  })

  it('split a body that no frame can hold even when asked to come whole', () => {
    const { p, c } = withFree(1096)
    expect(writeHead(p, KIND_RES_HEAD, 1, 200, 0, 'ab', 3000, bytes(3000), 0, true, true)).toBe(1096 - HEAD_PREFIX - 2)
    skip(c, 2)
    expect(readHead(c, c.peek()).flags).toBe(0)
  })

  it('come whole from parts with writeWholeHead, or not at all', () => {
    const { p, c } = pair()
    const parts = [bytes(5, 1), new Uint8Array(0), bytes(1500, 2), bytes(3, 3)]
    const all = Buffer.concat(parts)
    const pos = writeWholeHead(p, KIND_RES_HEAD, 4, resArg(200, 1), CT_MSGPACK, 'k\0v', parts, all.length)
    expect(pos).toBe(0)
    expect(c.peek()).toBe(pos)
    expect(c.frameLength).toBe(HEAD_PREFIX + 3 + all.length)
    const h = readHead(c, pos)
    expect(h).toMatchObject({ id: 4, flags: FLAG_END, aux: CT_MSGPACK, text: 'k\0v', bodyLen: all.length })
    expect(body(c, h.bodyStart, h.bodyEnd)).toEqual(all)
    const again = writeWholeHead(p, KIND_RES_HEAD, 5, 0, 0, '', [bytes(8)], 8)
    expect(again).toBe(align8(HEAD_PREFIX + 3 + all.length)) // the next 8-byte boundary
    expect(again).toBe(1536)
    const full = withFree(96)
    expect(writeWholeHead(full.p, KIND_RES_HEAD, 6, 0, 0, 'x', [bytes(200)], 200)).toBe(-1)
    expect(full.p.free()).toBe(96)
  })
})

describe('BODY frames', () => {
  it('take as much as fits from an offset, END only with the last byte of a final body', () => {
    const { p, c } = withFree(1096)
    const b = bytes(2000, 4)
    expect(writeBody(p, KIND_BODY, 3, b, 10, true)).toBe(1096 - FRAME_HEADER)
    skip(c, 2)
    const pos = c.peek()
    expect([frameKind(c, pos), frameFlags(c, pos), frameId(c, pos), c.frameLength]).toEqual([KIND_BODY, 0, 3, 1096])
    expect(Buffer.from(bodyView(c, pos))).toEqual(Buffer.from(b.subarray(10, 10 + 1096 - FRAME_HEADER)))
    c.release()
    expect(writeBody(p, KIND_BODY, 3, b, 1090, false)).toBe(910)
    expect(frameFlags(c, c.peek())).toBe(0)
    c.release()
    expect(writeBody(p, KIND_BODY, 3, b, 1990, true)).toBe(10)
    expect(frameFlags(c, c.peek())).toBe(FLAG_END)
    expect(Buffer.from(bodyView(c, c.peek()))).toEqual(Buffer.from(b.subarray(1990)))
  })

  it('may be empty: the end of a body, or an ABORT', () => {
    const { p, c } = pair()
    expect(writeBody(p, KIND_BODY, 8, new Uint8Array(0), 0, true)).toBe(0)
    expect(writeBody(p, KIND_ABORT, 8, null, 0, false)).toBe(0)
    const a = c.peek()
    expect([frameKind(c, a), frameFlags(c, a), c.frameLength, bodyView(c, a).byteLength]).toEqual([KIND_BODY, FLAG_END, FRAME_HEADER, 0])
    c.release()
    const b = c.peek()
    expect([frameKind(c, b), frameFlags(c, b), frameId(c, b), c.frameLength]).toEqual([KIND_ABORT, 0, 8, FRAME_HEADER])
  })

  it('need room for a header and one byte, or just the header for an empty one', () => {
    const empty = withFree(FRAME_HEADER)
    expect(writeBody(empty.p, KIND_BODY, 1, null, 0, true)).toBe(0)
    expect(empty.p.free()).toBe(0)
    const one = withFree(FRAME_HEADER)
    expect(writeBody(one.p, KIND_BODY, 1, bytes(5), 0, true)).toBe(-1)
    expect(one.p.free()).toBe(FRAME_HEADER)
    expect(writeBody(withFree(0).p, KIND_ABORT, 1, null, 0, false)).toBe(-1)
  })
})

describe('reading frames that lie', () => {
  it('refuses a HEAD frame shorter than its prefix', () => {
    const { p, c } = pair()
    const pos = p.reserve(FRAME_HEADER, FRAME_HEADER)
    writeFrameHeader(p, pos, FRAME_HEADER, KIND_REQ_HEAD, 0, 0, 1, 0)
    p.commit(FRAME_HEADER)
    expect(() => readHead(c, c.peek())).toThrow(expect.objectContaining({ code: 'ISOPOOL_ERR_FRAME_INVALID', message: expect.stringContaining('16 bytes') }))
  })

  it('reads a HEAD frame of just its prefix: no text, no body', () => {
    const { p, c } = pair()
    expect(writeHead(p, KIND_REQ_HEAD, 1, 0, 0, '', 0, null, 0, true)).toBe(0)
    const h = readHead(c, c.peek())
    expect(c.frameLength).toBe(HEAD_PREFIX)
    expect([h.text, h.bodyStart, h.bodyEnd]).toEqual(['', HEAD_PREFIX, HEAD_PREFIX])
  })

  it('refuses a text that runs past the frame, and takes one that ends with it', () => {
    const { p, c } = pair()
    writeHead(p, KIND_REQ_HEAD, 1, 0, 0, 'abcdef', 0, null, 0, true)
    const pos = c.peek()
    expect(readHead(c, pos).text).toBe('abcdef')
    p.u32[(pos >>> 2) + 4] = 7
    expect(() => readHead(c, pos)).toThrow(expect.objectContaining({ code: 'ISOPOOL_ERR_FRAME_INVALID', message: expect.stringContaining('7 bytes overruns a 30-byte frame') }))
  })

  it('refuses a BODY frame shorter than a header', () => {
    const fake = { frameLength: FRAME_HEADER - 1, data: Buffer.alloc(64) } as unknown as RingConsumer
    expect(() => bodyView(fake, 0)).toThrow(expect.objectContaining({ code: 'ISOPOOL_ERR_FRAME_INVALID', message: expect.stringContaining('15 bytes') }))
    const exact = { frameLength: FRAME_HEADER, data: Buffer.alloc(64) } as unknown as RingConsumer
    expect(bodyView(exact, 8).byteLength).toBe(0)
  })
})

describe('RES_HEAD arg', () => {
  it('carries the status and the isolate busy time: µs up to 32,767, whole ms above, saturating at 32,767 ms', () => {
    for (const [status, micros] of [[200, 0], [204, 1234], [599, 32_767], [100, 1]]) {
      const arg = resArg(status, micros)
      expect(arg).toBeGreaterThanOrEqual(0)
      expect([resStatus(arg), resBusyMicros(arg)]).toEqual([status, micros])
    }
    // Above 32,767 µs, to the nearest ms: a 500 ms job is learned as 500 ms, not cut to 65.
    for (const [micros, back] of [[32_768, 33_000], [65_535, 66_000], [70_400, 70_000], [500_000, 500_000], [32_767_000, 32_767_000]]) {
      const arg = resArg(503, micros)
      expect([resStatus(arg), resBusyMicros(arg)]).toEqual([503, back])
    }
    expect(resBusyMicros(resArg(599, 3_600_000_000))).toBe(32_767_000)
    expect(resStatus(resArg(599, 3_600_000_000))).toBe(599)
  })
})

describe('content type codes', () => {
  it('name the media type of the body they stand for', () => {
    const essence = (code: number): string | undefined => CONTENT_TYPES[code]?.split(';')[0]
    expect(CONTENT_TYPES[CT_NONE]).toBeUndefined()
    expect([CT_JSON, CT_TEXT, CT_OCTET, CT_MSGPACK].map(essence)).toEqual(['application/json', 'text/plain', 'application/octet-stream', 'application/msgpack'])
    // Text bodies are written as UTF-8 and say so.
    for (const code of [CT_JSON, CT_TEXT]) expect(CONTENT_TYPES[code]).toMatch(/; charset=utf-8$/)
    expect(CONTENT_TYPES).toHaveLength(5)
  })
})

describe('copies in and out of shared memory', () => {
  for (const [label, start, end] of [['small', 3, 40], ['large', 100, 2100]] as const) {
    it(`copy exactly [start, end) to where they are asked, ${label}`, () => {
      const src = bytes(2200, 7)
      const data = Buffer.alloc(2200, 0xee)
      copyIn(data, 5, src, start, end)
      expect(data.subarray(5, 5 + end - start)).toEqual(Buffer.from(src.subarray(start, end)))
      expect([data[4], data[5 + end - start]]).toEqual([0xee, 0xee])
      const target = new Uint8Array(2200).fill(0xdd)
      copyOutInto(data, 5, 5 + end - start, target, 9)
      expect(Buffer.from(target.subarray(9, 9 + end - start))).toEqual(Buffer.from(src.subarray(start, end)))
      expect([target[8], target[9 + end - start]]).toEqual([0xdd, 0xdd])
      const out = copyOut(data, 5, 5 + end - start)
      expect(out).toEqual(Buffer.from(src.subarray(start, end)))
      data.fill(0) // a copy, not a view
      expect(out).toEqual(Buffer.from(src.subarray(start, end)))
    })
  }

  it('give a standalone copy its own ArrayBuffer, a small ordinary one a slice of the pool', () => {
    const data = Buffer.from(bytes(64))
    const own = copyOut(data, 2, 10, true)
    expect(own).toEqual(data.subarray(2, 10))
    expect([own.byteOffset, own.buffer.byteLength]).toEqual([0, 8])
    const pooled = copyOut(data, 2, 10)
    expect(pooled).toEqual(data.subarray(2, 10))
    expect(pooled.buffer.byteLength).toBeGreaterThan(8)
  })
})

describe('writeFrames: a message in as many frames as it takes', () => {
  /** Read every frame in the ring: kind, id, arg, END, payload. */
  function drain (c: RingConsumer): { kind: number, id: number, arg: number, end: boolean, body: Buffer }[] {
    const out = []
    let pos: number
    while ((pos = c.peek()) >= 0) {
      out.push({ kind: frameKind(c, pos), id: frameId(c, pos), arg: frameArg(c, pos), end: (frameFlags(c, pos) & FLAG_END) !== 0, body: Buffer.from(bodyView(c, pos)) })
      c.release()
    }
    return out
  }

  it('splits a message larger than a frame, every frame with its arg, END on the last', () => {
    const { p, c } = pair(4096)
    const b = bytes(5000)
    expect(writeFrames(p, KIND_WS_MESSAGE, 7, b.subarray(0, 3000), 0, 1)).toBe(3000)
    const frames = drain(c)
    expect(frames.length).toBeGreaterThan(1)
    expect(frames.every(f => f.kind === KIND_WS_MESSAGE && f.id === 7 && f.arg === 1)).toBe(true)
    expect(frames.map(f => f.end)).toEqual([...frames.slice(1).map(() => false), true])
    expect(Buffer.concat(frames.map(f => f.body))).toEqual(Buffer.from(b.subarray(0, 3000)))
  })

  it('an empty message is one empty frame with END', () => {
    const { p, c } = pair()
    expect(writeFrames(p, KIND_WS_CLOSE, 3, null, 0, 1000)).toBe(0)
    expect(drain(c)).toEqual([{ kind: KIND_WS_CLOSE, id: 3, arg: 1000, end: true, body: Buffer.alloc(0) }])
  })

  it('stops where the ring is full and goes on from there; -1 when nothing fits', () => {
    const { p, c } = withFree(1024)
    const b = bytes(2000, 5)
    const at = writeFrames(p, KIND_WS_MESSAGE, 9, b, 0, 0)
    expect(at).toBeGreaterThan(0)
    expect(at).toBeLessThan(2000)
    expect(writeFrames(p, KIND_WS_MESSAGE, 9, b, at, 0)).toBe(-1)
    skip(c, 2)
    const first = drain(c)
    expect(first.every(f => !f.end)).toBe(true)
    expect(writeFrames(p, KIND_WS_MESSAGE, 9, b, at, 0)).toBe(2000)
    const rest = drain(c)
    expect(rest.at(-1)!.end).toBe(true)
    expect(Buffer.concat([...first, ...rest].map(f => f.body))).toEqual(Buffer.from(b))
  })
})
