// Handler-defined metrics (isopool/handler's counter() and histogram()), as an isolate keeps
// them: plain in-memory deltas, per metric and label set, since the last report.
//
//   handler: hits.inc({ route: 'a' }) ─▶ the series' delta += 1          (a Map lookup and an add)
//   main thread, at each scrape: { type: 'metrics' } ─▶ take() ─▶ the deltas, and they restart at 0
//                                                       │
//                                                       ▼ src/main/metric-store.ts adds up every
//                                                         isolate's deltas and renders the sums
//
// Metrics are created at a handler module's top level, so each isolate has its own copy of
// each; nothing crosses per request. The registry is one per thread (on globalThis): the worker
// that reports and the handler modules that count share it even when they load isopool from two
// places (a global CLI serving a project with its own copy).

import { IsopoolError } from '../shared/errors.ts'
import { bucketsProblem, labelNamesProblem, metricNameProblem } from '../shared/metric-names.ts'
import type { HandlerMetricDelta } from '../shared/protocol.ts'

/** Label values by label name; a label left out has the empty value (Prometheus: no label). */
export type MetricLabels = Record<string, string | number>

export interface CounterOptions {
  /** `[a-zA-Z_:][a-zA-Z0-9_:]*`, not starting with `isopool_`; by convention ending in `_total`. */
  name: string
  help: string
  labelNames?: readonly string[]
}

export interface HistogramOptions extends CounterOptions {
  /** Upper bounds, strictly ascending (+Inf is added). Default prom-client's:
   * 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10. */
  buckets?: readonly number[]
}

/** A counter of this isolate; the main thread exposes the sum over every isolate. */
export interface Counter {
  /** Add `value` (default 1, finite and ≥ 0) to the series of `labels`. */
  inc (labels?: MetricLabels, value?: number): void
  /** Add `value` (default 1) to the series without labels. */
  inc (value?: number): void
}

/** A histogram of this isolate; the main thread exposes the sum over every isolate. */
export interface Histogram {
  /** Count `value` (finite) in the series of `labels`. */
  observe (labels: MetricLabels, value: number): void
  /** Count `value` in the series without labels. */
  observe (value: number): void
}

export const DEFAULT_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/** One label set's delta: a counter's increase, or a histogram's counts per bucket (not
 * cumulative; the last for +Inf), sum and count. */
interface Series {
  labels: string[]
  value: number
  counts: number[] | null
  sum: number
  count: number
}

interface Definition {
  type: 'counter' | 'histogram'
  name: string
  help: string
  labelNames: string[]
  labelSet: Set<string>
  buckets: number[] | undefined
  series: Map<string, Series>
  /** Reported once (even without a series), so the main thread shows it from the first scrape. */
  reported: boolean
}

function invalid (name: unknown, reason: string): IsopoolError {
  return new IsopoolError('ISOPOOL_ERR_INVALID_METRIC', { name: typeof name === 'string' ? JSON.stringify(name) : String(name), reason })
}

/** The series of `labels` in `def`, made on first use. Throws for a label `def` does not have. */
function seriesOf (def: Definition, labels: MetricLabels | undefined): Series {
  const names = def.labelNames
  let key = ''
  if (labels !== undefined && labels !== null) {
    if (typeof labels !== 'object') throw invalid(def.name, `labels must be an object, got ${typeof labels}`)
    for (const k in labels) if (!def.labelSet.has(k)) throw invalid(def.name, `it has no label "${k}" (labels: ${names.length === 0 ? 'none' : names.join(', ')})`)
    // One label: its value is the key; more: joined by NUL (a value holding NUL could alias).
    for (let i = 0; i < names.length; i++) {
      const v = labels[names[i]]
      key = i === 0 ? (v === undefined ? '' : String(v)) : key + '\0' + (v === undefined ? '' : String(v))
    }
  }
  let s = def.series.get(key)
  if (s === undefined) {
    const values = names.map(n => { const v = labels?.[n]; return v === undefined ? '' : String(v) })
    s = { labels: values, value: 0, counts: def.buckets === undefined ? null : new Array<number>(def.buckets.length + 1).fill(0), sum: 0, count: 0 }
    def.series.set(key, s)
  }
  return s
}

/** The metrics one thread's handler modules defined, and their deltas since the last take(). */
export class HandlerMetrics {
  private readonly defs = new Map<string, Definition>()

