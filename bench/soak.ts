// Soak run: minutes of mixed traffic in which a small share of requests (1 % by default) crash,
// exit or hang their isolate. Not part of CI. Run: npm run soak -- --help
//
//   target   bench/targets/soak-app.ts: isopool (public API), 2 isolates, timeout 500 ms,
//            hardTimeout 1500 ms, routes from bench/targets/soak-handlers.ts; prints its stats
//            (server.restarts, isolates alive) as a JSON line every second
//   load     bench/soak-load.ts: undici, keep-alive, one request in flight per connection, a
//            10 s client deadline per request; prints cumulative counts every second
//   driver   this file: starts both on 127.0.0.1, samples the target's RSS, threads and open file
//            descriptors from /proc every second, probes /healthz and /readyz, prints a line
//            every 10 s, then a report; writes bench/results/soak.json
//
// Every request sent is accounted for: answered (by status, each checked against what its kind
// may get) or never answered (by cause). The run fails (exit code 1) when
//   - any request was never answered (no complete response within the client deadline, a reset
//     connection, a refused connect, a body that broke off, or still running at the end);
//   - any answer was unexpected (a status its kind may not get, or a 200 with a wrong body);
//   - RSS crept: the median over the last window exceeds 1.25 × the median over the window
//     right after warm-up, plus 20 MiB;
//   - the pool is not whole again (/readyz 200) within 40 s after the load stops;
//   - a normal request was lost with an isolate before it started (see "normal requests" below).
//
// Normal requests that did not get 200 are reported in two parts: those that had started, and
// those that had not. isopool claims a request in shared memory before an isolate runs it, and
// answers one it takes back unstarted with 503 (no isolate took it in time); one that started and
// then failed gets 502 (its isolate died) or 504 (its time ran out). A synchronous handler (light,
// cpu, echo) can never be running when its isolate faults — the fault runs in its place — so a
// 502 for one means it was waiting in the faulted isolate's ring, not started, and was lost with
// it: that must never happen. An async one (awaiting a timer) may well have been running there.
// (Before the claims, the server's 504 did not say which; see bench/README.md.)

