// The metrics service without sockets or threads (src/main/metrics.ts): which requests it takes,
// how a scrape waits for the isolates' reports (on a fake clock), and the request log.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { DURATION_BUCKETS, MetricsService, metricsPath, REPORT_TIMEOUT, RequestLog } from '../../src/main/metrics.ts'
import type { ServiceHost, ServiceIsolate } from '../../src/main/services.ts'
import type { Http1Request, Http1Response } from '../../src/main/http1.ts'
import type { ResolvedOptions, ServerOptions } from '../../src/main/options.ts'
import type { HandlerMetricDelta, IsolateMessage } from '../../src/shared/protocol.ts'

/** Two isolates that record what they were asked; the test answers for them. */
function host (): { host: ServiceHost, asked: { isolate: number, id: number }[] } {
  const asked: { isolate: number, id: number }[] = []
  const isolate = (index: number): ServiceIsolate => ({
    index,
    state: 'ready',
    post: (msg) => { asked.push({ isolate: index, id: msg.id }) },
    utilization: () => 0.25,
    rings: () => ({ request: 10, response: 20, capacity: 1024 })
  })
  return {
    asked,
    host: {
      isolates: () => [isolate(0), isolate(1)],
      load: () => ({ inFlight: 3, waiting: 2, held: 1 }),
      restarts: () => 4
    }
  }
}

/** A request for `url` and a response that resolves `done` with what was written. */
function exchange (url: string, method = 'GET'): { req: Http1Request, res: Http1Response, done: Promise<{ status: number, headers: string[], body: string }> } {
  const req = { url, method, route: null, startedAt: 0 } as unknown as Http1Request
  let resolve!: (v: { status: number, headers: string[], body: string }) => void
  const done = new Promise<{ status: number, headers: string[], body: string }>(r => { resolve = r })
  let status = 0
  let headers: string[] = []
  const res = {
    destroyed: false,
    writableEnded: false,
    headersSent: false,
    statusCode: 0,
    writeHead (s: number, h: string[]) { status = s; headers = h },
    end (body: Uint8Array) { resolve({ status, headers, body: Buffer.from(body).toString() }) }
  } as unknown as Http1Response
  return { req, res, done }
}

const report = (id: number, handler: HandlerMetricDelta[], user = 2_000_000): IsolateMessage =>
  ({ type: 'metrics', id, metrics: { cpu: { user, system: 500_000 }, handler } })
const hits = (value: number): HandlerMetricDelta[] => [{ type: 'counter', name: 'app_hits_total', help: 'Hits', labelNames: [], series: [{ labels: [], value }] }]

/** Let the scrape's promises run (the fake clock does not move). */
const settle = async (): Promise<void> => { await vi.advanceTimersByTimeAsync(0) }

beforeEach(() => { vi.useFakeTimers() })
afterEach(() => { vi.useRealTimers() })

