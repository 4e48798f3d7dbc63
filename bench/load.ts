// The load generator of bench/run.ts, run as its own process so its CPU is not the server's.
//
// `connections` keep-alive connections (an undici Pool) with `pipelining` requests in flight on
// each (1 = no pipelining, the default): every virtual client loops "send, read the whole body,
// send again" for warm-up + duration seconds, cycling through the scenario's request mix
// (bench/scenarios.ts; clients start at staggered points of it). Latency (send → last body
// byte) goes into a node:perf_hooks histogram, overall and per latency class (mixed: "light"
// and "heavy"). Every 2xx body is checked against the scenario's expectation (a compressed one,
// one in COMPRESSED_CHECK_EVERY, decoded first: decoding them all would take the CPU the target
// needs; the encodings the answers came in are counted). What counts is
// what COMPLETES in the measured window (throughput = completions / duration; latency of those);
// requests still in flight when it ends are dropped, so heavy scenarios with long latencies are
// not over-counted. Also measured, with --pid (Linux /proc): the CPU seconds the target's whole
// process tree used in the measured window, and its peak RSS.
// Prints one JSON object (LoadResult) on stdout.
//
// Usage: node bench/load.ts --url http://127.0.0.1:PORT --scenario hello [--connections 50]
//          [--pipelining 1] [--duration 3] [--warmup 1] [--timeout 10] [--pid SERVER_PID]

import { createHistogram, performance } from 'node:perf_hooks'
import type { RecordableHistogram } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { brotliDecompressSync, gunzipSync, inflateSync, zstdDecompressSync } from 'node:zlib'
import { Pool } from 'undici'
import type { Dispatcher } from 'undici'
import { processTree, RssSampler, threadCosts, threadSamples, treeCpuS } from './proc.ts'
import type { ThreadCosts } from './proc.ts'
import { SCENARIO_NAMES, SCENARIOS } from './scenarios.ts'

export interface Latency {
  min: number
  mean: number
  p50: number
  p90: number
  p99: number
  p999: number
  max: number
}

export interface LoadResult {
  url: string
  scenario: string
  connections: number
  pipelining: number
  /** Measured window, seconds (warm-up excluded). */
  durationS: number
  warmupS: number
  /** Requests completed in the measured window (any status). */
  requests: number
  /** requests / durationS */
  rps: number
  /** Requests that failed without a response (connection errors, timeouts), by error code. */
  errors: number
  errorCodes: Record<string, number>
  /** Responses outside 200–299, and their status codes. */
  non2xx: number
  statusCodes: Record<string, number>
  /** 2xx responses whose body is not the expected one. */
  unexpectedBody: number
  /** 2xx responses by Content-Encoding ('identity' without one). */
  encodings: Record<string, number>
  /** Requests in flight at the end that had waited over half the timeout (a stuck server). */
  unfinished: number
  /** Milliseconds, all requests. */
  latencyMs: Latency
  /** Per latency class (the scenario's name, or "light"/"heavy" for mixed). */
  classes: Record<string, { requests: number, latencyMs: Latency }>
  /** CPU seconds of the server's process tree in the measured window (--pid, Linux). */
  serverCpuS: number | null
  /** serverCpuS in % of one core, and per 1,000 requests. */
  serverCpuPct: number | null
  cpuSPer1k: number | null
  /** Per request, by thread role (main threads, worker threads / isolates, the rest): CPU µs and
   * wake-ups (voluntary context switches) in the measured window (--pid, Linux). */
  threads: ThreadCosts | null
  /** Peak resident memory of the server's process tree, bytes (sampled; VmHWM for one process). */
  peakRssBytes: number | null
  /** Processes in the server's tree. */
  serverProcesses: number | null
  /** Our own CPU in the measured window, % of one core. */
  loadCpuPct: number
}

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    scenario: { type: 'string', default: 'hello' },
    connections: { type: 'string', default: '50' },
    pipelining: { type: 'string', default: '1' },
    duration: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1' },
    timeout: { type: 'string', default: '10' },
    pid: { type: 'string' }
  }
})
const makeScenario = SCENARIOS[values.scenario]
if (values.url === undefined || makeScenario === undefined) {
  console.error(`usage: node bench/load.ts --url http://127.0.0.1:PORT --scenario (${SCENARIO_NAMES.join('|')}) ` +
    '[--connections n] [--pipelining n] [--duration s] [--warmup s] [--timeout s] [--pid n]')
  process.exit(1)
}
const scenario = makeScenario()
const url = new URL(values.url)
const connections = Number(values.connections)
const pipelining = Number(values.pipelining)
const durationMs = Number(values.duration) * 1000
const warmupMs = Number(values.warmup) * 1000
const timeoutMs = Number(values.timeout) * 1000
const serverPid = values.pid === undefined ? null : Number(values.pid)