import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { createWriteStream, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { Pool } from 'undici'
import { FAULT_KINDS, KINDS, NO_ANSWER_CAUSES, NORMAL_KINDS } from './soak-kinds.ts'
import type { SoakLoadResult, SoakProgress } from './soak-kinds.ts'
import { failWith, gitCommit as commitOf, integerOption, numberOption, printTable } from './cli.ts'
import { median } from './stats.ts'

const fail = failWith(2)
const number = (name: string, value: string, min: number, max?: number): number => numberOption(fail, name, value, min, max)
const integer = (name: string, value: string): number => integerOption(fail, name, value)
const gitCommit = (): string | null => commitOf(benchDir)

const HELP = `Usage: npm run soak -- [options]

Soak run (not in CI): mixed traffic against isopool for a few minutes, with a share of requests
that crash, exit or hang their isolate. Reports requests sent, answered by status, never answered
(must be 0), normal requests that failed (running on the faulted isolate, or not started:
lost with their isolate must be 0), isolate restarts, and RSS after warm-up and at the end.
Writes bench/results/soak.json; exit code 1 when a check fails, 2 when the harness fails.

  --duration s       seconds of load (default 180)
  --connections n    keep-alive connections, one request in flight on each (default 32)
  --isolates n       isolates of the target (default 2)
  --fault-rate r     share of requests that are faults, of the --faults kinds evenly (default 0.01)
  --faults list      fault kinds, comma-separated: crash, exit, hang (default: all three)
  --spares n         the target's spare isolates (the spares option; default 0)
  --warmup s         seconds before the RSS baseline is taken (default min(10, duration/4));
                     warm-up traffic is the same mix and counts like the rest
  --timeout ms       the target's handler timeout (default 500)
  --hard-timeout ms  the target's hardTimeout for stuck isolates (default 1500)
  --client-timeout s the load's deadline per request, head and body (default 10)
  -h, --help         this text`

const { values: opts } = parseArgs({
  options: {
    duration: { type: 'string', default: '180' },
    connections: { type: 'string', default: '32' },
    isolates: { type: 'string', default: '2' },
    'fault-rate': { type: 'string', default: '0.01' },
    faults: { type: 'string', default: FAULT_KINDS.join(',') },
    spares: { type: 'string', default: '0' },
    warmup: { type: 'string' },
    timeout: { type: 'string', default: '500' },
    'hard-timeout': { type: 'string', default: '1500' },
    'client-timeout': { type: 'string', default: '10' },
    help: { type: 'boolean', short: 'h', default: false }
  }
})
if (opts.help) {
  console.log(HELP)
  process.exit(0)
}
const duration = number('duration', opts.duration, 1, 3600)
const connections = integer('connections', opts.connections)
const isolates = integer('isolates', opts.isolates)
const faultRate = number('fault-rate', opts['fault-rate'], 0, 1)
const faultKinds = opts.faults.split(',').filter(k => k !== '')
for (const k of faultKinds) if (!(FAULT_KINDS as readonly string[]).includes(k)) fail(`--faults: "${k}" is not one of ${FAULT_KINDS.join(', ')}`)
const spares = number('spares', opts.spares, 0, 64)
const windowS = Math.min(10, duration / 4)
const warmup = opts.warmup === undefined ? windowS : number('warmup', opts.warmup, 0, duration - windowS)
const serverTimeout = integer('timeout', opts.timeout)
const hardTimeout = integer('hard-timeout', opts['hard-timeout'])
const clientTimeout = number('client-timeout', opts['client-timeout'], 1, 600)

const MiB = 1024 * 1024
const RSS_FACTOR = 1.25
const RSS_SLACK = 20 * MiB
const READY_WITHIN_S = 40

// ── child processes ────────────────────────────────────────────────────────────────────────────

const children = new Set<ChildProcess>()
function killAll (): void {
  for (const child of children) child.kill('SIGKILL')
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    killAll()
    process.exit(130)
  })
}
// Bounded in time whatever happens: load, client deadline, recovery wait, stop, and slack.
const watchdog = setTimeout(() => {
  console.error(`soak: still running ${Math.round(duration + clientTimeout + READY_WITHIN_S + 60)} s after the start; killing everything`)
  killAll()
  process.exit(2)
}, (duration + clientTimeout + READY_WITHIN_S + 60) * 1000)
watchdog.unref()

const benchDir = fileURLToPath(new URL('.', import.meta.url))

function node (file: string, args: string[], stderr: 'inherit' | 'pipe'): ChildProcess {
  const child = spawn(process.execPath, [file, ...args], { cwd: benchDir, stdio: ['ignore', 'pipe', stderr] })
  children.add(child)
  child.once('exit', () => children.delete(child))
  return child
}

function exited (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise(resolve => child.once('exit', () => resolve()))
}

function harnessFailure (message: string): never {
  console.error(`soak: ${message}`)
  killAll()
  process.exit(2)
}

// ── the target ─────────────────────────────────────────────────────────────────────────────────

interface TargetStats {
  t: number
  restarts: number
  isolates: number
  rss: number
  heapUsed: number
  degradedMs: number
  emptyMs: number
  longestEmptyMs: number
}

/** What the target's stderr said: isopool's own log lines, counted by kind. */
const serverLog = {
  file: join(tmpdir(), `isopool-soak-target-${process.pid}.log`),
  lines: 0,
  crashReports: 0,
  hardKills: 0,
  crashLoopWarnings: 0,
  longestBackoffMs: 0,
  restartFailures: 0,
  otherIsopool: 0,
  examples: {} as Record<string, string>
}

