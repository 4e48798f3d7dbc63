// The metrics option over real sockets: /metrics answered by the main thread in Prometheus'
// text format, the request metrics moving as requests are made, the gauges read at scrape time,
// the isolates' CPU and handler-defined metrics summed over both isolates, a crash counted, and
// a busy isolate that cannot hold a scrape.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createServer } from 'isopool'
import { fixtures, start } from './helpers.ts'
import type { Running } from './helpers.ts'
import { Signals, until } from './observe.ts'

/** One sample line of the exposition: `name{label="value",…} value`. */
interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

/** Prometheus' text format, samples only (HELP and TYPE lines are checked apart). */
function parse (text: string): Sample[] {
  const samples: Sample[] = []
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (m === null) throw new Error(`not a sample line: ${JSON.stringify(line)}`)
    const labels: Record<string, string> = {}
    const body = m[2] ?? ''
    const label = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/y
    let at = 0
    while (at < body.length) {
      label.lastIndex = at
      const l = label.exec(body)
      if (l === null) throw new Error(`bad labels in ${JSON.stringify(line)}`)
      labels[l[1]] = l[2].replace(/\\(.)/g, (_, c: string) => c === 'n' ? '\n' : c)
      at = label.lastIndex
    }
    const value = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3])
    expect(Number.isNaN(value), line).toBe(false)
    samples.push({ name: m[1], labels, value })
  }
  return samples
}

