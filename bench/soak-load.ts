// The load generator of bench/soak.ts, run as its own process so its CPU is not the server's.
//
// `connections` keep-alive connections (an undici Pool, no pipelining), one request in flight on
// each, for `duration` seconds. Each request picks its kind at random: `fault-rate` of them are
// faults (of the kinds in `faults`, crash, exit and hang by default, evenly), the rest normal
// (light, cpu, async, echo, evenly). Every
// request has a client-side deadline of `timeout` seconds for its head and for its body, far above
// the server's own limits, so one that reaches it was lost by the server.
//
// Every request ends in exactly one of: a complete response (counted by status, and checked: the
// status must be one its kind may get, a 200 body must be right), or no answer (counted by cause:
// timeout, reset, refused, truncated — a response whose body broke off —, other). Requests still
// running when the run ends get until `timeout` + 2 s to finish; any left then are "unfinished",
// a no-answer cause too.
//
// Prints JSON lines on stdout: {"type":"progress",...} every second (cumulative counts), then one
// {"type":"result",...} (SoakLoadResult).
//
// Usage: node bench/soak-load.ts --url http://127.0.0.1:PORT [--connections 32] [--duration 180]
//          [--fault-rate 0.01] [--faults crash,exit,hang] [--timeout 10]

import { randomBytes } from 'node:crypto'
import { createHistogram, performance } from 'node:perf_hooks'
import type { RecordableHistogram } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { Pool } from 'undici'
import { ALLOWED, FAULT_KINDS, KINDS, NO_ANSWER_CAUSES, NORMAL_KINDS } from './soak-kinds.ts'
import type { Kind, KindStats, NoAnswerCause, SoakLoadResult, SoakProgress } from './soak-kinds.ts'

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    connections: { type: 'string', default: '32' },
    duration: { type: 'string', default: '180' },
    'fault-rate': { type: 'string', default: '0.01' },
    faults: { type: 'string', default: FAULT_KINDS.join(',') },
    timeout: { type: 'string', default: '10' }
  }
})
if (values.url === undefined) {
  console.error('usage: node bench/soak-load.ts --url http://127.0.0.1:PORT [--connections n] [--duration s] [--fault-rate r] [--timeout s]')
  process.exit(1)
}
const url = new URL(values.url)
const connections = Number(values.connections)
const durationMs = Number(values.duration) * 1000
const faultRate = Number(values['fault-rate'])
const faultKinds = values.faults.split(',').filter(k => (FAULT_KINDS as readonly string[]).includes(k)) as Kind[]
if (faultKinds.length === 0 && faultRate > 0) {
  console.error(`soak-load: --faults names none of ${FAULT_KINDS.join(', ')}`)
  process.exit(1)
}
const timeoutMs = Number(values.timeout) * 1000

const pool = new Pool(url.origin, {
  connections,
  pipelining: 1,
  headersTimeout: timeoutMs,
  bodyTimeout: timeoutMs
})

// Echo bodies: a few sizes, made once.
const PAYLOADS = [64, 512, 2048, 8192, 32768].map(n => randomBytes(n))

interface Tally {
  sent: number
  inFlight: number
  status: Record<string, number>
  noAnswer: Record<NoAnswerCause, number>
  unexpected: number
  histogram: RecordableHistogram
}
const tallies = Object.fromEntries(KINDS.map(k => [k, {
  sent: 0, inFlight: 0, status: {}, noAnswer: { timeout: 0, reset: 0, refused: 0, truncated: 0, other: 0, unfinished: 0 }, unexpected: 0, histogram: createHistogram()
} satisfies Tally])) as Record<Kind, Tally>
const reasons: Record<string, number> = {}
const unexpectedExamples: string[] = []
let sent = 0
let answered = 0
let noAnswer = 0
let unexpected = 0
let inFlight = 0
const statusTotal: Record<string, number> = {}

function pick (): Kind {
  const r = Math.random()
  if (r < faultRate) return faultKinds[Math.min(faultKinds.length - 1, Math.floor(r / faultRate * faultKinds.length))]
  const n = (r - faultRate) / (1 - faultRate)
  return NORMAL_KINDS[Math.min(NORMAL_KINDS.length - 1, Math.floor(n * NORMAL_KINDS.length))]
}

function reason (key: string): void {
  // Bounded: a server that put ids in its messages must not grow this without end.
  if (key in reasons || Object.keys(reasons).length < 50) reasons[key] = (reasons[key] ?? 0) + 1
  else reasons['(other reasons)'] = (reasons['(other reasons)'] ?? 0) + 1
}

