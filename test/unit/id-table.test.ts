// IdTable (src/shared/id-table.ts) against a Map, the model it replaces: the same answers after
// every operation, with ids chosen to collide in the table's slots and runs that wrap around.
import { describe, expect, it } from 'vitest'
import { IdTable } from '../../src/shared/id-table.ts'

/** A small deterministic generator (xorshift), so a failure replays. */
function rng (seed: number): () => number {
  let x = seed
  return () => {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5
    return (x >>> 0) / 2 ** 32
  }
}

function agree (t: IdTable<string>, m: Map<number, string>, ids: number[]): void {
  expect(t.size).toBe(m.size)
  for (const id of ids) expect(t.get(id)).toBe(m.get(id))
  expect(t.list().sort()).toEqual([...m.values()].sort())
}

describe('IdTable', () => {
  it('answers as a Map does through sets, overwrites and deletes of colliding ids', () => {
    const next = rng(7)
    // Ids 64 apart share a slot of the first table; those near 2^31 - 1 and near 63 wrap the runs.
    const ids = [...Array.from({ length: 40 }, (_, i) => 1 + 64 * i), ...Array.from({ length: 10 }, (_, i) => 60 + i), 0x7fffffff, 0x7fffffc0, 0x7fffff80]
    const t = new IdTable<string>()
    const m = new Map<number, string>()
    for (let step = 0; step < 20_000; step++) {
      const id = ids[Math.floor(next() * ids.length)]
      if (next() < 0.55) {
        const v = `v${step}`
        t.set(id, v)
        m.set(id, v)
      } else {
        expect(t.delete(id)).toBe(m.delete(id))
      }
      if (step % 97 === 0) agree(t, m, ids)
    }
    agree(t, m, ids)
  })

  it('grows past its first capacity and keeps every entry', () => {
    const t = new IdTable<number>()
    for (let id = 1; id <= 1000; id++) t.set(id * 7, id)
    expect(t.size).toBe(1000)
    for (let id = 1; id <= 1000; id++) expect(t.get(id * 7)).toBe(id)
    expect(t.get(3)).toBeUndefined()
    for (let id = 1; id <= 1000; id += 2) expect(t.delete(id * 7)).toBe(true)
    expect(t.size).toBe(500)
    for (let id = 1; id <= 1000; id++) expect(t.get(id * 7)).toBe(id % 2 === 0 ? id : undefined)
  })

  it('lets go of what it held: a deleted or cleared value is no longer referenced', () => {
    const t = new IdTable<object>()
    t.set(5, {})
    t.set(69, {})
    t.delete(5)
    t.clear()
    expect(t.size).toBe(0)
    expect(t.get(69)).toBeUndefined()
    expect(t.list()).toEqual([])
    expect(t.delete(69)).toBe(false)
  })
})
