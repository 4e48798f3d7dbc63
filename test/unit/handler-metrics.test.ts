// Handler-defined metrics as an isolate keeps them (src/isolate/metrics.ts): deltas per label
// set since the last take(), and the definitions checked when a module creates them.
import { describe, expect, it } from 'vitest'
import { DEFAULT_BUCKETS, HandlerMetrics } from '../../src/isolate/metrics.ts'

describe('a counter', () => {
  it('counts per label set, in labelNames order, from 1 by default', () => {
    const m = new HandlerMetrics()
    const c = m.counter({ name: 'hits_total', help: 'Hits', labelNames: ['a', 'b'] })
    c.inc({ b: 'y', a: 'x' })
    c.inc({ a: 'x', b: 'y' }, 2.5)
    c.inc({ a: 'x' })
    c.inc({ a: 1, b: 2 })
    expect(m.take()).toEqual([{
      type: 'counter',
      name: 'hits_total',
      help: 'Hits',
      labelNames: ['a', 'b'],
      series: [
        { labels: ['x', 'y'], value: 3.5 },
        { labels: ['x', ''], value: 1 },
        { labels: ['1', '2'], value: 1 }
      ]
    }])
  })

  it('takes inc(value) and inc() without labels', () => {
    const m = new HandlerMetrics()
    const c = m.counter({ name: 'plain', help: 'Plain' })
    c.inc()
    c.inc(4)
    c.inc(undefined, 2)
    expect(m.take()[0].series).toEqual([{ labels: [], value: 7 }])
  })

  it('reports deltas: each take() starts again from zero, and a metric that did not move is left out after its first report', () => {
    const m = new HandlerMetrics()
    const c = m.counter({ name: 'c', help: 'C' })
    m.histogram({ name: 'h', help: 'H' })
    expect(m.take().map(d => [d.name, d.series])).toEqual([['c', []], ['h', []]])
    expect(m.take()).toEqual([])
    c.inc()
    c.inc()
    expect(m.take().map(d => [d.name, d.series])).toEqual([['c', [{ labels: [], value: 2 }]]])
    c.inc()
    expect(m.take()[0].series).toEqual([{ labels: [], value: 1 }])
  })

  it('only goes up', () => {
    const c = new HandlerMetrics().counter({ name: 'c', help: 'C' })
    for (const bad of [-1, NaN, Infinity]) expect(() => c.inc(bad)).toThrow(/Invalid metric "c": a counter only goes up/)
    expect(() => c.inc({}, -1)).toThrow(/a counter only goes up/)
  })

  it('refuses a label it was not given', () => {
    const c = new HandlerMetrics().counter({ name: 'c', help: 'C', labelNames: ['kind'] })
    expect(() => c.inc({ knd: 'x' })).toThrow('Invalid metric "c": it has no label "knd" (labels: kind)')
  })
})

describe('a histogram', () => {
  it('counts each value in the first bucket whose bound it does not exceed, with sum and count', () => {
    const m = new HandlerMetrics()
    const h = m.histogram({ name: 'size', help: 'Size', labelNames: ['k'], buckets: [1, 10] })
    for (const v of [0, 1, 1.5, 10, 11, -3]) h.observe({ k: 'a' }, v)
    h.observe({ k: 'b' }, 100)
    expect(m.take()).toEqual([{
      type: 'histogram',
      name: 'size',
      help: 'Size',
      labelNames: ['k'],
      buckets: [1, 10],
      series: [
        { labels: ['a'], counts: [3, 2, 1], sum: 20.5, count: 6 },
        { labels: ['b'], counts: [0, 0, 1], sum: 100, count: 1 }
      ]
    }])
  })

  it('has prom-client\'s default buckets and takes observe(value)', () => {
    const m = new HandlerMetrics()
    const h = m.histogram({ name: 'd', help: 'D' })
    h.observe(0.3)
    const [d] = m.take()
    expect(d.buckets).toEqual(DEFAULT_BUCKETS)
    expect(d.series[0].counts).toEqual([0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0])
  })

  it('refuses a value that is not a finite number', () => {
    const h = new HandlerMetrics().histogram({ name: 'd', help: 'D' })
    expect(() => h.observe(NaN)).toThrow('Invalid metric "d": observe() takes a finite number, got NaN')
    expect(() => h.observe({}, undefined as unknown as number)).toThrow(/finite number/)
  })
})