function logLine (line: string): void {
  serverLog.lines++
  let kind: string | null = null
  let m: RegExpMatchArray | null
  if (/^isopool: isolate \d+ failed:/.test(line)) { serverLog.crashReports++; kind = 'crashReport' } else if (/^isopool: isolate \d+ made no progress/.test(line)) { serverLog.hardKills++; kind = 'hardKill' } else if ((m = line.match(/^isopool: isolate \d+ keeps dying .*next try in (\d+) ms/)) !== null) {
    serverLog.crashLoopWarnings++
    serverLog.longestBackoffMs = Math.max(serverLog.longestBackoffMs, Number(m[1]))
    kind = 'crashLoop'
  } else if (/^isopool: isolate \d+ could not be restarted/.test(line)) { serverLog.restartFailures++; kind = 'restartFailure' } else if (line.startsWith('isopool:')) { serverLog.otherIsopool++; kind = 'other' }
  if (kind !== null) serverLog.examples[kind] ??= line
}

let stats: TargetStats | null = null
let statsWaiter: (() => void) | null = null

async function startTarget (): Promise<{ child: ChildProcess, port: number, pid: number }> {
  const child = node('targets/soak-app.ts', ['--isolates', String(isolates), '--spares', String(spares), '--timeout', String(serverTimeout), '--hard-timeout', String(hardTimeout)], 'pipe')
  const log = createWriteStream(serverLog.file)
  child.stderr!.pipe(log)
  createInterface({ input: child.stderr! }).on('line', logLine)
  const lines = createInterface({ input: child.stdout! })
  const ready = new Promise<{ port: number, pid: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the target did not report its port within 20 s')), 20_000)
    lines.once('line', (line) => {
      clearTimeout(timer)
      try {
        resolve(JSON.parse(line) as { port: number, pid: number })
      } catch {
        reject(new Error(`the target printed "${line}" instead of {"port":N,"pid":P}`))
      }
    })
    child.once('exit', code => reject(new Error(`the target exited with code ${code} before it was ready; its stderr is in ${serverLog.file}`)))
  })
  const { port, pid } = await ready
  lines.on('line', (line) => {
    let msg: { type?: string } | null = null
    try { msg = JSON.parse(line) as { type?: string } } catch {}
    if (msg?.type === 'stats') {
      stats = msg as unknown as TargetStats
      statsWaiter?.()
    } else {
      console.error(`[target] ${line}`)
    }
  })
  return { child, port, pid }
}

/** Ask the target for its stats now (SIGUSR2) and wait for the line, at most 2 s. */
async function freshStats (child: ChildProcess): Promise<TargetStats | null> {
  const got = new Promise<void>(resolve => { statsWaiter = resolve })
  child.kill('SIGUSR2')
  await Promise.race([got, sleep(2000)])
  statsWaiter = null
  return stats
}

// ── /proc ──────────────────────────────────────────────────────────────────────────────────────

interface ProcSample {
  /** Thread names (/proc/PID/task/TID/comm) → count, e.g. libuv's pool is "libuv-worker". */
  threadNames?: Record<string, number>
  /** Bytes. */
  rss: number | null
  /** Peak RSS so far, bytes (VmHWM). */
  hwm: number | null
  threads: number | null
  fds: number | null
}

function proc (pid: number): ProcSample {
  let rss: number | null = null
  let hwm: number | null = null
  let threads: number | null = null
  let fds: number | null = null
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'latin1')
    const kb = (name: string): number | null => {
      const m = status.match(new RegExp(`^${name}:\\s+(\\d+)`, 'm'))
      return m === null ? null : Number(m[1])
    }
    rss = kb('VmRSS') === null ? null : kb('VmRSS')! * 1024
    hwm = kb('VmHWM') === null ? null : kb('VmHWM')! * 1024
    threads = kb('Threads')
  } catch {}
  try { fds = readdirSync(`/proc/${pid}/fd`).length } catch {}
  // Without /proc (not Linux): the target's own process.memoryUsage().rss, up to a second old.
  if (rss === null && stats !== null) rss = stats.rss
  return { rss, hwm, threads, fds }
}

