// How a 422 shows what it received, and the depth bound of typed bodies: pure functions, no
// sockets. Both must hold for any value a decoder can produce.
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { describeReceived, preview } from '../../src/isolate/describe.ts'
import { nestsDeeper } from '../../src/isolate/typed-route.ts'

describe('describeReceived', () => {
  it('shows small JSON values as themselves', () => {
    expect(describeReceived(0)).toBe(0)
    expect(describeReceived('lots')).toBe('lots')
    expect(describeReceived(null)).toBe(null)
    expect(describeReceived(['abcd', 'b', 'c'])).toEqual(['abcd', 'b', 'c'])
    expect(describeReceived({ a: [1, { b: true }] })).toEqual({ a: [1, { b: true }] })
  })

  it('describes what JSON cannot hold, or what is too large, by type and a short preview', () => {
    expect(describeReceived(1n)).toEqual({ type: 'bigint', preview: '1n' })
    expect(describeReceived(NaN)).toEqual({ type: 'number', preview: 'NaN' })
    expect(describeReceived([1n, 1])).toEqual({ type: 'array', preview: '[1n,1]' })
    expect(describeReceived(new Map([[1, 2]]))).toEqual({ type: 'Map', preview: 'Map {}' })
    expect(describeReceived(new Uint8Array(3))).toEqual({ type: 'Uint8Array', preview: 'Uint8Array(3 bytes)' })
    const big = describeReceived(Array.from({ length: 1000 }, (_, i) => i)) as { type: string, preview: string }
    expect(big.type).toBe('array')
    expect(big.preview.length).toBeLessThanOrEqual(80)
    expect((describeReceived('x'.repeat(10_000)) as string).length).toBe(121)
  })

  it('never calls a getter, a toJSON or a toString of the value', () => {
    let called = 0
    const sneaky = { get a () { called++; return 1 }, toJSON () { called++; return 'j' }, toString () { called++; return 's' } }
    expect(describeReceived(sneaky)).toEqual({ type: 'object', preview: '{"a":(getter),"toJSON":function,"toString":function}' })
    expect(called).toBe(0)
  })

  it('survives cycles, depth and proxies whose traps throw', () => {
    const cyclic: Record<string, unknown> = { a: 1 }
    cyclic.self = cyclic
    expect(describeReceived(cyclic)).toEqual({ type: 'object', preview: '{"a":1,"self":{"a":1,"self":{"a":1,"self":{…}}}}' })
    let deep: unknown[] = []
    for (let i = 0; i < 100_000; i++) deep = [deep]
    expect(describeReceived(deep)).toEqual({ type: 'array', preview: '[[[[…1]]]]' })
    const trap = (): never => { throw new Error('trap') }
    const hostile = new Proxy({}, { get: trap, ownKeys: trap, getPrototypeOf: trap, getOwnPropertyDescriptor: trap, has: trap })
    expect(describeReceived(hostile)).toEqual({ type: 'object', preview: '…' })
    expect(preview(hostile)).toBe('…')
  })

  it('always gives something JSON can serialize, and small, for any value', () => {
    fc.assert(fc.property(fc.anything({ withBigInt: true, withMap: true, withSet: true, withTypedArray: true, withNullPrototype: true, withSparseArray: true, withDate: true, maxDepth: 6 }), (value) => {
      const shown = describeReceived(value)
      const text = JSON.stringify(shown)
      expect(typeof text).toBe('string')
      expect(text.length).toBeLessThan(1200)
    }), { numRuns: 2000 })
  })
})

describe('nestsDeeper', () => {
  const nest = (levels: number): unknown => {
    let v: unknown = 1
    for (let i = 0; i < levels; i++) v = i % 2 === 0 ? [v] : { k: v }
    return v
  }

  it('counts arrays and objects from 1 at the top, iteratively', () => {
    expect(nestsDeeper(1, 1, 10)).toBe(false)
    expect(nestsDeeper(nest(3), 3, 100)).toBe(false)
    expect(nestsDeeper(nest(4), 3, 100)).toBe(true)
    expect(nestsDeeper(nest(1_000_000), 128, 10_000_000)).toBe(true)
    expect(nestsDeeper({ a: [1, 2, { b: {} }], c: 'x' }, 4, 100)).toBe(false)
    expect(nestsDeeper({ a: [1, 2, { b: {} }], c: 'x' }, 3, 100)).toBe(true)
  })

  it('ends on a cycle, and on shared references that would make the walk longer than the body', () => {
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    expect(nestsDeeper(cyclic, 128, 1_000_000)).toBe(true)
    // 40 levels of an object that refers to the next one twice: 2^40 paths in 40 objects.
    let shared: Record<string, unknown> = {}
    for (let i = 0; i < 40; i++) shared = { a: shared, b: shared }
    expect(nestsDeeper(shared, 128, 1000)).toBe(true)
  })

  it('looks into Maps and Sets, not into typed arrays', () => {
    expect(nestsDeeper(new Map([['a', [[1]]]]), 2, 100)).toBe(true)
    expect(nestsDeeper(new Set([[[1]]]), 3, 100)).toBe(false)
    expect(nestsDeeper([new Uint8Array(10)], 1, 100)).toBe(true)
    expect(nestsDeeper([new Uint8Array(10)], 2, 100)).toBe(false)
  })
})
