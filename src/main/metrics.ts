// Prometheus metrics on the main thread (the metrics option): GET or HEAD of the path (default
// /metrics) is answered here, before routing, with prom-client's text exposition of a registry
// of this server's own (two servers in one process share nothing).
//
//   every request ─▶ finished(): its route → method series: duration bucket += 1, status += 1
//                                (three Map lookups, none when the route, method and status are
//                                the last answer's, and a few adds; no string is built)
//   GET /metrics  ─▶ { type: 'metrics', id } to every isolate ─▶ each answers its CPU time and
//                    its handler metrics' deltas (src/isolate/metrics.ts), or is left out after
//                    REPORT_TIMEOUT ─▶ deltas added to the store (metric-store.ts) ─▶ the gauges
//                    read the server now (collect()) ─▶ registry.metrics() ─▶ the answer
//
// The request metrics are not prom-client Counters and Histograms: those hash a label object on
// every inc(); here the series are found by the route pattern's and the method's strings, and
// prom-client only renders them, at scrape time, through metric objects of our own.
//
// prom-client is loaded when the option is on, not before: a server without metrics does not
// pay its import (~50 ms) either.

import { createRequire } from 'node:module'
import type { Gauge, Metric, Registry } from 'prom-client'
import { IsopoolError } from '../shared/errors.ts'
import type { IsolateMessage } from '../shared/protocol.ts'
import { writeError } from './http1.ts'
import type { Http1Request, Http1Response } from './http1.ts'
import { histogramSamples, MetricStore } from './metric-store.ts'
import type { Sample, StoredMetric } from './metric-store.ts'
import { knownKeys } from './options.ts'
import type { ResolvedOptions } from './options.ts'
import { badOption, elapsedMs } from './services.ts'
import type { RequestService, ServiceHost, ServiceIsolate } from './services.ts'

/** Upper bounds of isopool_http_request_duration_seconds, in seconds: 1 ms to 10 s. */
export const DURATION_BUCKETS: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
/** The route label of a request no route matched: builtins, static files, 404s, the scrape itself. */
export const UNMATCHED = 'unmatched'
/** Milliseconds a scrape waits for the isolates' reports: one busy in a long synchronous handler
 * is left out of this scrape (its deltas come with the next). */
export const REPORT_TIMEOUT = 1000
/** What an isolate's state may be (ServiceIsolate.state): each is shown, 0 when none is in it. */
const STATES = ['starting', 'ready', 'stalled', 'suspect', 'stopping']

const requireCjs = createRequire(import.meta.url)

/** The requests of one route and method: durations by bucket (not cumulative), and by status. */
export class RequestSeries {
  readonly counts: Float64Array
  sum = 0
  count = 0
  /** Requests by status code (0: the connection closed before any answer was written). */
  readonly statuses = new Map<number, { n: number }>()
  /** The status last counted, and its count: most answers of a route have the status of the
   * one before, and then no Map is asked. */
  private lastStatus = -1
  private last: { n: number } = { n: 0 }

  constructor (buckets: number) {
    this.counts = new Float64Array(buckets + 1)
  }

  record (seconds: number, status: number, bounds: readonly number[]): void {
    let i = 0
    while (i < bounds.length && seconds > bounds[i]) i++
    this.counts[i]++
    this.sum += seconds
    this.count++
    if (status !== this.lastStatus) {
      let c = this.statuses.get(status)
      if (c === undefined) this.statuses.set(status, c = { n: 0 })
      this.lastStatus = status
      this.last = c
    }
    this.last.n++
  }
}

/** The requests answered, by route pattern, then by method. */
export class RequestLog {
  readonly routes = new Map<string, Map<string, RequestSeries>>()
  readonly bounds: readonly number[]

  constructor (bounds: readonly number[] = DURATION_BUCKETS) {
    this.bounds = bounds
  }

  /** The route and method last recorded, and their series: a server's next answer is mostly of
   * the route and method of the one before, and then no Map is asked. */
  private lastRoute = ''
  private lastMethod = ''
  private last: RequestSeries | null = null

