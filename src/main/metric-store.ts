// The main thread's cumulative store of the handler-defined metrics: each isolate reports what
// its counters and histograms counted since its last report (src/isolate/metrics.ts), and the
// store adds every report in, so /metrics shows sums over all isolates, past and present — an
// isolate that dies takes only what it counted since its last report with it.
//
// A metric is defined by the first report that names it; a later report that gives the name
// another type, other label names or other buckets (another handler version after a reload, two
// modules that disagree) is ignored, with one log line per name.

import { bucketsProblem, labelNamesProblem, metricNameProblem } from '../shared/metric-names.ts'
import type { HandlerMetricDelta } from '../shared/protocol.ts'

/** One sample as prom-client renders it (a metric object's get().values). */
export interface Sample {
  metricName?: string
  labels: Record<string, string | number>
  value: number
}

export interface StoredSeries {
  labels: string[]
  /** A counter's total. */
  value: number
  /** A histogram's counts per bucket, not cumulative (the last for +Inf). */
  counts: number[] | null
  sum: number
  count: number
}

export interface StoredMetric {
  readonly type: 'counter' | 'histogram'
  readonly name: string
  readonly help: string
  readonly labelNames: readonly string[]
  readonly buckets: readonly number[] | undefined
  readonly series: Map<string, StoredSeries>
}

export interface MetricStoreEvents {
  /** A metric was reported for the first time (to be registered for rendering). */
  defined (metric: StoredMetric): void
  /** A report was refused: one line per metric name. */
  warn (line: string): void
}

export class MetricStore {
  private readonly metrics = new Map<string, StoredMetric>()
  private readonly refused = new Set<string>()
  private readonly events: MetricStoreEvents

  constructor (events: MetricStoreEvents) {
    this.events = events
  }

  /** The metric named `name`, if a report defined it. */
  get (name: string): StoredMetric | undefined {
    return this.metrics.get(name)
  }

  /** Add the deltas isolate `isolate` reported. */
  add (isolate: number, deltas: readonly HandlerMetricDelta[]): void {
    if (!Array.isArray(deltas)) return
    for (const d of deltas) {
      const m = this.metricOf(isolate, d)
      if (m === null || !Array.isArray(d.series)) continue
      for (const s of d.series) {
        if (s === null || typeof s !== 'object' || !Array.isArray(s.labels) || s.labels.length !== m.labelNames.length) continue
        const key = s.labels.join('\0')
        let stored = m.series.get(key)
        if (stored === undefined) {
          stored = { labels: s.labels.map(String), value: 0, counts: m.buckets === undefined ? null : new Array<number>(m.buckets.length + 1).fill(0), sum: 0, count: 0 }
          m.series.set(key, stored)
        }
        if (m.type === 'counter') {
          if (typeof s.value === 'number' && Number.isFinite(s.value) && s.value >= 0) stored.value += s.value
        } else if (Array.isArray(s.counts) && s.counts.length === stored.counts!.length) {
          const counts = stored.counts!
          for (let i = 0; i < counts.length; i++) counts[i] += Number(s.counts[i]) || 0
          stored.sum += Number(s.sum) || 0
          stored.count += Number(s.count) || 0
        }
      }
    }
  }

  /** prom-client's samples of `name`: a counter's totals, a histogram's _bucket{le}, _sum and
   * _count per label set. A metric without labels that counted nothing shows zeros. */
  samples (name: string): Sample[] {
    const m = this.metrics.get(name)
    if (m === undefined) return []
    const out: Sample[] = []
    if (m.series.size === 0 && m.labelNames.length === 0) {
      if (m.type === 'counter') out.push({ labels: {}, value: 0 })
      else histogramSamples(name, {}, m.buckets!, new Array<number>(m.buckets!.length + 1).fill(0), 0, 0, out)
      return out
    }
    for (const s of m.series.values()) {
      const labels = labelObject(m.labelNames, s.labels)
      if (m.type === 'counter') out.push({ labels, value: s.value })
      else histogramSamples(name, labels, m.buckets!, s.counts!, s.sum, s.count, out)
    }
    return out
  }

  /** The metric `d` adds to: defined now if new, null if `d` is refused. */
  private metricOf (isolate: number, d: HandlerMetricDelta): StoredMetric | null {
    if (d === null || typeof d !== 'object') return null
    const known = this.metrics.get(d.name)
    if (known !== undefined) {
      if (known.type === d.type && sameList(known.labelNames, d.labelNames) && sameList(known.buckets ?? [], d.buckets ?? [])) return known
      this.refuse(d.name, `isopool: the handler metric ${d.name} reported by isolate ${isolate} is a ${String(d.type)} with labels [${listOf(d.labelNames)}]${d.type === 'histogram' ? ` and buckets [${listOf(d.buckets)}]` : ''}, but ${d.name} is already a ${known.type} with labels [${known.labelNames.join(', ')}]${known.buckets === undefined ? '' : ` and buckets [${known.buckets.join(', ')}]`}: its values are ignored`)
      return null
    }
    const problem = d.type !== 'counter' && d.type !== 'histogram'
      ? `unknown type ${String(d.type)}`
      : metricNameProblem(d.name) ?? labelNamesProblem(d.labelNames, d.type) ?? (d.type === 'histogram' ? bucketsProblem(d.buckets) : null)
    if (problem !== null) {
      this.refuse(String(d.name), `isopool: the handler metric ${String(d.name)} reported by isolate ${isolate} is ignored: ${problem}`)
      return null
    }
    const m: StoredMetric = {
      type: d.type,
      name: d.name,
      help: typeof d.help === 'string' && d.help !== '' ? d.help : d.name,
      labelNames: [...d.labelNames],
      buckets: d.type === 'histogram' ? [...d.buckets!] : undefined,
      series: new Map()
    }
    this.metrics.set(d.name, m)
    this.events.defined(m)
    return m
  }

  private refuse (name: string, line: string): void {
    if (this.refused.has(name)) return
    this.refused.add(name)
    this.events.warn(line)
  }
}

/** `names[i]` = `values[i]`, as prom-client takes labels. */
export function labelObject (names: readonly string[], values: readonly string[]): Record<string, string> {
  const labels: Record<string, string> = {}
  for (let i = 0; i < names.length; i++) labels[names[i]] = values[i]
  return labels
}

/** A histogram's samples for one label set, as prom-client's Histogram renders them: cumulative
 * `name_bucket{…, le}` for each bound and +Inf, then `name_sum` and `name_count`. `counts` are
 * per bucket, not cumulative (buckets.length + 1, the last for +Inf). */
export function histogramSamples (name: string, labels: Record<string, string | number>, buckets: readonly number[], counts: ArrayLike<number>, sum: number, count: number, out: Sample[]): void {
  const bucket = name + '_bucket'
  let acc = 0
  for (let i = 0; i < buckets.length; i++) {
    acc += counts[i]
    out.push({ metricName: bucket, labels: { ...labels, le: buckets[i] }, value: acc })
  }
  acc += counts[buckets.length]
  out.push({ metricName: bucket, labels: { ...labels, le: '+Inf' }, value: acc })
  out.push({ metricName: name + '_sum', labels, value: sum })
  out.push({ metricName: name + '_count', labels, value: count })
}

function sameList<T> (a: readonly T[], b: unknown): boolean {
  return Array.isArray(b) && a.length === b.length && a.every((x, i) => x === b[i])
}

function listOf (value: unknown): string {
  return Array.isArray(value) ? value.map(String).join(', ') : String(value)
}
