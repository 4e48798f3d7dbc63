// The streaming bench (issue #15): what isopool's streamed responses cost against Fastify's.
//
//   sse-fanout     N SSE clients (--clients, default 1,000 and 10,000) on a route whose handler
//                  module keeps one ticker per isolate (per process for Fastify) that every open
//                  stream writes to, a tick every --tick-ms: per tick, ms from its stamp to the
//                  LAST client receiving it (p50/p99 over the ticks of the window), and the
//                  server's CPU per tick; ticks lost (a client missing one of its source's)
//   download-100m  --download-clients concurrent downloads of a 100 MiB stream (64 KiB chunks from
//                  an async generator; Fastify: a Readable stream reply), again and again for the
//                  window: MB/s, server CPU ms per MB, peak RSS
//   signal         --hangups clients, one after another, read a stream's first chunk and hang up:
//                  ms from the hang-up to the handler seeing it (isopool: req.signal's abort
//                  event in the isolate; Fastify: the response's close), stamped by the target
//
// Targets (each its own process, started fresh for every measurement; the load generator is
// another, bench/streaming-load.ts): isopool-N (targets/streaming-isopool.ts, N isolates) and
// fastify (targets/streaming-fastify.ts); both run the logic of streaming-scenarios.ts.
// Within a round the targets take turns; the tables show medians over rounds and the ratio to
// Fastify. Writes bench/results/streaming.json. Run: npm run bench:streaming -- --help

import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { failWith, gitCommit, integerOption, numberOption, printTable } from './cli.ts'
import type { DownloadLoadResult, SseLoadResult } from './streaming-load.ts'
import { median } from './stats.ts'

const fail = failWith(1)
const SCENARIOS = ['sse-fanout', 'download-100m', 'signal']

const HELP = `Usage: npm run bench:streaming -- [scenario...] [options]

Scenarios (default: all three):
  sse-fanout      SSE clients of one ticker per isolate (per process for Fastify): per tick, ms
                  from its stamp to the last client, and server CPU per tick
  download-100m   concurrent 100 MiB streamed downloads: MB/s, server CPU per MB, peak RSS
  signal          clients that hang up mid-stream: ms until the handler sees it (req.signal)

Options:
  --targets list          isopool-N and fastify, comma-separated (default isopool-1,isopool-2,fastify)
  --clients list          SSE clients, comma-separated (default 1000,10000; ulimit -n must allow
                          them, on both sides)
  --tick-ms ms            ms between ticks (default 250)
  --download-clients n    concurrent downloads (default 4)
  --mb n                  MiB per download (default 100)
  --hangups n             hang-ups measured per target (default 50)
  --duration s            measured seconds per measurement (default 5)
  --warmup s              uncounted seconds before (default 1)
  --rounds n              rounds; targets alternate within each (default 1)
  -h, --help              this text

Writes bench/results/streaming.json.`

const { values: opts, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    targets: { type: 'string', default: 'isopool-1,isopool-2,fastify' },
    clients: { type: 'string', default: '1000,10000' },
    'tick-ms': { type: 'string', default: '250' },
    'download-clients': { type: 'string', default: '4' },
    mb: { type: 'string', default: '100' },
    hangups: { type: 'string', default: '50' },
    duration: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '1' },
    help: { type: 'boolean', short: 'h', default: false }
  }
})
if (opts.help) {
  console.log(HELP)
  process.exit(0)
}
const scenarios = positionals.length === 0 ? SCENARIOS : positionals.flatMap(p => p.split(','))
for (const s of scenarios) if (!SCENARIOS.includes(s)) fail(`unknown scenario "${s}"; known: ${SCENARIOS.join(', ')}`)
interface Target { name: string, file: string, args: string[] }
const targets: Target[] = opts.targets.split(',').map((raw) => {
  const name = raw.trim()
  const m = /^isopool-(\d+)$/.exec(name)
  if (m !== null && Number(m[1]) >= 1) return { name, file: 'targets/streaming-isopool.ts', args: ['--isolates', m[1]] }
  if (name === 'fastify') return { name, file: 'targets/streaming-fastify.ts', args: [] }
  return fail(`unknown target "${name}"; known: isopool-N, fastify`)
})
const clientCounts = opts.clients.split(',').map(s => integerOption(fail, 'clients', s.trim()))
const tickMs = numberOption(fail, 'tick-ms', opts['tick-ms'], 10)
const downloadClients = integerOption(fail, 'download-clients', opts['download-clients'])
const mb = integerOption(fail, 'mb', opts.mb)
const hangups = integerOption(fail, 'hangups', opts.hangups)
const duration = numberOption(fail, 'duration', opts.duration, 0.5)
const warmup = numberOption(fail, 'warmup', opts.warmup, 0)
const rounds = integerOption(fail, 'rounds', opts.rounds)