/** The target's threads by name: which ones came or went, when the count changes. */
function withThreadNames (pid: number, sample: ProcSample): ProcSample {
  const names: Record<string, number> = {}
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      try {
        const name = readFileSync(`/proc/${pid}/task/${task}/comm`, 'latin1').trim()
        names[name] = (names[name] ?? 0) + 1
      } catch {}
    }
  } catch {
    return sample
  }
  return { ...sample, threadNames: names }
}

const threadList = (p: ProcSample): string => p.threadNames === undefined
  ? ''
  : ` (${Object.entries(p.threadNames).sort().map(([n, c]) => c === 1 ? n : `${n} × ${c}`).join(', ')})`

// ── run ────────────────────────────────────────────────────────────────────────────────────────

console.log(`isopool soak: ${duration} s of mixed traffic, ${(faultRate * 100).toFixed(2)} % faults (${faultKinds.join('/')}), ${connections} connections`)
console.log(`target: ${isolates} isolate(s), ${spares} spare(s), timeout ${serverTimeout} ms, hardTimeout ${hardTimeout} ms; client deadline ${clientTimeout} s per request`)
console.log(`node ${process.version}, ${availableParallelism()} cpus (${cpus()[0]?.model ?? '?'}), ${Math.round(totalmem() / 1024 ** 3)} GiB, load ${loadavg().map(l => l.toFixed(2)).join(' ')}`)
console.log(`RSS baseline: median over t=${fmt(warmup, 0)}–${fmt(warmup + windowS, 0)} s; end: median over the last ${fmt(windowS, 0)} s; target log: ${serverLog.file}\n`)

const target = await startTarget().catch((err: Error) => harnessFailure(err.message))
const origin = `http://127.0.0.1:${target.port}`
let targetGone = false
target.child.once('exit', (code, signal) => { targetGone = true; if (!stopping) console.error(`soak: the target exited on its own (code ${code}, signal ${signal})`) })
let stopping = false

// Health probes go through their own connections, so they never wait behind the load.
const probes = new Pool(origin, { connections: 2, pipelining: 1, headersTimeout: 5000, bodyTimeout: 5000 })
const health = {
  healthz: {} as Record<string, number>,
  healthzMaxMs: 0,
  readyz: {} as Record<string, number>
}
async function probe (path: '/healthz' | '/readyz'): Promise<{ status: string, ms: number, body: string }> {
  const t0 = performance.now()
  try {
    const res = await probes.request({ path, method: 'GET' })
    const body = await res.body.text()
    return { status: String(res.statusCode), ms: performance.now() - t0, body }
  } catch (err) {
    return { status: (err as { code?: string }).code ?? 'error', ms: performance.now() - t0, body: '' }
  }
}

await sleep(1000)
const idleStart = withThreadNames(target.pid, proc(target.pid))
const statsAtStart = await freshStats(target.child)

interface Sample {
  t: number
  rss: number | null
  threads: number | null
  fds: number | null
  restarts: number | null
  isolates: number | null
  sent: number
  answered: number
  noAnswer: number
}
const samples: Sample[] = []
let lastProgress: SoakProgress | null = null
let result: SoakLoadResult | null = null

const load = node('soak-load.ts', [
  '--url', origin,
  '--connections', String(connections),
  '--duration', String(duration),
  '--fault-rate', String(faultRate),
  '--faults', faultKinds.join(','),
  '--timeout', String(clientTimeout)
], 'inherit')
const loadStart = performance.now()
createInterface({ input: load.stdout! }).on('line', (line) => {
  let msg: SoakProgress | SoakLoadResult
  try { msg = JSON.parse(line) as SoakProgress | SoakLoadResult } catch { console.error(`[load] ${line}`); return }
  if (msg.type === 'progress') lastProgress = msg
  else result = msg
})
const loadDone = exited(load)

