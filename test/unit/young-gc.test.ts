// The streamed body's young-generation GC (src/shared/young-gc.ts), without sockets: one
// collection per `every` bytes a thread takes, however the bytes are split into chunks; the GC
// function is looked up once, on the first collection due (not at import, not per chunk); a
// runtime that refuses it (null) leaves the bytes uncollected without failing.
import { describe, expect, it } from 'vitest'
import { runInNewContext } from 'node:vm'
import { minorGc, StreamedGc, STREAMED_GC_EVERY } from '../../src/shared/young-gc.ts'

function counted (available = true): { gc: StreamedGc, runs: () => number, lookups: () => number } {
  let runs = 0
  let lookups = 0
  const gc = new StreamedGc(() => {
    lookups++
    return available ? () => { runs++ } : null
  }, 100)
  return { gc, runs: () => runs, lookups: () => lookups }
}

describe('StreamedGc', () => {
  it('collects once per `every` bytes, whatever the chunks', () => {
    const { gc, runs, lookups } = counted()
    for (let i = 0; i < 9; i++) gc.note(10)
    expect(runs()).toBe(0)
    expect(lookups()).toBe(0)
    gc.note(10)
    expect(runs()).toBe(1)
    gc.note(99)
    expect(runs()).toBe(1)
    gc.note(1)
    expect(runs()).toBe(2)
    // A chunk larger than `every` is one collection, and the count starts again after it.
    gc.note(350)
    expect(runs()).toBe(3)
    gc.note(99)
    expect(runs()).toBe(3)
    expect(lookups()).toBe(1)
  })

  it('goes on without collecting where the runtime has no GC to call', () => {
    const { gc, runs, lookups } = counted(false)
    for (let i = 0; i < 10; i++) gc.note(100)
    expect(runs()).toBe(0)
    expect(lookups()).toBe(1)
  })

  it('finds the runtime\'s minor GC, and leaves gc() exposed to no context made later', () => {
    const gc = minorGc()
    expect(gc).toBeTypeOf('function')
    gc!()
    // (A process started with --expose-gc has it everywhere, and keeps it.)
    if (typeof (globalThis as { gc?: unknown }).gc !== 'function') expect(runInNewContext('typeof gc')).toBe('undefined')
  })

  it('collects every few MiB by default', () => {
    expect(STREAMED_GC_EVERY).toBeGreaterThanOrEqual(1024 * 1024)
    expect(STREAMED_GC_EVERY).toBeLessThanOrEqual(16 * 1024 * 1024)
  })
})