const benchDir = fileURLToPath(new URL('.', import.meta.url))
const env = { ...process.env, ISOPOOL_BENCH_TICK_MS: String(tickMs) }
const children = new Set<ChildProcess>()
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    for (const child of children) child.kill('SIGKILL')
    process.exit(130)
  })
}

function node (file: string, args: string[]): ChildProcess {
  const child = spawn(process.execPath, [file, ...args], { cwd: benchDir, env, stdio: ['ignore', 'pipe', 'inherit'] })
  children.add(child)
  child.once('exit', () => children.delete(child))
  return child
}

const exited = (child: ChildProcess): Promise<number | null> =>
  child.exitCode !== null || child.signalCode !== null ? Promise.resolve(child.exitCode) : new Promise(resolve => child.once('exit', code => resolve(code)))

interface Running { child: ChildProcess, port: number, pid: number, lines: (line: string) => void }

/** Start a target; its later stdout lines go to `running.lines` (the signal scenario's stamps). */
async function startTarget (t: Target): Promise<Running> {
  const child = node(t.file, t.args)
  const rl = createInterface({ input: child.stdout! })
  return await new Promise<Running>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${t.name} did not report its port within 30 s`)), 30_000)
    rl.once('line', (line) => {
      clearTimeout(timer)
      const { port, pid } = JSON.parse(line) as { port: number, pid: number }
      const running: Running = { child, port, pid, lines: () => {} }
      rl.on('line', l => running.lines(l))
      resolve(running)
    })
    child.once('exit', code => reject(new Error(`${t.name} exited with code ${code} before it was ready`)))
  })
}

async function stopTarget (r: Running): Promise<void> {
  r.child.kill('SIGTERM')
  const timer = setTimeout(() => r.child.kill('SIGKILL'), 5000)
  await exited(r.child)
  clearTimeout(timer)
}

async function load<T> (r: Running, args: string[]): Promise<T> {
  const child = node('streaming-load.ts', ['--url', `http://127.0.0.1:${r.port}`, '--pid', String(r.pid), '--duration', String(duration), '--warmup', String(warmup), ...args])
  let out = ''
  child.stdout!.setEncoding('utf8').on('data', (c: string) => { out += c })
  const code = await exited(child)
  if (code !== 0) throw new Error(`load generator exited with code ${code}`)
  return JSON.parse(out) as T
}

interface SignalResult { hangups: number, seen: number, p50: number, p99: number, max: number }

/** Hang up `hangups` streams one after another; ms from each hang-up to the target's stamp. */
async function signal (r: Running): Promise<SignalResult> {
  const stamps = new Map<string, number>()
  let waiter: (() => void) | null = null
  r.lines = (line) => {
    try {
      const m = JSON.parse(line) as { aborted?: string, at?: number }
      if (m.aborted !== undefined && m.at !== undefined) stamps.set(m.aborted, m.at)
      waiter?.()
    } catch {}
  }
  const latencies: number[] = []
  for (let i = 0; i < hangups; i++) {
    const key = `h${i}`
    const hungUp = await new Promise<number>((resolve, reject) => {
      const s = connect(r.port, '127.0.0.1', () => s.write(`GET /endless?key=${key} HTTP/1.1\r\nhost: x\r\n\r\n`))
      let got = ''
      s.on('error', reject)
      s.on('data', (d: Buffer) => {
        got += d.toString('latin1')
        // Past the head, the first chunk: hang up.
        if (/\r\n\r\n[\s\S]*tick 0;/.test(got)) {
          const at = performance.timeOrigin + performance.now()
          s.destroy()
          resolve(at)
        }
      })
    })
    const deadline = Date.now() + 5000
    while (!stamps.has(key) && Date.now() < deadline) await new Promise<void>(resolve => { waiter = resolve; setTimeout(resolve, 100) })
    const at = stamps.get(key)
    if (at !== undefined) latencies.push(at - hungUp)
  }
  latencies.sort((a, b) => a - b)
  const q = (p: number): number => latencies.length === 0 ? NaN : latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]
  return { hangups, seen: latencies.length, p50: q(0.5), p99: q(0.99), max: latencies.at(-1) ?? NaN }
}