console.log('     t        sent     req/s      200    502    504  other  no answer  restarts  isolates  rss MiB  threads  fds  healthz max ms')
let printed = { t: 0, sent: 0 }
let nextPrint = 10
let ticks = 0
const sampler = setInterval(() => {
  const t = (performance.now() - loadStart) / 1000
  const p = proc(target.pid)
  const lp = lastProgress
  samples.push({
    t,
    rss: p.rss,
    threads: p.threads,
    fds: p.fds,
    restarts: stats?.restarts ?? null,
    isolates: stats?.isolates ?? null,
    sent: lp?.sent ?? 0,
    answered: lp?.answered ?? 0,
    noAnswer: lp?.noAnswer ?? 0
  })
  ticks++
  void probe('/healthz').then((r) => {
    health.healthz[r.status] = (health.healthz[r.status] ?? 0) + 1
    health.healthzMaxMs = Math.max(health.healthzMaxMs, r.ms)
  })
  void probe('/readyz').then((r) => { health.readyz[r.status] = (health.readyz[r.status] ?? 0) + 1 })
  if (t >= nextPrint - 0.5 && lp !== null) {
    nextPrint += 10
    const s = lp.status
    const other = Object.entries(s).filter(([k]) => !['200', '502', '504'].includes(k)).reduce((n, [, v]) => n + v, 0)
    console.log([
      `${fmt(t, 0)} s`.padStart(6),
      fmt(lp.sent, 0).padStart(11),
      fmt((lp.sent - printed.sent) / (t - printed.t), 0).padStart(9),
      fmt(s['200'] ?? 0, 0).padStart(8),
      fmt(s['502'] ?? 0, 0).padStart(6),
      fmt(s['504'] ?? 0, 0).padStart(6),
      fmt(other, 0).padStart(6),
      fmt(lp.noAnswer, 0).padStart(10),
      String(stats?.restarts ?? '?').padStart(9),
      `${stats?.isolates ?? '?'}/${isolates}`.padStart(9),
      (p.rss === null ? '?' : (p.rss / MiB).toFixed(1)).padStart(8),
      String(p.threads ?? '?').padStart(8),
      String(p.fds ?? '?').padStart(4),
      health.healthzMaxMs.toFixed(1).padStart(15)
    ].join(' '))
    printed = { t, sent: lp.sent }
  }
}, 1000)

await loadDone
const loadEnd = performance.now()
clearInterval(sampler)
const statsAtEnd = await freshStats(target.child)
if (result === null) harnessFailure(`the load generator exited (code ${load.exitCode}) without a result`)
const r = result as SoakLoadResult
if (targetGone) harnessFailure('the target died during the run')

// After the load: how long until the pool is whole again, then the idle state.
const readyT0 = performance.now()
let readyAfterS: number | null = null
let lastReady = ''
while ((performance.now() - readyT0) / 1000 < READY_WITHIN_S) {
  const p = await probe('/readyz')
  lastReady = `${p.status} ${p.body}`
  if (p.status === '200') {
    readyAfterS = (performance.now() - readyT0) / 1000
    break
  }
  await sleep(100)
}
await sleep(1000)
const finalStats = await freshStats(target.child)
const idleEnd = withThreadNames(target.pid, proc(target.pid))
await probes.close().catch(() => {})

// Stop the target: SIGTERM, SIGKILL after 5 s.
stopping = true
const stopT0 = performance.now()
target.child.kill('SIGTERM')
const killer = setTimeout(() => target.child.kill('SIGKILL'), 5000)
await exited(target.child)
clearTimeout(killer)
const stopMs = performance.now() - stopT0
const stopHow = target.child.signalCode === null ? `exit code ${target.child.exitCode}` : `signal ${target.child.signalCode}`

// ── report ─────────────────────────────────────────────────────────────────────────────────────