const pool = new Pool(url.origin, {
  connections,
  pipelining,
  // A server that stops answering must not hold the run hostage.
  headersTimeout: timeoutMs,
  bodyTimeout: timeoutMs
})

/** The scenario's requests, bodies encoded once. */
const requests = scenario.requests.map(r => ({
  ...r,
  payload: r.body === undefined ? undefined : Buffer.from(r.body),
  headers: r.body === undefined && r.headers === undefined ? undefined : { ...r.headers, ...(r.body === undefined ? {} : { 'content-type': 'application/json' }) }
}))

/** A compressed body is decoded and checked one time in this many. */
const COMPRESSED_CHECK_EVERY = 16
const DECODERS: Record<string, (b: Buffer) => Buffer> = { br: brotliDecompressSync, gzip: gunzipSync, deflate: inflateSync, zstd: zstdDecompressSync }
let compressedSeen = 0

const histogram = createHistogram() // nanoseconds
const classHistograms = new Map<string, RecordableHistogram>()
const classCounts = new Map<string, number>()
for (const r of requests) {
  classHistograms.set(r.cls, createHistogram())
  classCounts.set(r.cls, 0)
}
let completed = 0
let errors = 0
let non2xx = 0
let unexpectedBody = 0
const encodings: Record<string, number> = {}
const errorCodes: Record<string, number> = {}
const statusCodes: Record<string, number> = {}

const start = performance.now()
const measureFrom = start + warmupMs
const endAt = measureFrom + durationMs

/** Start time of each client's request in flight (0: none), to find stuck ones at the end. */
const inFlightSince: number[] = []

/**
 * One request through undici's dispatch API, body gathered as bytes: the cheapest way undici
 * offers (no Readable per response, as pool.request has), so the load generator takes less of the
 * machine from the server it measures. Resolves with the status, the body's bytes as they came
 * and their Content-Encoding (undefined: none).
 */
function send (r: typeof requests[number]): Promise<{ status: number, body: Buffer | null, encoding: string | undefined }> {
  return new Promise((resolve, reject) => {
    let status = 0
    let encoding: string | undefined
    let first: Buffer | null = null
    let more: Buffer[] | null = null
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart () {}, // required by undici 8, even empty
      onResponseStart (_controller, statusCode, headers) {
        status = statusCode
        const e = headers['content-encoding']
        encoding = e === undefined ? undefined : String(e)
      },
      onResponseData (_controller, chunk) {
        if (first === null) first = chunk
        else (more ??= [first]).push(chunk)
      },
      onResponseEnd () {
        resolve({ status, body: more !== null ? Buffer.concat(more) : first, encoding })
      },
      onResponseError (_controller, err) { reject(err) }
    }
    pool.dispatch({ path: r.path, method: r.method as Dispatcher.HttpMethod, body: r.payload, headers: r.headers }, handler)
  })
}

/** One virtual client: a request at a time until the end, cycling through the mix from `offset`. */
async function client (i: number, offset: number): Promise<void> {
  const mix = scenario.mix
  for (let k = offset; ; k++) {
    if (performance.now() >= endAt) return
    const r = requests[mix[k % mix.length]]
    const t0 = process.hrtime.bigint()
    inFlightSince[i] = performance.now()
    try {
      const res = await send(r)
      const ns = Math.max(1, Number(process.hrtime.bigint() - t0))
      const t = performance.now()
      if (t >= measureFrom && t <= endAt) {
        completed++
        histogram.record(ns)
        classHistograms.get(r.cls)!.record(ns)
        classCounts.set(r.cls, classCounts.get(r.cls)! + 1)
        if (res.status < 200 || res.status > 299) {
          non2xx++
          statusCodes[res.status] = (statusCodes[res.status] ?? 0) + 1
        } else {
          const enc = res.encoding ?? 'identity'
          encodings[enc] = (encodings[enc] ?? 0) + 1
          if (!checked(r, res.body, res.encoding)) unexpectedBody++
        }
      }
    } catch (err) {
      const code = (err as { code?: string }).code ?? (err as Error).name ?? 'unknown'
      const t = performance.now()
      if (t >= measureFrom && t <= endAt) {
        errors++
        errorCodes[code] = (errorCodes[code] ?? 0) + 1
      }
      // Do not spin on a server that refuses: a failed connect returns at once.
      await sleep(10)
    } finally {
      inFlightSince[i] = 0
    }
  }
}