// ── the runs ───────────────────────────────────────────────────────────────────────────────────

type Measured = { kind: 'sse', clients: number, r: SseLoadResult } | { kind: 'download', r: DownloadLoadResult } | { kind: 'signal', r: SignalResult } | { kind: 'failed', error: string }
interface Row { scenario: string, clients: number | null, target: string, round: number, hostLoad1: number, result: Measured }
const rows: Row[] = []
const machine = { cpus: availableParallelism(), model: cpus()[0]?.model ?? '?', memGiB: Math.round(totalmem() / 2 ** 30), node: process.version, loadavgAtStart: loadavg() }
console.log(`streaming bench · ${machine.cpus} cpus · node ${machine.node} · host load ${loadavg().map(l => l.toFixed(2)).join(' ')} · ${rounds} round(s) × ${duration} s · tick ${tickMs} ms`)

for (let round = 0; round < rounds; round++) {
  for (const scenario of scenarios) {
    for (const clients of scenario === 'sse-fanout' ? clientCounts : [null]) {
      for (const t of targets) {
        let result: Measured
        let running: Running | null = null
        try {
          running = await startTarget(t)
          if (scenario === 'sse-fanout') result = { kind: 'sse', clients: clients!, r: await load<SseLoadResult>(running, ['--mode', 'sse', '--clients', String(clients)]) }
          else if (scenario === 'download-100m') result = { kind: 'download', r: await load<DownloadLoadResult>(running, ['--mode', 'download', '--clients', String(downloadClients), '--mb', String(mb)]) }
          else result = { kind: 'signal', r: await signal(running) }
        } catch (err) {
          result = { kind: 'failed', error: (err as Error).message }
        } finally {
          if (running !== null) await stopTarget(running)
        }
        const row = { scenario, clients, target: t.name, round, hostLoad1: loadavg()[0], result }
        rows.push(row)
        console.error(`  round ${round + 1} ${scenario}${clients === null ? '' : ` ${clients}`} ${t.name}: ${brief(result)} (host load ${row.hostLoad1.toFixed(2)})`)
      }
    }
  }
}

function brief (m: Measured): string {
  if (m.kind === 'failed') return `FAILED ${m.error}`
  if (m.kind === 'sse') return `last client p50 ${fmt(m.r.lastMs.p50, 2)} ms p99 ${fmt(m.r.lastMs.p99, 2)} ms, ${fmt(m.r.cpuMsPerTick, 2)} ms cpu/tick, ${m.r.subscribed}/${m.clients} subscribed (statuses ${JSON.stringify(m.r.statuses)}, ${m.r.errors} socket errors), ${m.r.lost} lost (${m.r.gaps} in gaps)`
  if (m.kind === 'download') return `${fmt(m.r.mbPerS, 0)} MB/s, ${fmt(m.r.cpuMsPerMb, 3)} ms cpu/MB, peak RSS ${fmt((m.r.peakRssBytes ?? NaN) / 2 ** 20, 0)} MB`
  return `hang-up → seen p50 ${fmt(m.r.p50, 2)} ms p99 ${fmt(m.r.p99, 2)} ms (${m.r.seen}/${m.r.hangups})`
}

// ── report ─────────────────────────────────────────────────────────────────────────────────────

function fmt (n: number | null, digits: number): string {
  return n === null || !Number.isFinite(n) ? '–' : n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
}
const ratio = (a: number, b: number): string => Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? `${(a / b).toFixed(2)}×` : '–'

