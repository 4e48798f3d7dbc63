// The main thread's cumulative store of handler-defined metrics (src/main/metric-store.ts): the
// isolates' deltas added up, what is refused, and the samples prom-client renders.
import { describe, expect, it } from 'vitest'
import { histogramSamples, MetricStore } from '../../src/main/metric-store.ts'
import type { StoredMetric } from '../../src/main/metric-store.ts'
import type { HandlerMetricDelta } from '../../src/shared/protocol.ts'

function store (): { store: MetricStore, defined: string[], warned: string[] } {
  const defined: string[] = []
  const warned: string[] = []
  const s = new MetricStore({ defined: (m: StoredMetric) => { defined.push(m.name) }, warn: (line) => { warned.push(line) } })
  return { store: s, defined, warned }
}

const counter = (series: HandlerMetricDelta['series'], extra: Partial<HandlerMetricDelta> = {}): HandlerMetricDelta =>
  ({ type: 'counter', name: 'hits_total', help: 'Hits', labelNames: ['kind'], series, ...extra })
const histogram = (series: HandlerMetricDelta['series'], extra: Partial<HandlerMetricDelta> = {}): HandlerMetricDelta =>
  ({ type: 'histogram', name: 'size', help: 'Size', labelNames: [], buckets: [1, 10], series, ...extra })

describe('MetricStore', () => {
  it('sums counters over isolates and over reports, per label set', () => {
    const { store: s, defined } = store()
    s.add(0, [counter([{ labels: ['a'], value: 2 }])])
    s.add(1, [counter([{ labels: ['a'], value: 3 }, { labels: ['b'], value: 1 }])])
    s.add(0, [counter([{ labels: ['a'], value: 0.5 }])])
    expect(defined).toEqual(['hits_total'])
    expect(s.samples('hits_total')).toEqual([
      { labels: { kind: 'a' }, value: 5.5 },
      { labels: { kind: 'b' }, value: 1 }
    ])
  })

  it('sums histograms bucket by bucket, and renders them cumulative with +Inf, _sum and _count', () => {
    const { store: s } = store()
    s.add(0, [histogram([{ labels: [], counts: [1, 2, 0], sum: 9, count: 3 }])])
    s.add(1, [histogram([{ labels: [], counts: [0, 1, 4], sum: 105, count: 5 }])])
    expect(s.samples('size')).toEqual([
      { metricName: 'size_bucket', labels: { le: 1 }, value: 1 },
      { metricName: 'size_bucket', labels: { le: 10 }, value: 4 },
      { metricName: 'size_bucket', labels: { le: '+Inf' }, value: 8 },
      { metricName: 'size_sum', labels: {}, value: 114 },
      { metricName: 'size_count', labels: {}, value: 8 }
    ])
  })

  it('shows a metric without labels that counted nothing yet as zeros, one with labels as no series', () => {
    const { store: s } = store()
    s.add(0, [counter([], { name: 'plain', labelNames: [] }), histogram([]), counter([])])
    expect(s.samples('plain')).toEqual([{ labels: {}, value: 0 }])
    expect(s.samples('size').map(x => x.value)).toEqual([0, 0, 0, 0, 0])
    expect(s.samples('hits_total')).toEqual([])
    expect(s.samples('never')).toEqual([])
  })

  it('keeps the first definition of a name and ignores a differing one, with one line per name', () => {
    const { store: s, warned, defined } = store()
    s.add(0, [counter([{ labels: ['a'], value: 1 }])])
    s.add(1, [histogram([{ labels: [], counts: [1, 0, 0], sum: 1, count: 1 }], { name: 'hits_total' })])
    s.add(1, [counter([{ labels: [], value: 5 }], { labelNames: [] })])
    s.add(2, [counter([{ labels: ['a'], value: 1 }], { help: 'Other words' })])
    expect(defined).toEqual(['hits_total'])
    expect(warned).toEqual(['isopool: the handler metric hits_total reported by isolate 1 is a histogram with labels [] and buckets [1, 10], but hits_total is already a counter with labels [kind]: its values are ignored'])
    // Help text aside, the third report is the same metric.
    expect(s.samples('hits_total')).toEqual([{ labels: { kind: 'a' }, value: 2 }])
    expect(s.get('hits_total')!.help).toBe('Hits')

    s.add(0, [histogram([{ labels: [], counts: [0, 0, 1], sum: 50, count: 1 }])])
    s.add(1, [histogram([{ labels: [], counts: [0, 0, 1], sum: 50, count: 1 }], { buckets: [1, 5] })])
    expect(warned[1]).toMatch(/size reported by isolate 1 is a histogram with labels \[\] and buckets \[1, 5\], but size is already a histogram with labels \[\] and buckets \[1, 10\]/)
    expect(s.samples('size').at(-1)!.value).toBe(1)
  })

  it('refuses what no isolate of ours would send: isopool_ names, bad names, bad values', () => {
    const { store: s, warned, defined } = store()
    s.add(0, [counter([{ labels: ['a'], value: 1 }], { name: 'isopool_http_requests_total' })])
    s.add(0, [counter([{ labels: ['a'], value: 1 }], { name: 'a-b' })])
    s.add(0, [counter([{ labels: ['a'], value: 1 }], { type: 'summary' as 'counter', name: 'q' })])
    s.add(0, [histogram([], { name: 'bad_buckets', buckets: [2, 1] })])
    expect(defined).toEqual([])
    expect(warned).toHaveLength(4)
    expect(warned[0]).toMatch(/isopool_http_requests_total reported by isolate 0 is ignored: names starting with "isopool_"/)
    s.add(0, [counter([{ labels: ['a'], value: -1 }, { labels: ['a'], value: NaN }, { labels: ['a', 'extra'], value: 1 }, { labels: ['a'], value: 2 }])])
    s.add(0, [histogram([{ labels: [], counts: [1], sum: 1, count: 1 }])])
    s.add(0, 'not a list' as unknown as HandlerMetricDelta[])
    expect(s.samples('hits_total')).toEqual([{ labels: { kind: 'a' }, value: 2 }])
    expect(s.samples('size').map(x => x.value)).toEqual([0, 0, 0, 0, 0])
  })
})

describe('histogramSamples', () => {
  it('turns per-bucket counts into prom-client\'s cumulative samples, labels kept', () => {
    const out: ReturnType<MetricStore['samples']> = []
    histogramSamples('d', { route: '/x' }, [0.1, 1], [2, 0, 3], 7.5, 5, out)
    expect(out).toEqual([
      { metricName: 'd_bucket', labels: { route: '/x', le: 0.1 }, value: 2 },
      { metricName: 'd_bucket', labels: { route: '/x', le: 1 }, value: 2 },
      { metricName: 'd_bucket', labels: { route: '/x', le: '+Inf' }, value: 5 },
      { metricName: 'd_sum', labels: { route: '/x' }, value: 7.5 },
      { metricName: 'd_count', labels: { route: '/x' }, value: 5 }
    ])
  })
})