/** The samples of `name` whose labels include `labels`. */
function find (samples: Sample[], name: string, labels: Record<string, string> = {}): Sample[] {
  return samples.filter(s => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
}

/** The one sample of `name` with exactly `labels`; 0 when there is none (a series not yet made). */
function value (samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter(s => s.name === name && Object.keys(s.labels).length === Object.keys(labels).length &&
    Object.entries(labels).every(([k, v]) => s.labels[k] === v))
  expect(found.length, `${name}${JSON.stringify(labels)}`).toBeLessThanOrEqual(1)
  return found[0]?.value ?? 0
}

const ROUTES: [string, string, string][] = [
  ['GET', '/users/:id', './metrics.ts#getUser'],
  ['GET', '/bad-label', './metrics.ts#badLabel'],
  ['GET', '/exit', './metrics.ts#exit'],
  ['GET', '/block', './metrics.ts#block']
]

let app: Running
beforeAll(async () => {
  app = await start({ isolates: 2, metrics: true }, ROUTES)
})
afterAll(() => app.close())

async function scrape (a: Running = app, path = '/metrics'): Promise<Sample[]> {
  const r = await a.get(path)
  expect(r.status).toBe(200)
  return parse(r.text)
}

/** `n` requests to /users/:id at once, until both isolates have served some of a batch. */
async function users (n: number, size: (i: number) => number = () => 0): Promise<{ sent: number, sizes: number[] }> {
  const sizes: number[] = []
  let sent = 0
  for (let round = 0; round < 20; round++) {
    const replies = await Promise.all(Array.from({ length: n }, (_, i) => {
      sizes.push(size(i))
      return app.get(`/users/${i}?ms=20&size=${size(i)}`)
    }))
    sent += n
    for (const r of replies) expect(r.status).toBe(200)
    if (new Set(replies.map(r => r.json.thread)).size === 2) return { sent, sizes }
  }
  throw new Error('the requests never reached both isolates')
}

describe('the exposition', () => {
  it('answers GET and HEAD of /metrics on the main thread with prom-client\'s text format', async () => {
    const r = await app.get('/metrics?ignored=1')
    expect(r.status).toBe(200)
    expect(r.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8')
    expect(r.text).toContain('# TYPE isopool_http_requests_total counter')
    expect(r.text).toContain('# TYPE isopool_http_request_duration_seconds histogram')
    expect(r.text).toContain('# TYPE isopool_isolates gauge')
    parse(r.text)
    const head = await app.agent.request({ origin: app.url, path: '/metrics', method: 'HEAD' })
    expect(head.statusCode).toBe(200)
    expect(head.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8')
    expect((await head.body.arrayBuffer()).byteLength).toBe(0)
    // Only the exact path: /metricsx is an unknown path like any other.
    expect((await app.get('/metricsx')).status).toBe(404)
  })

  it('counts requests by method, route pattern and status, and times them', async () => {
    const before = await scrape()
    const { sent } = await users(10)
    for (let i = 0; i < 3; i++) expect((await app.get('/nope')).status).toBe(404)
    const after = await scrape()
    const ok = { method: 'GET', route: '/users/:id', status: '200' }
    expect(value(after, 'isopool_http_requests_total', ok) - value(before, 'isopool_http_requests_total', ok)).toBe(sent)
    const missed = { method: 'GET', route: 'unmatched', status: '404' }
    expect(value(after, 'isopool_http_requests_total', missed) - value(before, 'isopool_http_requests_total', missed)).toBe(3)
    // The scrape before this one is counted too, as unmatched.
    expect(value(after, 'isopool_http_requests_total', { method: 'GET', route: 'unmatched', status: '200' })).toBeGreaterThanOrEqual(1)

    const route = { method: 'GET', route: '/users/:id' }
    const count = (s: Sample[]): number => value(s, 'isopool_http_request_duration_seconds_count', route)
    expect(count(after) - count(before)).toBe(sent)
    const buckets = find(after, 'isopool_http_request_duration_seconds_bucket', route)
    expect(buckets.map(b => b.labels.le)).toEqual(['0.001', '0.0025', '0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10', '+Inf'])
    for (let i = 1; i < buckets.length; i++) expect(buckets[i].value).toBeGreaterThanOrEqual(buckets[i - 1].value)
    expect(buckets.at(-1)!.value).toBe(count(after))
    // Each waited 20 ms in its handler: none is in the buckets below that.
    expect(value(after, 'isopool_http_request_duration_seconds_bucket', { ...route, le: '0.01' })).toBe(0)
    expect(value(after, 'isopool_http_request_duration_seconds_sum', route)).toBeGreaterThan(0.02 * count(after) * 0.9)
  })

  it('shows the gauges, read when scraped', async () => {
    const s = await scrape()
    for (const name of ['isopool_requests_in_flight', 'isopool_requests_queued', 'isopool_requests_held']) {
      expect(find(s, name), name).toHaveLength(1)
      expect(value(s, name)).toBe(0)
    }
    expect(value(s, 'isopool_isolates', { state: 'ready' })).toBe(2)
    expect(value(s, 'isopool_isolates', { state: 'stalled' })).toBe(0)
    const isolates = find(s, 'isopool_isolate_event_loop_utilization').map(x => x.labels.isolate)
    expect(isolates).toHaveLength(2)
    for (const isolate of isolates) {
      const elu = value(s, 'isopool_isolate_event_loop_utilization', { isolate })
      expect(elu).toBeGreaterThanOrEqual(0)
      expect(elu).toBeLessThanOrEqual(1)
      for (const ring of ['request', 'response']) {
        expect(find(s, 'isopool_ring_bytes_used', { isolate, ring })).toHaveLength(1)
        expect(value(s, 'isopool_ring_bytes_capacity', { isolate, ring })).toBe(app.server.options.ringSize)
      }
      // Each isolate's thread has run (imported its modules, served): its own CPU time.
      expect(value(s, 'isopool_isolate_cpu_seconds_total', { isolate, mode: 'user' })).toBeGreaterThan(0)
      expect(find(s, 'isopool_isolate_cpu_seconds_total', { isolate, mode: 'system' })).toHaveLength(1)
    }
    expect(value(s, 'isopool_isolate_restarts_total')).toBe(0)
  })

  it('shows the gauges as they are while requests wait', async () => {
    const signals = new Signals()
    try {
      // Both isolates busy, and more requests than they take at once: some are in flight.
      const busy = [app.get(`/block?ms=300&signal=${signals.name}`), app.get(`/block?ms=300&signal=${signals.name}`)]
      await signals.wait('both isolates blocking', seen => seen.length === 2)
      const s = await scrape()
      expect(value(s, 'isopool_requests_in_flight')).toBe(2)
      for (const r of await Promise.all(busy)) expect(r.status).toBe(200)
    } finally {
      signals.close()
    }
  })
})

describe('handler-defined metrics', () => {
  it('sums the counters and histograms of both isolates', async () => {
    const before = await scrape()
    const { sent, sizes } = await users(12, i => [0.5, 5, 50, 500][i % 4])
    const after = await scrape()
    const delta = (name: string, labels: Record<string, string> = {}): number => value(after, name, labels) - value(before, name, labels)
    expect(delta('app_user_lookups_total', { kind: 'user' })).toBe(sent)
    // Two handles of one definition (inc() and inc(2)) count into one series.
    expect(delta('app_plain_total')).toBe(3 * sent)
    expect(delta('app_payload_size_count')).toBe(sent)
    expect(delta('app_payload_size_sum')).toBeCloseTo(sizes.reduce((a, b) => a + b, 0), 6)
    const upTo = (le: number): number => sizes.filter(x => x <= le).length
    expect(delta('app_payload_size_bucket', { le: '1' })).toBe(upTo(1))
    expect(delta('app_payload_size_bucket', { le: '10' })).toBe(upTo(10))
    expect(delta('app_payload_size_bucket', { le: '100' })).toBe(upTo(100))
    expect(delta('app_payload_size_bucket', { le: '+Inf' })).toBe(sent)
    const r = await app.get('/metrics')
    expect(r.text).toContain('# HELP app_user_lookups_total User look-ups, by kind')
    expect(r.text).toContain('# TYPE app_payload_size histogram')
  })

  it('answers 500 for a label the metric does not have, and keeps serving', async () => {
    const r = await app.get('/bad-label')
    expect(r.status).toBe(500)
    expect((await app.get('/users/1')).status).toBe(200)
  })

  it('fails listen() for a metric whose name Prometheus refuses', async () => {
    const s = createServer({ isolates: 1, root: fixtures, routes: [{ method: 'GET', path: '/x', handler: './metrics-bad-name.ts#hello' }] })
    await expect(s.listen()).rejects.toMatchObject({
      code: 'ISOPOOL_ERR_MODULE_IMPORT',
      message: expect.stringContaining('Invalid metric "app-hits": the name must match')
    })
  })
})

describe('a busy isolate', () => {
  it('cannot hold a scrape: it is answered with what came', async () => {
    const signals = new Signals()
    try {
      let blocked = false
      const blocking = app.get(`/block?ms=3000&signal=${signals.name}`).then(r => { blocked = true; return r })
      await signals.wait('the isolate to be blocking', seen => seen.includes('blocking'))
      const s = await scrape()
      // Answered while the handler still holds its isolate's thread.
      expect(blocked).toBe(false)
      // Both isolates are shown, the busy one in whatever state the supervisor gives it now.
      expect(find(s, 'isopool_isolates').reduce((n, x) => n + x.value, 0)).toBe(2)
      expect(find(s, 'isopool_isolate_cpu_seconds_total', { mode: 'user' })).toHaveLength(2)
      expect((await blocking).status).toBe(200)
    } finally {
      signals.close()
    }
  })
})

describe('restarts', () => {
  it('counts an isolate replaced after it died, and keeps the handler metrics counted before', async () => {
    const before = await scrape()
    expect(value(before, 'isopool_isolate_restarts_total')).toBe(0)
    const lookups = value(before, 'app_user_lookups_total', { kind: 'user' })
    expect((await app.get('/exit')).status).toBe(502)
    await until('the isolate to be replaced', () => app.server.restarts === 1 && app.server.isolateCount === 2)
    const after = await scrape()
    expect(value(after, 'isopool_isolate_restarts_total')).toBe(1)
    // The replacement may still look busy from its start-up for a moment (suspect): wait for it.
    await until('both isolates to report ready', async () => value(await scrape(), 'isopool_isolates', { state: 'ready' }) === 2)
    expect(value(after, 'app_user_lookups_total', { kind: 'user' })).toBe(lookups)
    // The dead isolate's CPU series is gone; the new one has its own.
    const isolates = find(after, 'isopool_isolate_cpu_seconds_total', { mode: 'user' }).map(x => x.labels.isolate)
    expect(isolates).toHaveLength(2)
    expect(new Set(isolates)).not.toEqual(new Set(find(before, 'isopool_isolate_cpu_seconds_total', { mode: 'user' }).map(x => x.labels.isolate)))
    expect(value(after, 'isopool_http_requests_total', { method: 'GET', route: '/exit', status: '502' })).toBe(1)
  })
})

describe('the option', () => {
  it('is off by default: /metrics is an unknown path', async () => {
    const off = await start({ isolates: 1 }, [['GET', '/users/:id', './metrics.ts#getUser']])
    try {
      expect((await off.get('/metrics')).status).toBe(404)
    } finally {
      await off.close()
    }
  })

  it('takes a path; each server has its own registry', async () => {
    const other = await start({ isolates: 1, metrics: { path: '/_m' } }, [['GET', '/users/:id', './metrics.ts#getUser']])
    try {
      expect((await other.get('/metrics')).status).toBe(404)
      const s = await scrape(other, '/_m')
      // The first server's requests are not this one's.
      expect(find(s, 'isopool_http_requests_total', { route: '/users/:id' })).toHaveLength(0)
      expect(value(s, 'isopool_isolates', { state: 'ready' })).toBe(1)
    } finally {
      await other.close()
    }
  })

  it('fails createServer() on a bad value', () => {
    const bad = (metrics: unknown): unknown => {
      try {
        createServer({ isolates: 1, metrics: metrics as boolean })
      } catch (err) {
        return err
      }
      throw new Error(`createServer() took metrics: ${JSON.stringify(metrics)}`)
    }
    expect(bad('yes')).toMatchObject({ code: 'ISOPOOL_ERR_INVALID_OPTION', message: expect.stringContaining('Invalid option metrics:') })
    expect(bad({ path: 'metrics' })).toMatchObject({ code: 'ISOPOOL_ERR_INVALID_OPTION', message: expect.stringContaining('metrics.path') })
    expect(bad({ paht: '/m' })).toMatchObject({ code: 'ISOPOOL_ERR_INVALID_OPTION', message: expect.stringContaining('did you mean "path"') })
    expect(bad({ path: '/healthz' })).toMatchObject({ message: expect.stringContaining('already the path of health.live') })
  })
})
