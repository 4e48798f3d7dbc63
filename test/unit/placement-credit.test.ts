// The main thread's credit window for a streaming route's body (src/main/isolate-handle.ts,
// Placement), without a worker: the body pauses once STREAM_WINDOW bytes are unacknowledged and
// resumes when the isolate's CREDIT frames open the window again; other routes never pause for it.
import { describe, expect, it } from 'vitest'
import { STREAM_WINDOW } from '../../src/shared/frame.ts'
import { Placement } from '../../src/main/isolate-handle.ts'
import type { IsolateHandle, PlaceableRequest } from '../../src/main/isolate-handle.ts'

function placement (streamBody: boolean, ringTakes = true): { p: Placement, resumed: () => number } {
  let resumes = 0
  const handle = { writeBody: () => ringTakes } as unknown as IsolateHandle
  const request = {
    text: '',
    bodyLen: 0xffffffff,
    cost: 0,
    route: { streamBody },
    sink: { resume: () => { resumes++ } }
  } as unknown as PlaceableRequest
  return { p: new Placement(handle, request, 1, 0, 'stream'), resumed: () => resumes }
}

const chunk = (n: number): Uint8Array => new Uint8Array(n)

describe('Placement credit', () => {
  it('pauses the body at STREAM_WINDOW unacknowledged bytes and resumes it when credit opens the window', () => {
    const { p, resumed } = placement(true)
    expect(p.body(chunk(STREAM_WINDOW - 1), false)).toBe(true)
    expect(p.body(chunk(1), false)).toBe(false)
    expect(p.windowFull).toBe(true)
    p.credited(1)
    expect(p.windowFull).toBe(false)
    expect(resumed()).toBe(1)
    // Credit while the window is open resumes nothing (the body was not paused for it).
    p.credited(1000)
    expect(resumed()).toBe(1)
  })

  it('stays paused while credit leaves the window full', () => {
    const { p, resumed } = placement(true)
    expect(p.body(chunk(STREAM_WINDOW + 10), false)).toBe(false)
    p.credited(5)
    p.credited(5)
    expect(resumed()).toBe(0) // exactly STREAM_WINDOW unacknowledged: still full
    p.credited(1)
    expect(resumed()).toBe(1)
  })

  it('pauses for the ring even with window to spare, and never for credit on other routes', () => {
    expect(placement(true, false).p.body(chunk(10), false)).toBe(false)
    const other = placement(false)
    expect(other.p.body(chunk(STREAM_WINDOW * 4), false)).toBe(true)
    expect(other.p.windowFull).toBe(false)
  })
})