describe('MetricsService', () => {
  it('takes GET and HEAD of its path, any query, and nothing else', () => {
    const { host: h } = host()
    const m = new MetricsService('/metrics', h)
    const takes = (url: string, method = 'GET'): boolean => { const e = exchange(url, method); return !m.begin(e.req, e.res) }
    expect(takes('/metrics')).toBe(true)
    expect(takes('/metrics?x=1')).toBe(true)
    expect(takes('/metrics', 'HEAD')).toBe(true)
    expect(takes('/metrics', 'POST')).toBe(false)
    expect(takes('/metricsx')).toBe(false)
    expect(takes('/metric')).toBe(false)
    expect(takes('/metrics/')).toBe(false)
    expect(takes('/')).toBe(false)
  })

  it('waits for every isolate\'s report, then renders their sums and CPU time', async () => {
    const { host: h, asked } = host()
    const m = new MetricsService('/metrics', h)
    const e = exchange('/metrics')
    m.begin(e.req, e.res)
    await settle()
    expect(asked.map(a => a.isolate)).toEqual([0, 1])
    const id = asked[0].id
    m.message(0, report(id, hits(2)))
    let answered = false
    void e.done.then(() => { answered = true })
    await settle()
    expect(answered).toBe(false)
    m.message(1, report(id, hits(3), 1_500_000))
    const { status, headers, body } = await e.done
    expect(status).toBe(200)
    expect(headers.slice(0, 2)).toEqual(['content-type', 'text/plain; version=0.0.4; charset=utf-8'])
    expect(body).toContain('app_hits_total 5\n')
    expect(body).toContain('isopool_isolate_cpu_seconds_total{isolate="0",mode="user"} 2\n')
    expect(body).toContain('isopool_isolate_cpu_seconds_total{isolate="1",mode="user"} 1.5\n')
    expect(body).toContain('isopool_isolate_cpu_seconds_total{isolate="1",mode="system"} 0.5\n')
    expect(body).toContain('isopool_requests_in_flight 3\n')
    expect(body).toContain('isopool_requests_queued 2\n')
    expect(body).toContain('isopool_requests_held 1\n')
    expect(body).toContain('isopool_isolate_restarts_total 4\n')
    expect(body).toContain('isopool_isolates{state="ready"} 2\n')
    expect(body).toContain('isopool_isolates{state="stalled"} 0\n')
    expect(body).toContain('isopool_isolate_event_loop_utilization{isolate="1"} 0.25\n')
    expect(body).toContain('isopool_ring_bytes_used{isolate="0",ring="response"} 20\n')
    expect(body).toContain('isopool_ring_bytes_capacity{isolate="0",ring="request"} 1024\n')
  })

  it('answers with what came once REPORT_TIMEOUT has passed, and adds a late report to the next scrape', async () => {
    const { host: h, asked } = host()
    const m = new MetricsService('/metrics', h)
    const first = exchange('/metrics')
    m.begin(first.req, first.res)
    await settle()
    m.message(0, report(asked[0].id, hits(2)))
    let answered = false
    void first.done.then(() => { answered = true })
    await vi.advanceTimersByTimeAsync(REPORT_TIMEOUT - 1)
    expect(answered).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    expect((await first.done).body).toContain('app_hits_total 2\n')
    // Isolate 1 was busy: its report comes late, and is not lost.
    m.message(1, report(asked[1].id, hits(3)))
    const second = exchange('/metrics')
    m.begin(second.req, second.res)
    await settle()
    for (const a of asked.slice(2)) m.message(a.isolate, report(a.id, []))
    expect((await second.done).body).toContain('app_hits_total 5\n')
  })

  it('records each request by route pattern (unmatched without one), method and status', async () => {
    const { host: h, asked } = host()
    const m = new MetricsService('/metrics', h)
    const now = performance.now()
    const finish = (route: string | null, status: number, method = 'GET'): void => {
      const e = exchange('/x', method)
      ;(e.req as { route: string | null }).route = route
      ;(e.req as { startedAt: number }).startedAt = now - 3 // 3 ms ago
      ;(e.res as { statusCode: number }).statusCode = status
      m.finished(e.req, e.res)
    }
    finish('/users/:id', 200)
    finish('/users/:id', 200)
    finish('/users/:id', 500)
    finish('/users/:id', 200, 'POST')
    finish(null, 404)
    const e = exchange('/metrics')
    m.begin(e.req, e.res)
    await settle()
    for (const a of asked) m.message(a.isolate, report(a.id, []))
    const { body } = await e.done
    expect(body).toContain('isopool_http_requests_total{method="GET",route="/users/:id",status="200"} 2\n')
    expect(body).toContain('isopool_http_requests_total{method="GET",route="/users/:id",status="500"} 1\n')
    expect(body).toContain('isopool_http_requests_total{method="POST",route="/users/:id",status="200"} 1\n')
    expect(body).toContain('isopool_http_requests_total{method="GET",route="unmatched",status="404"} 1\n')
    expect(body).toContain('isopool_http_request_duration_seconds_bucket{method="GET",route="/users/:id",le="0.0025"} 0\n')
    expect(body).toContain('isopool_http_request_duration_seconds_bucket{method="GET",route="/users/:id",le="0.005"} 3\n')
    expect(body).toContain('isopool_http_request_duration_seconds_count{method="GET",route="/users/:id"} 3\n')
  })

  it('does not show a handler metric that takes a built-in name', async () => {
    const { host: h, asked } = host()
    const m = new MetricsService('/metrics', h)
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {})
    const e = exchange('/metrics')
    m.begin(e.req, e.res)
    await settle()
    const clash: HandlerMetricDelta[] = [{ type: 'counter', name: 'isopool_isolates', help: 'mine', labelNames: [], series: [{ labels: [], value: 1 }] }]
    for (const a of asked) m.message(a.isolate, report(a.id, clash))
    const { body } = await e.done
    expect(body).not.toContain('mine')
    expect(errors).toHaveBeenCalledTimes(1)
    errors.mockRestore()
  })

  it('lets a scrape under way go when the server closes', async () => {
    const { host: h } = host()
    const m = new MetricsService('/metrics', h)
    const e = exchange('/metrics')
    m.begin(e.req, e.res)
    await settle()
    m.close()
    expect((await e.done).status).toBe(200)
  })
})