const rssAt = (from: number, to: number): number | null => {
  const xs = samples.filter(s => s.t >= from && s.t < to && s.rss !== null).map(s => s.rss!)
  return xs.length === 0 ? null : median(xs)
}
const loadS = (loadEnd - loadStart) / 1000
const baseline = rssAt(warmup, warmup + windowS)
const endRss = rssAt(duration - windowS, duration + 0.5)
const rssLimit = baseline === null ? null : baseline * RSS_FACTOR + RSS_SLACK
const after = samples.filter(s => s.t >= warmup && s.t <= duration + 0.5 && s.rss !== null)
const slope = slopePerMin(after.map(s => [s.t, s.rss! / MiB]))
const peakRss = Math.max(...samples.map(s => s.rss ?? 0), idleEnd.hwm ?? 0)

const neverAnswered = NO_ANSWER_CAUSES.reduce((n, c) => n + r.noAnswer[c], 0)
const faults = FAULT_KINDS.reduce((n, k) => n + r.kinds[k].sent, 0)
const statusCodes = [...new Set(['200', '502', '504', ...Object.keys(r.status)])].sort()
const restarts = finalStats?.restarts ?? null
/** Normal requests that did not get 200: started (502, 504), or not (503; a synchronous 502). */
const normal = (() => {
  let sentN = 0
  let ok = 0
  let running = 0
  let timedOut = 0
  let lostUnstarted = 0
  let waitedOut = 0
  for (const k of NORMAL_KINDS) {
    const s = r.kinds[k]
    sentN += s.sent
    ok += s.status['200'] ?? 0
    if (k === 'async') running += s.status['502'] ?? 0
    else lostUnstarted += s.status['502'] ?? 0
    timedOut += s.status['504'] ?? 0
    waitedOut += s.status['503'] ?? 0
  }
  return { sent: sentN, ok, started: running + timedOut, running, timedOut, notStarted: lostUnstarted + waitedOut, lostUnstarted, waitedOut }
})()
/** Isolate time the hangs took: each holds its isolate from its claim until the hard timeout. */
const hangs = r.kinds.hang.sent
const hangIsolateS = hangs * hardTimeout / 1000
const isolateS = isolates * r.durationS
/** How the pool fared while the load ran: time short of isolates, and with none at all. */
const pool = statsAtStart === null || statsAtEnd === null || statsAtEnd.t <= statsAtStart.t
  ? null
  : {
      restarts: statsAtEnd.restarts - statsAtStart.restarts,
      spanMs: statsAtEnd.t - statsAtStart.t,
      degradedPct: (statsAtEnd.degradedMs - statsAtStart.degradedMs) / (statsAtEnd.t - statsAtStart.t) * 100,
      emptyPct: (statsAtEnd.emptyMs - statsAtStart.emptyMs) / (statsAtEnd.t - statsAtStart.t) * 100,
      longestEmptyMs: statsAtEnd.longestEmptyMs
    }

console.log(`\nload stopped after ${fmt(loadS, 1)} s (${fmt(r.durationS, 0)} s of sending, then waiting for the last answers)\n`)
printTable(
  ['kind', 'sent', ...statusCodes, 'no answer', 'unexpected', 'p50 ms', 'p99 ms', 'max ms'],
  [...KINDS.map((k) => {
    const s = r.kinds[k]
    const none = NO_ANSWER_CAUSES.reduce((n, c) => n + s.noAnswer[c], 0)
    return [k, fmt(s.sent, 0), ...statusCodes.map(c => fmt(s.status[c] ?? 0, 0)), fmt(none, 0), fmt(s.unexpected, 0),
      fmt(s.latencyMs.p50, 2), fmt(s.latencyMs.p99, 2), fmt(s.latencyMs.max, 1)]
  }),
  ['total', fmt(r.sent, 0), ...statusCodes.map(c => fmt(r.status[c] ?? 0, 0)), fmt(neverAnswered, 0), fmt(r.unexpected, 0), '', '', '']]
)

console.log('\nnon-200 answers and no-answers by reason:')
for (const [k, v] of Object.entries(r.reasons).sort((a, b) => b[1] - a[1])) console.log(`  ${fmt(v, 0).padStart(8)}  ${k}`)
if (r.unexpectedExamples.length > 0) {
  console.log('\nunexpected answers (first ones):')
  for (const e of r.unexpectedExamples) console.log(`  ${e}`)
}