  record (route: string, method: string, seconds: number, status: number): void {
    if (route === this.lastRoute && method === this.lastMethod && this.last !== null) {
      this.last.record(seconds, status, this.bounds)
      return
    }
    let methods = this.routes.get(route)
    if (methods === undefined) {
      methods = new Map()
      this.routes.set(route, methods)
    }
    let s = methods.get(method)
    if (s === undefined) {
      s = new RequestSeries(this.bounds.length)
      methods.set(method, s)
    }
    this.lastRoute = route
    this.lastMethod = method
    this.last = s
    s.record(seconds, status, this.bounds)
  }

  /** isopool_http_requests_total's samples. */
  totals (): Sample[] {
    const out: Sample[] = []
    for (const [route, methods] of this.routes) {
      for (const [method, s] of methods) {
        for (const [status, c] of s.statuses) out.push({ labels: { method, route, status: String(status) }, value: c.n })
      }
    }
    return out
  }

  /** isopool_http_request_duration_seconds' samples. */
  durations (name: string): Sample[] {
    const out: Sample[] = []
    for (const [route, methods] of this.routes) {
      for (const [method, s] of methods) histogramSamples(name, { method, route }, this.bounds, s.counts, s.sum, s.count, out)
    }
    return out
  }
}

/** The metrics option resolved: the path, or null when metrics are off. Throws
 * ISOPOOL_ERR_INVALID_OPTION for a bad value. */