/** Whether a 2xx body is the expected one; a compressed one is decoded and checked only one time
 * in COMPRESSED_CHECK_EVERY (else true), one in an encoding we cannot decode is not. */
function checked (r: typeof requests[number], body: Buffer | null, encoding: string | undefined): boolean {
  if (encoding === undefined || encoding === 'identity') return r.check(body === null ? '' : body.toString('utf8'))
  const decode = DECODERS[encoding]
  if (decode === undefined) return false
  if (compressedSeen++ % COMPRESSED_CHECK_EVERY !== 0) return true
  try {
    return r.check(decode(body ?? Buffer.alloc(0)).toString('utf8'))
  } catch {
    return false
  }
}

// The server's process tree (a cluster's workers are up before the target reports ready).
const tree = serverPid === null ? null : processTree(serverPid)
const rss = tree === null ? null : new RssSampler(tree)

// CPU samples at the edges of the measured window.
let serverCpu0: number | null = null
let threads0: ReturnType<typeof threadSamples> | null = null
let loadCpu0 = process.cpuUsage()
setTimeout(() => {
  serverCpu0 = tree === null ? null : treeCpuS(tree)
  threads0 = tree === null ? null : threadSamples(tree)
  loadCpu0 = process.cpuUsage()
}, warmupMs).unref()

const stride = Math.max(1, Math.floor(scenario.mix.length / 7))
for (let i = 0; i < connections * pipelining; i++) {
  inFlightSince.push(0)
  void client(i, i * stride)
}
await sleep(endAt - performance.now())
const serverCpu1 = tree === null ? null : treeCpuS(tree)
const threads1 = tree === null ? null : threadSamples(tree)
const loadCpu = process.cpuUsage(loadCpu0)
const peakRss = rss === null ? null : rss.stop()
// Requests in flight at the end do not count (their completion is outside the window), unless
// they had been waiting for half the timeout already: then the server looks stuck.
const unfinished = inFlightSince.filter(t => t > 0 && endAt - t > timeoutMs / 2).length

const ms = (ns: number): number => Math.round(ns / 1e3) / 1e3
function latency (h: RecordableHistogram, n: number): Latency {
  return n === 0
    ? { min: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 }
    : {
        min: ms(h.min),
        mean: ms(h.mean),
        p50: ms(h.percentile(50)),
        p90: ms(h.percentile(90)),
        p99: ms(h.percentile(99)),
        p999: ms(h.percentile(99.9)),
        max: ms(h.max)
      }
}
const serverCpuS = serverCpu0 === null || serverCpu1 === null ? null : serverCpu1 - serverCpu0
const result: LoadResult = {
  url: url.href,
  scenario: scenario.name,
  connections,
  pipelining,
  durationS: durationMs / 1000,
  warmupS: warmupMs / 1000,
  requests: completed,
  rps: completed / (durationMs / 1000),
  errors,
  errorCodes,
  non2xx,
  statusCodes,
  unexpectedBody,
  encodings,
  unfinished,
  latencyMs: latency(histogram, completed),
  classes: Object.fromEntries([...classHistograms].map(([cls, h]) => [cls, { requests: classCounts.get(cls)!, latencyMs: latency(h, classCounts.get(cls)!) }])),
  serverCpuS,
  serverCpuPct: serverCpuS === null ? null : serverCpuS / (durationMs / 1000) * 100,
  cpuSPer1k: serverCpuS === null || completed === 0 ? null : serverCpuS / completed * 1000,
  threads: threads0 === null || threads1 === null ? null : threadCosts(threads0, threads1, completed),
  peakRssBytes: peakRss,
  serverProcesses: tree === null ? null : tree.length,
  loadCpuPct: (loadCpu.user + loadCpu.system) / 1e3 / durationMs * 100
}
process.stdout.write(JSON.stringify(result) + '\n')
// Abandoned requests may leave sockets behind; the result is out, so leave now.
process.exit(0)