describe('RequestLog', () => {
  it('puts a duration in the first bucket it does not exceed', () => {
    const log = new RequestLog([0.1, 1])
    for (const s of [0, 0.1, 0.5, 1, 2]) log.record('/a', 'GET', s, 200)
    const series = log.routes.get('/a')!.get('GET')!
    expect([...series.counts]).toEqual([2, 2, 1])
    expect(series.count).toBe(5)
    expect(series.sum).toBeCloseTo(3.6, 10)
    expect(log.durations('d').map(x => x.value)).toEqual([2, 4, 5, 3.6, 5])
  })

  it('counts each route, method and status apart, in whatever order they come', () => {
    const log = new RequestLog([1])
    const seq: [string, string, number][] = [['/a', 'GET', 200], ['/a', 'GET', 200], ['/a', 'GET', 404], ['/a', 'GET', 200], ['/a', 'POST', 200],
      ['/b', 'POST', 200], ['/a', 'POST', 201], ['/a', 'GET', 404], ['/b', 'GET', 0], ['/b', 'GET', 0]]
    for (const [route, method, status] of seq) log.record(route, method, 0.5, status)
    const totals = log.totals().map(t => `${t.labels.method} ${t.labels.route} ${t.labels.status}=${t.value}`).sort()
    expect(totals).toEqual(['GET /a 200=3', 'GET /a 404=2', 'GET /b 0=2', 'POST /a 200=1', 'POST /a 201=1', 'POST /b 200=1'])
    expect(log.routes.get('/a')!.get('GET')!.count).toBe(5)
  })

  it('has buckets for an HTTP API: 1 ms to 10 s, ascending', () => {
    expect(DURATION_BUCKETS[0]).toBe(0.001)
    expect(DURATION_BUCKETS.at(-1)).toBe(10)
    for (let i = 1; i < DURATION_BUCKETS.length; i++) expect(DURATION_BUCKETS[i]).toBeGreaterThan(DURATION_BUCKETS[i - 1])
  })
})

describe('metricsPath', () => {
  const resolved = (metrics: unknown): ResolvedOptions => ({ given: { metrics } as ServerOptions, livePath: '/healthz', readyPath: '/readyz', openapiPath: '/openapi.json', docsPath: '/docs' }) as ResolvedOptions
  it('is null when off, /metrics for true, the path given', () => {
    expect(metricsPath(resolved(undefined))).toBe(null)
    expect(metricsPath(resolved(false))).toBe(null)
    expect(metricsPath(resolved(true))).toBe('/metrics')
    expect(metricsPath(resolved({}))).toBe('/metrics')
    expect(metricsPath(resolved({ path: '/internal/m' }))).toBe('/internal/m')
  })

  it('refuses a path without a leading slash, with a query, or one a builtin has', () => {
    expect(() => metricsPath(resolved({ path: 'm' }))).toThrow('Invalid option metrics.path: must be a path starting with "/", without a query, got "m"')
    expect(() => metricsPath(resolved({ path: '/m?x' }))).toThrow(/metrics.path/)
    expect(() => metricsPath(resolved({ path: 3 }))).toThrow(/got 3/)
    expect(() => metricsPath(resolved({ path: '/readyz' }))).toThrow('Invalid option metrics.path: /readyz is already the path of health.ready')
    expect(() => metricsPath(resolved(1))).toThrow('Invalid option metrics: must be true, false or { path }, got number')
    expect(() => metricsPath(resolved([]))).toThrow(/got an array/)
  })
})