function cause (err: unknown, gotHead: boolean): NoAnswerCause {
  const code = (err as { code?: string }).code
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return 'timeout'
  if (gotHead) return 'truncated'
  if (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE') return 'reset'
  if (code === 'ECONNREFUSED') return 'refused'
  return 'other'
}

/** Is this 200 body what the route answers? */
function bodyOk (kind: Kind, body: Buffer, payload: Buffer | null): boolean {
  if (kind === 'echo') return payload !== null && body.equals(payload)
  try {
    return (JSON.parse(body.toString('utf8')) as { ok?: unknown }).ok === true
  } catch {
    return false
  }
}

async function one (kind: Kind): Promise<void> {
  const t = tallies[kind]
  let payload: Buffer | null = null
  let path: string = '/' + kind
  if (kind === 'async') path += `?ms=${1 + Math.floor(Math.random() * 5)}`
  if (kind === 'echo') payload = PAYLOADS[Math.floor(Math.random() * PAYLOADS.length)]
  sent++
  t.sent++
  t.inFlight++
  inFlight++
  const t0 = process.hrtime.bigint()
  let gotHead = false
  try {
    const res = await pool.request({
      path,
      method: payload === null ? 'GET' : 'POST',
      ...(payload === null ? {} : { body: payload, headers: { 'content-type': 'application/octet-stream' } })
    })
    gotHead = true
    const body = Buffer.from(await res.body.arrayBuffer())
    t.histogram.record(Math.max(1, Number(process.hrtime.bigint() - t0)))
    const status = String(res.statusCode)
    answered++
    t.status[status] = (t.status[status] ?? 0) + 1
    statusTotal[status] = (statusTotal[status] ?? 0) + 1
    let message = ''
    if (res.statusCode !== 200) {
      try {
        message = String((JSON.parse(body.toString('utf8')) as { error?: { message?: unknown } }).error?.message ?? body.toString('utf8').slice(0, 80))
      } catch {
        message = body.toString('utf8').slice(0, 80)
      }
      reason(`${status} ${message}`)
    }
    const bad = !ALLOWED[kind].includes(res.statusCode) || (res.statusCode === 200 && !bodyOk(kind, body, payload))
    if (bad) {
      unexpected++
      t.unexpected++
      if (unexpectedExamples.length < 10) unexpectedExamples.push(`${kind}: ${status} ${message || body.toString('utf8').slice(0, 80)}`)
    }
  } catch (err) {
    const c = cause(err, gotHead)
    noAnswer++
    t.noAnswer[c]++
    reason(`${c} ${(err as { code?: string }).code ?? (err as Error).name}: ${(err as Error).message}`)
    // Do not spin on a server that refuses: a failed connect returns at once.
    if (c === 'refused') await sleep(10)
  } finally {
    t.inFlight--
    inFlight--
  }
}

const start = performance.now()
const endAt = start + durationMs

async function user (): Promise<void> {
  while (performance.now() < endAt) await one(pick())
}

function progress (): void {
  const p: SoakProgress = {
    type: 'progress',
    t: (performance.now() - start) / 1000,
    sent,
    answered,
    status: statusTotal,
    noAnswer,
    unexpected,
    inFlight
  }
  process.stdout.write(JSON.stringify(p) + '\n')
}
const ticker = setInterval(progress, 1000)

const users = Array.from({ length: connections }, () => user())
await sleep(durationMs)
// Requests started before the end run to their answer or to the client deadline.
await Promise.race([Promise.all(users), sleep(timeoutMs + 2000)])
const elapsedS = (performance.now() - start) / 1000
clearInterval(ticker)
progress()
// Still running now: abandoned, and counted as never answered.
for (const k of KINDS) tallies[k].noAnswer.unfinished = tallies[k].inFlight
noAnswer += inFlight

const ms = (ns: number): number => Math.round(ns / 1e3) / 1e3
const result: SoakLoadResult = {
  type: 'result',
  url: url.origin,
  connections,
  durationS: durationMs / 1000,
  faultRate,
  timeoutS: timeoutMs / 1000,
  elapsedS,
  sent,
  answered,
  status: statusTotal,
  noAnswer: Object.fromEntries(NO_ANSWER_CAUSES.map(c => [c, KINDS.reduce((n, k) => n + tallies[k].noAnswer[c], 0)])) as Record<NoAnswerCause, number>,
  unexpected,
  kinds: Object.fromEntries(KINDS.map((k) => {
    const t = tallies[k]
    const h = t.histogram
    const n = Object.values(t.status).reduce((a, b) => a + b, 0)
    return [k, {
      sent: t.sent,
      status: t.status,
      noAnswer: { ...t.noAnswer },
      unexpected: t.unexpected,
      latencyMs: n === 0 ? { p50: 0, p99: 0, max: 0 } : { p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max) }
    } satisfies KindStats]
  })) as Record<Kind, KindStats>,
  reasons,
  unexpectedExamples
}
process.stdout.write(JSON.stringify(result) + '\n')
// Abandoned requests may leave sockets behind; the result is out, so leave now.
await Promise.race([pool.destroy().catch(() => {}), sleep(1000)])
process.exit(0)