describe('definitions', () => {
  const refused = (fn: () => unknown): string => {
    try {
      fn()
    } catch (err) {
      expect((err as { code: string }).code).toBe('ISOPOOL_ERR_INVALID_METRIC')
      return (err as Error).message
    }
    throw new Error('not refused')
  }

  it('checks the names, the help, the labels and the buckets', () => {
    const m = new HandlerMetrics()
    expect(refused(() => m.counter({ name: 'a-b', help: 'x' }))).toBe('Invalid metric "a-b": the name must match ^[a-zA-Z_:][a-zA-Z0-9_:]*$, got "a-b"')
    expect(refused(() => m.counter({ name: '1a', help: 'x' }))).toMatch(/the name must match/)
    expect(refused(() => m.counter({ name: 'isopool_mine', help: 'x' }))).toMatch(/isopool's built-in metrics/)
    expect(refused(() => m.counter({ name: 'a', help: '' }))).toMatch(/help must be a non-empty string/)
    expect(refused(() => m.counter({ name: 'a', help: 'x', labelNames: ['ok', 'not-ok'] }))).toMatch(/a label name must match/)
    expect(refused(() => m.counter({ name: 'a', help: 'x', labelNames: ['__x'] }))).toMatch(/"__" are reserved/)
    expect(refused(() => m.counter({ name: 'a', help: 'x', labelNames: ['k', 'k'] }))).toMatch(/label "k" is named twice/)
    expect(refused(() => m.histogram({ name: 'a', help: 'x', labelNames: ['le'] }))).toMatch(/cannot have a label "le"/)
    expect(refused(() => m.histogram({ name: 'a', help: 'x', buckets: [] }))).toMatch(/non-empty array/)
    expect(refused(() => m.histogram({ name: 'a', help: 'x', buckets: [1, 1] }))).toMatch(/strictly ascending, got 1 then 1/)
    expect(refused(() => m.histogram({ name: 'a', help: 'x', buckets: [1, Infinity] }))).toMatch(/finite number/)
    expect(refused(() => m.counter({ name: 'a', help: 'x', buckets: [1] } as never))).toMatch(/a counter has no buckets/)
    expect(refused(() => m.counter(null as never))).toMatch(/counter\(\) takes \{ name, help, labelNames\? \}/)
    // Nothing refused was defined.
    expect(m.take()).toEqual([])
  })

  it('makes a second definition alike the same metric, and refuses one that differs', () => {
    const m = new HandlerMetrics()
    const one = m.counter({ name: 'c', help: 'C', labelNames: ['k'] })
    const two = m.counter({ name: 'c', help: 'other words', labelNames: ['k'] })
    one.inc({ k: 'x' })
    two.inc({ k: 'x' })
    expect(m.take()).toEqual([{ type: 'counter', name: 'c', help: 'C', labelNames: ['k'], series: [{ labels: ['x'], value: 2 }] }])
    expect(refused(() => m.counter({ name: 'c', help: 'C' }))).toBe('Invalid metric "c": it is already defined in this isolate as a counter with labels [k]')
    expect(refused(() => m.histogram({ name: 'c', help: 'C', labelNames: ['k'] }))).toMatch(/already defined in this isolate as a counter/)
    m.histogram({ name: 'h', help: 'H', buckets: [1] })
    expect(refused(() => m.histogram({ name: 'h', help: 'H', buckets: [2] }))).toBe('Invalid metric "h": it is already defined in this isolate as a histogram with labels [] and buckets [1]')
  })
})