export function metricsPath (options: ResolvedOptions): string | null {
  const given: unknown = options.given.metrics
  if (given === undefined || given === false) return null
  let path = '/metrics'
  if (given !== true) {
    if (given === null || typeof given !== 'object' || Array.isArray(given)) badOption('metrics', `must be true, false or { path }, got ${given === null ? 'null' : Array.isArray(given) ? 'an array' : typeof given}`)
    knownKeys(given, { path: true }, 'metrics.')
    const p: unknown = (given as { path?: unknown }).path
    if (p !== undefined) {
      if (typeof p !== 'string' || !/^\/[^?#\s]*$/.test(p)) badOption('metrics.path', `must be a path starting with "/", without a query, got ${JSON.stringify(p) ?? String(p)}`)
      path = p
    }
  }
  // The scrape is answered before the builtins: one of theirs would never be reached.
  const taken: [string, string | null][] = [['health.live', options.livePath], ['health.ready', options.readyPath], ['docs.openapi', options.openapiPath], ['docs.ui', options.docsPath]]
  for (const [option, at] of taken) if (at === path) badOption('metrics.path', `${path} is already the path of ${option}`)
  return path
}

/** The metrics service, or null when the option is off. */
export function metricsService (options: ResolvedOptions, host: ServiceHost): RequestService | null {
  const path = metricsPath(options)
  return path === null ? null : new MetricsService(path, host)
}

/** The server as a scrape found it when it came: what its gauges show. */
interface Snapshot {
  readonly load: { inFlight: number, waiting: number, held: number }
  readonly restarts: number
  readonly isolates: readonly { index: number, state: string, utilization: number, rings: { request: number, response: number, capacity: number } }[]
}

const EMPTY: Snapshot = { load: { inFlight: 0, waiting: 0, held: 0 }, restarts: 0, isolates: [] }

/** A scrape waiting for the isolates' reports. */
interface Waiter {
  /** Isolates that have not answered yet. */
  readonly waiting: Set<number>
  finish (): void
}

export class MetricsService implements RequestService {
  readonly path: string
  private readonly host: ServiceHost
  readonly registry: Registry
  private readonly requests = new RequestLog()
  private readonly store: MetricStore
  /** Each isolate's last reported CPU time, in µs. */
  private readonly cpu = new Map<number, { user: number, system: number }>()
  private readonly waiters = new Map<number, Waiter>()
  private nextId = 1
  /** What the scrape being rendered found, read by the gauges' collect(). */
  private now: Snapshot = EMPTY

  constructor (path: string, host: ServiceHost) {
    this.path = path
    this.host = host
    const prom = requireCjs('prom-client') as typeof import('prom-client')
    const registry = this.registry = new prom.Registry()
    const custom = (name: string, help: string, type: 'counter' | 'histogram', samples: () => Sample[]): void => {
      registry.registerMetric(customMetric(name, help, type, samples))
    }
    this.store = new MetricStore({
      defined: (m: StoredMetric) => {
        if (registry.getSingleMetric(m.name) !== undefined) {
          console.error(`isopool: the handler metric ${m.name} has the name of one of isopool's own metrics: it is not shown`)
          return
        }
        custom(m.name, m.help, m.type, () => this.store.samples(m.name))
      },
      warn: (line) => console.error(line)
    })

    custom('isopool_http_requests_total', 'HTTP requests answered, by method, route pattern ("unmatched" when no route matched) and status (0: the client left before an answer)', 'counter', () => this.requests.totals())
    custom('isopool_http_request_duration_seconds', 'Seconds from a request\'s head to the end of its answer, by method and route pattern', 'histogram', () => this.requests.durations('isopool_http_request_duration_seconds'))
    // Gauges are read when scraped (collect()), never updated per request.
    const gauge = (name: string, help: string, labelNames: string[], read: (g: Gauge) => void): void => {
      void new prom.Gauge({ name, help, labelNames, registers: [registry], collect () { read(this) } })
    }
    gauge('isopool_requests_in_flight', 'Requests placed on an isolate and not answered yet', [], g => g.set(this.now.load.inFlight))
    gauge('isopool_requests_queued', 'Requests waiting in the main thread for an isolate', [], g => g.set(this.now.load.waiting))
    gauge('isopool_requests_held', 'Of the requests waiting, those held back as long (their route is slow)', [], g => g.set(this.now.load.held))
    gauge('isopool_isolates', 'Isolates serving, by state', ['state'], g => {
      const n = new Map<string, number>(STATES.map(s => [s, 0]))
      for (const i of this.now.isolates) n.set(i.state, (n.get(i.state) ?? 0) + 1)
      g.reset()
      for (const [state, count] of n) g.set({ state }, count)
    })
    gauge('isopool_isolate_event_loop_utilization', 'Each isolate\'s event-loop utilization since it started, 0 to 1', ['isolate'], g => {
      g.reset()
      for (const i of this.now.isolates) g.set({ isolate: String(i.index) }, i.utilization)
    })
    gauge('isopool_ring_bytes_used', 'Bytes in use in each isolate\'s request and response rings', ['isolate', 'ring'], g => {
      g.reset()
      for (const i of this.now.isolates) {
        const r = i.rings
        g.set({ isolate: String(i.index), ring: 'request' }, r.request)
        g.set({ isolate: String(i.index), ring: 'response' }, r.response)
      }
    })
    gauge('isopool_ring_bytes_capacity', 'Data bytes of each isolate\'s request and response rings (the ringSize option)', ['isolate', 'ring'], g => {
      g.reset()
      for (const i of this.now.isolates) {
        const capacity = i.rings.capacity
        g.set({ isolate: String(i.index), ring: 'request' }, capacity)
        g.set({ isolate: String(i.index), ring: 'response' }, capacity)
      }
    })
    custom('isopool_isolate_restarts_total', 'Isolates replaced since listen(): crashes, exits, stuck isolates (not reloads)', 'counter', () => [{ labels: {}, value: this.now.restarts }])
    custom('isopool_isolate_cpu_seconds_total', 'CPU seconds each isolate\'s thread has used, by mode, as it last reported', 'counter', () => this.cpuSamples())
  }

  begin (req: Http1Request, res: Http1Response): boolean {
    const url = req.url
    const path = this.path
    // Exact path, any query string.
    if (!url.startsWith(path) || (url.length !== path.length && url.charCodeAt(path.length) !== 63 /* ? */)) return true
    if (req.method !== 'GET' && req.method !== 'HEAD') return true
    void this.scrape(res)
    return false
  }

  finished (req: Http1Request, res: Http1Response): void {
    this.requests.record(req.route ?? UNMATCHED, req.method, elapsedMs(req) / 1000, res.statusCode)
  }

  message (isolate: number, msg: IsolateMessage): void {
    if (msg.type !== 'metrics') return
    const report = msg.metrics
    if (report === null || typeof report !== 'object') return
    const cpu = report.cpu
    if (cpu !== null && typeof cpu === 'object' && Number.isFinite(cpu.user) && Number.isFinite(cpu.system)) this.cpu.set(isolate, { user: cpu.user, system: cpu.system })
    // A report that comes after its scrape gave up on it still counts, in the next scrape.
    this.store.add(isolate, report.handler)
    const w = this.waiters.get(msg.id)
    if (w !== undefined) {
      w.waiting.delete(isolate)
      if (w.waiting.size === 0) w.finish()
    }
  }

  close (): void {
    for (const w of [...this.waiters.values()]) w.finish()
  }

  /** Answer a scrape: the isolates' reports (or what came of them in time), then the text. */
  private async scrape (res: Http1Response): Promise<void> {
    try {
      // The gauges say what the scraper would have seen when it asked, not after the wait.
      const isolates = this.host.isolates()
      const found: Snapshot = {
        load: this.host.load(),
        restarts: this.host.restarts(),
        isolates: isolates.map(i => ({ index: i.index, state: i.state, utilization: i.utilization(), rings: i.rings() }))
      }
      await this.gather(isolates.filter(i => i.state !== 'stopping'))
      // metrics() calls every collect() and get() before it first awaits: two scrapes at once
      // cannot see each other's snapshot.
      this.now = found
      const rendering = this.registry.metrics()
      this.now = EMPTY
      const body = Buffer.from(await rendering)
      if (res.destroyed || res.writableEnded) return
      res.writeHead(200, ['content-type', this.registry.contentType, 'cache-control', 'no-store', 'content-length', String(body.byteLength)], true)
      res.end(body)
    } catch (err) {
      console.error('isopool: the metrics scrape failed:', err)
      writeError(res, new IsopoolError('ISOPOOL_ERR_INTERNAL'))
    }
  }

  /** Ask every isolate for its report; resolves when all have answered or after REPORT_TIMEOUT. */
  private gather (isolates: readonly ServiceIsolate[]): Promise<void> {
    if (isolates.length === 0) return Promise.resolve()
    const id = this.nextId++
    return new Promise<void>(resolve => {
      const waiting = new Set<number>()
      const finish = (): void => {
        clearTimeout(timer)
        this.waiters.delete(id)
        resolve()
      }
      const timer = setTimeout(finish, REPORT_TIMEOUT)
      timer.unref()
      this.waiters.set(id, { waiting, finish })
      for (const i of isolates) {
        waiting.add(i.index)
        try {
          i.post({ type: 'metrics', id })
        } catch {
          waiting.delete(i.index) // gone meanwhile: nothing will come
        }
      }
      if (waiting.size === 0) finish()
    })
  }

  /** isopool_isolate_cpu_seconds_total's samples: the isolates serving now, as each last said. */
  private cpuSamples (): Sample[] {
    const out: Sample[] = []
    const serving = new Set(this.now.isolates.map(i => i.index))
    for (const [index, cpu] of this.cpu) {
      if (!serving.has(index)) {
        this.cpu.delete(index) // replaced or retired: its thread is gone
        continue
      }
      const isolate = String(index)
      out.push({ labels: { isolate, mode: 'user' }, value: cpu.user / 1e6 })
      out.push({ labels: { isolate, mode: 'system' }, value: cpu.system / 1e6 })
    }
    return out
  }
}

/** A metric object prom-client's registry renders like its own, whose samples come from `samples`. */
function customMetric (name: string, help: string, type: 'counter' | 'histogram', samples: () => Sample[]): Metric {
  const metric = {
    name,
    help,
    type,
    aggregator: 'sum',
    get: async () => ({ name, help, type, aggregator: 'sum', values: samples() }),
    // Registry.resetMetrics() calls it; these values are not the registry's to reset.
    reset: () => {}
  }
  return metric as unknown as Metric
}