  counter (options: CounterOptions): Counter {
    const def = this.define('counter', options)
    return {
      inc (labels?: MetricLabels | number, value?: number): void {
        let by = value
        let set: MetricLabels | undefined
        if (typeof labels === 'number') by = labels
        else set = labels
        if (by === undefined) by = 1
        else if (typeof by !== 'number' || !Number.isFinite(by) || by < 0) throw invalid(def.name, `a counter only goes up: inc() takes a finite number ≥ 0, got ${String(by)}`)
        seriesOf(def, set).value += by
      }
    }
  }

  histogram (options: HistogramOptions): Histogram {
    const def = this.define('histogram', options)
    const bounds = def.buckets!
    return {
      observe (labels: MetricLabels | number, value?: number): void {
        let v = value
        let set: MetricLabels | undefined
        if (typeof labels === 'number') v = labels
        else set = labels
        if (typeof v !== 'number' || !Number.isFinite(v)) throw invalid(def.name, `observe() takes a finite number, got ${String(v)}`)
        const s = seriesOf(def, set)
        let i = 0
        while (i < bounds.length && v > bounds[i]) i++
        s.counts![i]++
        s.sum += v
        s.count++
      }
    }
  }

  /** The deltas since the last take(), which restart from zero. */
  take (): HandlerMetricDelta[] {
    const out: HandlerMetricDelta[] = []
    for (const def of this.defs.values()) {
      if (def.reported && def.series.size === 0) continue
      def.reported = true
      const series: HandlerMetricDelta['series'] = []
      for (const s of def.series.values()) {
        series.push(def.type === 'counter' ? { labels: s.labels, value: s.value } : { labels: s.labels, counts: s.counts!, sum: s.sum, count: s.count })
      }
      def.series = new Map()
      out.push({
        type: def.type,
        name: def.name,
        help: def.help,
        labelNames: def.labelNames,
        ...(def.buckets === undefined ? {} : { buckets: def.buckets }),
        series
      })
    }
    return out
  }

  /** Check the options; the same metric defined again (same type, labels and buckets) is the
   * same metric, any other definition of its name is an error. */
  private define (type: 'counter' | 'histogram', options: HistogramOptions): Definition {
    if (options === null || typeof options !== 'object') throw invalid(undefined, `${type}() takes { name, help${type === 'histogram' ? ', labelNames?, buckets?' : ', labelNames?'} }`)
    const { name, help } = options
    const nameProblem = metricNameProblem(name)
    if (nameProblem !== null) throw invalid(name, nameProblem)
    if (typeof help !== 'string' || help === '') throw invalid(name, 'help must be a non-empty string')
    const labelNames = options.labelNames === undefined ? [] : options.labelNames
    const labelProblem = labelNamesProblem(labelNames, type)
    if (labelProblem !== null) throw invalid(name, labelProblem)
    let buckets: number[] | undefined
    if (type === 'histogram') {
      const bucketProblem = bucketsProblem(options.buckets ?? DEFAULT_BUCKETS)
      if (bucketProblem !== null) throw invalid(name, bucketProblem)
      buckets = [...(options.buckets ?? DEFAULT_BUCKETS)]
    } else if ('buckets' in options) {
      throw invalid(name, 'a counter has no buckets')
    }
    const known = this.defs.get(name)
    if (known !== undefined) {
      if (known.type !== type || !sameList(known.labelNames, labelNames) || !sameList(known.buckets ?? [], buckets ?? [])) {
        throw invalid(name, `it is already defined in this isolate as a ${known.type} with labels [${known.labelNames.join(', ')}]${known.buckets === undefined ? '' : ` and buckets [${known.buckets.join(', ')}]`}`)
      }
      return known
    }
    const def: Definition = { type, name, help, labelNames: [...labelNames], labelSet: new Set(labelNames), buckets, series: new Map(), reported: false }
    this.defs.set(name, def)
    return def
  }
}

function sameList<T> (a: readonly T[], b: readonly T[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}

const REGISTRY = Symbol.for('isopool.handlerMetrics')
const slot = globalThis as { [REGISTRY]?: HandlerMetrics }
/** This thread's handler metrics. */
const metrics: HandlerMetrics = slot[REGISTRY] ??= new HandlerMetrics()

/** A counter, summed over every isolate on /metrics (the metrics option). Create it at a handler
 * module's top level: `const hits = counter({ name: 'app_hits_total', help: 'Hits', labelNames: ['kind'] })`. */
export function counter (options: CounterOptions): Counter {
  return metrics.counter(options)
}

/** A histogram, summed over every isolate on /metrics (the metrics option). Create it at a
 * handler module's top level. */
export function histogram (options: HistogramOptions): Histogram {
  return metrics.histogram(options)
}

/** This thread's deltas since the last report (the worker's answer to { type: 'metrics' }). */
export function takeMetricDeltas (): HandlerMetricDelta[] {
  return metrics.take()
}
