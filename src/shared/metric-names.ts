// What a metric's and a label's name may be, in Prometheus' data model: both sides check them —
// the isolate when a handler module defines a metric (src/isolate/metrics.ts), the main thread
// when a report names one it has not seen (src/main/metric-store.ts).

/** A metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`. */
export const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
/** A label name: `[a-zA-Z_][a-zA-Z0-9_]*`; those starting with `__` are Prometheus' own. */
export const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/
/** The prefix of isopool's built-in metrics (src/main/metrics.ts): no handler's metric may take it. */
export const BUILTIN_PREFIX = 'isopool_'

/** Why `name` cannot name a handler-defined metric, or null when it can. */
export function metricNameProblem (name: unknown): string | null {
  if (typeof name !== 'string' || !METRIC_NAME.test(name)) return `the name must match ${METRIC_NAME.source}, got ${describe(name)}`
  if (name.startsWith(BUILTIN_PREFIX)) return `names starting with "${BUILTIN_PREFIX}" are isopool's built-in metrics`
  return null
}

/** Why `labelNames` cannot be a `type` metric's label names, or null when they can. */
export function labelNamesProblem (labelNames: unknown, type: 'counter' | 'histogram'): string | null {
  if (!Array.isArray(labelNames)) return `labelNames must be an array of strings, got ${describe(labelNames)}`
  const seen = new Set<string>()
  for (const label of labelNames as unknown[]) {
    if (typeof label !== 'string' || !LABEL_NAME.test(label)) return `a label name must match ${LABEL_NAME.source}, got ${describe(label)}`
    if (label.startsWith('__')) return `label names starting with "__" are reserved, got "${label}"`
    if (type === 'histogram' && label === 'le') return 'a histogram cannot have a label "le": its buckets use it'
    if (seen.has(label)) return `label "${label}" is named twice`
    seen.add(label)
  }
  return null
}

/** Why `buckets` cannot be a histogram's upper bounds, or null when they can. */
export function bucketsProblem (buckets: unknown): string | null {
  if (!Array.isArray(buckets) || buckets.length === 0) return `buckets must be a non-empty array of numbers, got ${describe(buckets)}`
  for (let i = 0; i < buckets.length; i++) {
    const b: unknown = buckets[i]
    if (typeof b !== 'number' || !Number.isFinite(b)) return `a bucket must be a finite number (+Inf is always added), got ${describe(b)}`
    if (i > 0 && b <= (buckets[i - 1] as number)) return `buckets must be strictly ascending, got ${buckets[i - 1] as number} then ${b}`
  }
  return null
}

function describe (value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 100 ? value.slice(0, 100) + '…' : value)
  if (Array.isArray(value)) return 'an array'
  return value === null ? 'null' : typeof value === 'object' ? 'an object' : String(value)
}