/** Per target, the median over rounds of `get` for the rows of `scenario` (and `clients`). */
function med (scenario: string, clients: number | null, target: string, get: (m: Measured) => number | null): number {
  return median(rows.filter(r => r.scenario === scenario && r.clients === clients && r.target === target).map(r => get(r.result) ?? NaN))
}
const summary: Record<string, unknown>[] = []
for (const scenario of scenarios) {
  for (const clients of scenario === 'sse-fanout' ? clientCounts : [null]) {
    console.log(`\n${scenario}${clients === null ? '' : `, ${clients.toLocaleString('en-US')} clients, a tick every ${tickMs} ms`} (median over rounds; ratios to fastify)`)
    const base = (get: (m: Measured) => number | null): number => med(scenario, clients, 'fastify', get)
    if (scenario === 'sse-fanout') {
      const last50 = (m: Measured): number | null => m.kind === 'sse' ? m.r.lastMs.p50 : null
      const last99 = (m: Measured): number | null => m.kind === 'sse' ? m.r.lastMs.p99 : null
      const first50 = (m: Measured): number | null => m.kind === 'sse' ? m.r.firstMs.p50 : null
      const cpu = (m: Measured): number | null => m.kind === 'sse' ? m.r.cpuMsPerTick : null
      const rss = (m: Measured): number | null => m.kind === 'sse' && m.r.peakRssBytes !== null ? m.r.peakRssBytes / 2 ** 20 : null
      const lost = (m: Measured): number | null => m.kind === 'sse' ? m.r.lost + (m.clients - m.r.subscribed) : null
      printTable(['target', 'last client p50 ms', 'vs fastify', 'last client p99 ms', 'vs fastify', 'first client p50 ms', 'cpu ms/tick', 'vs fastify', 'peak RSS MB', 'lost'],
        targets.map(t => {
          const g = (f: (m: Measured) => number | null): number => med(scenario, clients, t.name, f)
          summary.push({ scenario, clients, target: t.name, lastP50Ms: g(last50), lastP99Ms: g(last99), firstP50Ms: g(first50), cpuMsPerTick: g(cpu), peakRssMB: g(rss), lost: g(lost) })
          return [t.name, fmt(g(last50), 2), ratio(g(last50), base(last50)), fmt(g(last99), 2), ratio(g(last99), base(last99)), fmt(g(first50), 2), fmt(g(cpu), 2), ratio(g(cpu), base(cpu)), fmt(g(rss), 0), fmt(g(lost), 0)]
        }))
    } else if (scenario === 'download-100m') {
      const mbs = (m: Measured): number | null => m.kind === 'download' ? m.r.mbPerS : null
      const cpu = (m: Measured): number | null => m.kind === 'download' ? m.r.cpuMsPerMb : null
      const rss = (m: Measured): number | null => m.kind === 'download' && m.r.peakRssBytes !== null ? m.r.peakRssBytes / 2 ** 20 : null
      const errs = (m: Measured): number | null => m.kind === 'download' ? m.r.errors : null
      printTable(['target', 'MB/s', 'vs fastify', 'cpu ms/MB', 'vs fastify', 'peak RSS MB', 'errors'],
        targets.map(t => {
          const g = (f: (m: Measured) => number | null): number => med(scenario, clients, t.name, f)
          summary.push({ scenario, target: t.name, mbPerS: g(mbs), cpuMsPerMb: g(cpu), peakRssMB: g(rss), errors: g(errs) })
          return [t.name, fmt(g(mbs), 0), ratio(g(mbs), base(mbs)), fmt(g(cpu), 3), ratio(g(cpu), base(cpu)), fmt(g(rss), 0), fmt(g(errs), 0)]
        }))
    } else {
      const p50 = (m: Measured): number | null => m.kind === 'signal' ? m.r.p50 : null
      const p99 = (m: Measured): number | null => m.kind === 'signal' ? m.r.p99 : null
      const max = (m: Measured): number | null => m.kind === 'signal' ? m.r.max : null
      const seen = (m: Measured): number | null => m.kind === 'signal' ? m.r.seen : null
      printTable(['target', 'hang-up → seen p50 ms', 'p99 ms', 'max ms', 'vs fastify (p99)', 'seen'],
        targets.map(t => {
          const g = (f: (m: Measured) => number | null): number => med(scenario, clients, t.name, f)
          summary.push({ scenario, target: t.name, p50Ms: g(p50), p99Ms: g(p99), maxMs: g(max), seen: g(seen) })
          return [t.name, fmt(g(p50), 2), fmt(g(p99), 2), fmt(g(max), 2), ratio(g(p99), base(p99)), `${fmt(g(seen), 0)}/${hangups}`]
        }))
    }
  }
}
for (const r of rows) if (r.result.kind === 'failed') console.log(`  ! round ${r.round + 1} ${r.scenario} ${r.target}: ${r.result.error}`)

mkdirSync(new URL('results/', import.meta.url), { recursive: true })
const file = new URL('results/streaming.json', import.meta.url)
writeFileSync(file, JSON.stringify({
  bench: 'streaming',
  date: new Date().toISOString(),
  commit: gitCommit(benchDir),
  machine: { ...machine, loadavgAtEnd: loadavg() },
  config: { scenarios, targets: targets.map(t => t.name), clients: clientCounts, tickMs, downloadClients, mb, hangups, duration, warmup, rounds },
  summary,
  rows
}, null, 2) + '\n')
console.log(`\nwrote ${fileURLToPath(file)}`)
