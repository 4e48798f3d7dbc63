// The load generator of bench/run.ts, run as its own process so its CPU is not the server's.
//
// `connections` keep-alive connections (an undici Pool, no pipelining), one request in flight on
// each: every connection loops "send, read the whole body, send again" for warm-up + duration
// seconds. Only requests STARTED in the measured window count; their latency (send → last body
// byte) goes into a node:perf_hooks histogram. Prints one JSON object (LoadResult) on stdout.
//
// Usage: node bench/load.ts --url http://127.0.0.1:PORT/ [--connections 50] [--duration 5]
//          [--warmup 1] [--timeout 10] [--expect BODY] [--pid SERVER_PID]

import { readFileSync } from 'node:fs'
import { createHistogram, performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { Pool } from 'undici'

export interface LoadResult {
  url: string
  connections: number
  /** Measured window, seconds (warm-up excluded). */
  durationS: number
  warmupS: number
  /** Completed requests started in the measured window (any status). */
  requests: number
  /** requests / durationS */
  rps: number
  /** Requests that failed without a response (connection errors, timeouts), by error code. */
  errors: number
  errorCodes: Record<string, number>
  /** Responses outside 200–299. */
  non2xx: number
  /** 2xx responses whose body differs from --expect. */
  unexpectedBody: number
  /** Requests still without an answer when the run ended (a stuck server), abandoned. */
  unfinished: number
  latencyMs: { min: number, mean: number, p50: number, p90: number, p99: number, p999: number, max: number }
  /** CPU used in the measured window, in % of one core: the server's (with --pid, Linux) and ours. */
  serverCpuPct: number | null
  loadCpuPct: number
}

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    connections: { type: 'string', default: '50' },
    duration: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    timeout: { type: 'string', default: '10' },
    expect: { type: 'string' },
    pid: { type: 'string' }
  }
})
if (values.url === undefined) {
  console.error('usage: node bench/load.ts --url http://127.0.0.1:PORT/ [--connections n] [--duration s] [--warmup s] [--timeout s] [--expect body] [--pid n]')
  process.exit(1)
}
const url = new URL(values.url)
const connections = Number(values.connections)
const durationMs = Number(values.duration) * 1000
const warmupMs = Number(values.warmup) * 1000
const timeoutMs = Number(values.timeout) * 1000
const expected = values.expect
const serverPid = values.pid === undefined ? null : Number(values.pid)

const pool = new Pool(url.origin, {
  connections,
  pipelining: 1,
  // A server that stops answering must not hold the run hostage.
  headersTimeout: timeoutMs,
  bodyTimeout: timeoutMs
})
const path = url.pathname + url.search

const histogram = createHistogram() // nanoseconds
let requests = 0
let errors = 0
let non2xx = 0
let unexpectedBody = 0
let inFlight = 0
const errorCodes: Record<string, number> = {}

const start = performance.now()
const measureFrom = start + warmupMs
const endAt = measureFrom + durationMs

/** One connection's worth of load: a request at a time until the end. */
async function user (): Promise<void> {
  for (;;) {
    const now = performance.now()
    if (now >= endAt) return
    const counted = now >= measureFrom
    const t0 = process.hrtime.bigint()
    inFlight++
    try {
      const res = await pool.request({ path, method: 'GET' })
      const body = await res.body.text()
      const ns = Number(process.hrtime.bigint() - t0)
      if (counted) {
        requests++
        histogram.record(Math.max(1, ns))
        if (res.statusCode < 200 || res.statusCode > 299) non2xx++
        else if (expected !== undefined && body !== expected) unexpectedBody++
      }
    } catch (err) {
      const code = (err as { code?: string }).code ?? (err as Error).name ?? 'unknown'
      if (counted) {
        errors++
        errorCodes[code] = (errorCodes[code] ?? 0) + 1
      }
      // Do not spin on a server that refuses: a failed connect returns at once.
      await sleep(10)
    } finally {
      inFlight--
    }
  }
}

/** utime + stime of a process, in seconds, from /proc (Linux; USER_HZ is 100 there). */
function processCpuS (pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1')
    // Fields after the ")" that ends the command name: state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return null
  }
}

// CPU samples at the edges of the measured window.
let serverCpu0: number | null = null
let loadCpu0 = process.cpuUsage()
setTimeout(() => {
  serverCpu0 = serverPid === null ? null : processCpuS(serverPid)
  loadCpu0 = process.cpuUsage()
}, warmupMs).unref()

const users = Array.from({ length: connections }, () => user())
await sleep(warmupMs + durationMs)
const serverCpu1 = serverPid === null ? null : processCpuS(serverPid)
const loadCpu = process.cpuUsage(loadCpu0)
// Requests started just before the end still finish and count; give them a moment, not forever.
await Promise.race([Promise.all(users), sleep(Math.min(timeoutMs, 2000))])
const unfinished = inFlight
await pool.destroy()

const ms = (ns: number): number => Math.round(ns / 1e3) / 1e3
const result: LoadResult = {
  url: url.href,
  connections,
  durationS: durationMs / 1000,
  warmupS: warmupMs / 1000,
  requests,
  rps: requests / (durationMs / 1000),
  errors,
  errorCodes,
  non2xx,
  unexpectedBody,
  unfinished,
  latencyMs: requests === 0
    ? { min: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 }
    : {
        min: ms(histogram.min),
        mean: ms(histogram.mean),
        p50: ms(histogram.percentile(50)),
        p90: ms(histogram.percentile(90)),
        p99: ms(histogram.percentile(99)),
        p999: ms(histogram.percentile(99.9)),
        max: ms(histogram.max)
      },
  serverCpuPct: serverCpu0 === null || serverCpu1 === null ? null : (serverCpu1 - serverCpu0) / (durationMs / 1000) * 100,
  loadCpuPct: (loadCpu.user + loadCpu.system) / 1e3 / durationMs * 100
}
process.stdout.write(JSON.stringify(result) + '\n')
// Abandoned requests may leave sockets behind; the result is out, so leave now.
process.exit(0)