const mib = (b: number | null): string => b === null ? '?' : `${(b / MiB).toFixed(1)} MiB`
console.log('')
const lines: [string, string][] = [
  ['requests sent', `${fmt(r.sent, 0)} in ${fmt(r.durationS, 0)} s (${fmt(r.sent / r.durationS, 0)}/s), ${fmt(faults, 0)} of them faults (${(faults / Math.max(1, r.sent) * 100).toFixed(2)} %)`],
  ['answered', `${fmt(r.answered, 0)}: ${Object.entries(r.status).sort().map(([c, n]) => `${c} × ${fmt(n, 0)}`).join(', ')}`],
  ['never answered', `${fmt(neverAnswered, 0)} (${NO_ANSWER_CAUSES.map(c => `${c} ${r.noAnswer[c]}`).join(', ')})`],
  ['normal requests', `${fmt(normal.sent, 0)} sent, ${fmt(normal.ok, 0)} got 200 (${(normal.ok / Math.max(1, normal.sent) * 100).toFixed(2)} %)`],
  ['  failed, started', `${fmt(normal.started, 0)}: ${fmt(normal.running, 0)} were running on the faulted isolate (async, 502), ${fmt(normal.timedOut, 0)} ran out of time after their isolate took them (504)`],
  ['  failed, not started', `${fmt(normal.notStarted, 0)}: ${fmt(normal.lostUnstarted, 0)} lost with their isolate (synchronous, 502), ${fmt(normal.waitedOut, 0)} taken by no isolate within the timeout (503)`],
  ['hangs\' isolate time', `${fmt(hangs, 0)} hangs × hardTimeout ${hardTimeout} ms = ${fmt(hangIsolateS, 1)} isolate-seconds of ${fmt(isolateS, 0)} (${(hangIsolateS / Math.max(1, isolateS) * 100).toFixed(1)} %), besides the restarts`],
  ['isolate restarts', `${restarts ?? '?'} (server.restarts at the end)` + (pool === null ? '' : `; while the load ran: ${pool.restarts}, pool short of isolates ${pool.degradedPct.toFixed(1)} % of the time, empty ${pool.emptyPct.toFixed(1)} % (longest stretch ${fmt(pool.longestEmptyMs / 1000, 1)} s)`)],
  ['pool whole again', readyAfterS === null ? `NOT within ${READY_WITHIN_S} s after the load stopped (last /readyz: ${lastReady.slice(0, 120)})` : `${fmt(readyAfterS, 1)} s after the load stopped`],
  ['RSS', `idle before ${mib(idleStart.rss)} → baseline ${mib(baseline)} → end ${mib(endRss)} (limit ${mib(rssLimit)}) → idle after ${mib(idleEnd.rss)}; peak ${mib(peakRss)}; trend after warm-up ${slope === null ? '?' : `${slope >= 0 ? '+' : ''}${slope.toFixed(2)} MiB/min`}`],
  ['RSS idle, pool whole', `before the load ${mib(idleStart.rss)}, after it ${mib(idleEnd.rss)} (${idleStart.rss === null || idleEnd.rss === null ? '?' : `${idleEnd.rss >= idleStart.rss ? '+' : ''}${((idleEnd.rss - idleStart.rss) / MiB).toFixed(1)} MiB`}): the like-for-like comparison, since RSS under load moves with the number of isolates alive`],
  ['threads, fds', `idle before ${idleStart.threads ?? '?'} threads, ${idleStart.fds ?? '?'} fds → idle after ${idleEnd.threads ?? '?'} threads, ${idleEnd.fds ?? '?'} fds`],
  ['thread names', `before${threadList(idleStart)}; after${threadList(idleEnd)}`],
  ['health probes', `/healthz ${Object.entries(health.healthz).map(([c, n]) => `${c} × ${n}`).join(', ')} (max ${fmt(health.healthzMaxMs, 1)} ms); /readyz ${Object.entries(health.readyz).map(([c, n]) => `${c} × ${n}`).join(', ')}`],
  ['server log', `${serverLog.lines} stderr lines: ${serverLog.crashReports} crash reports, ${serverLog.hardKills} hard-timeout kills, ${serverLog.crashLoopWarnings} crash-loop warnings (longest backoff ${serverLog.longestBackoffMs} ms), ${serverLog.restartFailures} failed restarts, ${serverLog.otherIsopool} other`],
  ['target stop', `SIGTERM → ${stopHow} after ${fmt(stopMs, 0)} ms`]
]
for (const [k, v] of lines) console.log(`${k.padEnd(22)}${v}`)

const checks: { name: string, ok: boolean, detail: string }[] = [
  { name: 'never answered = 0', ok: neverAnswered === 0, detail: String(neverAnswered) },
  { name: 'unexpected answers = 0', ok: r.unexpected === 0, detail: String(r.unexpected) },
  {
    name: `RSS end ≤ ${RSS_FACTOR} × baseline + ${RSS_SLACK / MiB} MiB`,
    ok: baseline !== null && endRss !== null && endRss <= rssLimit!,
    detail: `${mib(endRss)} vs ${mib(rssLimit)}`
  },
  { name: `pool whole within ${READY_WITHIN_S} s`, ok: readyAfterS !== null, detail: readyAfterS === null ? 'no' : `${fmt(readyAfterS, 1)} s` },
  { name: 'normal requests lost with their isolate before they started = 0', ok: normal.lostUnstarted === 0, detail: String(normal.lostUnstarted) }
]
console.log('\nchecks:')
for (const c of checks) console.log(`  ${c.ok ? 'ok  ' : 'FAIL'}  ${c.name}  (${c.detail})`)

mkdirSync(new URL('results/', import.meta.url), { recursive: true })
const outFile = new URL('results/soak.json', import.meta.url)
writeFileSync(outFile, JSON.stringify({
  bench: 'soak',
  date: new Date().toISOString(),
  commit: gitCommit(),
  node: process.version,
  cpus: availableParallelism(),
  cpuModel: cpus()[0]?.model,
  config: { duration, warmup, windowS: windowS, connections, isolates, spares, faultRate, faultKinds, serverTimeout, hardTimeout, clientTimeout },
  normal,
  hangs: { count: hangs, isolateSeconds: hangIsolateS, of: isolateS },
  checks,
  passed: checks.every(c => c.ok),
  neverAnswered,
  restarts,
  rss: { idleBefore: idleStart.rss, baseline, end: endRss, limit: rssLimit, idleAfter: idleEnd.rss, peak: peakRss, slopeMiBPerMin: slope },
  threads: { idleBefore: idleStart.threads, idleAfter: idleEnd.threads, namesBefore: idleStart.threadNames, namesAfter: idleEnd.threadNames },
  fds: { idleBefore: idleStart.fds, idleAfter: idleEnd.fds },
  readyAfterS,
  health,
  serverLog,
  pool,
  target: { statsAtStart, statsAtEnd, finalStats, stop: stopHow, stopMs },
  load: r,
  samples
}, null, 2) + '\n')
console.log(`\nwrote ${fileURLToPath(outFile)}`)
process.exit(checks.every(c => c.ok) ? 0 : 1)

// ── helpers ────────────────────────────────────────────────────────────────────────────────────

/** Least-squares slope of [seconds, y] points, per minute. */
function slopePerMin (points: [number, number][]): number | null {
  if (points.length < 3) return null
  const n = points.length
  const mx = points.reduce((a, [x]) => a + x, 0) / n
  const my = points.reduce((a, [, y]) => a + y, 0) / n
  let num = 0
  let den = 0
  for (const [x, y] of points) {
    num += (x - mx) * (y - my)
    den += (x - mx) ** 2
  }
  return den === 0 ? null : num / den * 60
}

function fmt (n: number, digits: number): string {
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
}





