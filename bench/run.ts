// End-to-end comparison: hello-world JSON (GET / → {"hello":"world"}) served by
//
//   isopool-1   isopool, 1 isolate            bench/targets/isopool.ts --isolates 1
//   isopool-2   isopool, 2 isolates           bench/targets/isopool.ts --isolates 2
//   node-http   bare node:http                bench/targets/node-http.ts
//   fastify     Fastify 5, defaults           bench/targets/fastify.ts
//
// Each target runs as its own child process, started fresh for each measurement; the load comes
// from another child process (bench/load.ts: undici, keep-alive, one request in flight per
// connection). Rounds alternate the targets (A B C D A B C D …) so that drift on a noisy machine
// hits all of them alike; per target we report the MEDIAN over rounds of requests/s and of p99
// latency, and ratios to Fastify. Each measurement has an uncounted warm-up first (JIT, pools).
//
// The load generator shares the machine: on a small box it competes with the server for cores,
// which caps what any target can show. serverCpu / loadCpu (in % of one core) say how close to
// that each measurement was.
//
// Output: a table on the terminal and bench/results/e2e.json. Run: npm run bench -- --help

import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { execFileSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { availableParallelism, cpus, loadavg } from 'node:os'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import type { LoadResult } from './load.ts'

interface Target {
  name: string
  file: string
  args: string[]
}

const TARGETS: Target[] = [
  { name: 'isopool-1', file: 'targets/isopool.ts', args: ['--isolates', '1'] },
  { name: 'isopool-2', file: 'targets/isopool.ts', args: ['--isolates', '2'] },
  { name: 'node-http', file: 'targets/node-http.ts', args: [] },
  { name: 'fastify', file: 'targets/fastify.ts', args: [] }
]
const BASELINE = 'fastify'
const EXPECTED_BODY = '{"hello":"world"}'

const HELP = `Usage: npm run bench -- [options]

Hello-world JSON, end to end: isopool (1 and 2 isolates) vs node:http vs Fastify, each target in
its own process, load from a separate undici process, alternating rounds; medians and ratios to
Fastify. Writes bench/results/e2e.json.

  --duration s      measured seconds per target per round (default 5)
  --warmup s        uncounted warm-up seconds before each measurement (default 1)
  --connections n   keep-alive connections, one request in flight on each (default 50)
  --rounds n        rounds of all targets (default 3)
  --targets list    comma-separated subset of: ${TARGETS.map(t => t.name).join(', ')}
  -h, --help        this text`

const { values: opts } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    connections: { type: 'string', default: '50' },
    rounds: { type: 'string', default: '3' },
    targets: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false }
  }
})
if (opts.help) {
  console.log(HELP)
  process.exit(0)
}
const duration = number('duration', opts.duration, 0.1)
const warmup = number('warmup', opts.warmup, 0)
const connections = integer('connections', opts.connections)
const rounds = integer('rounds', opts.rounds)
const targets = opts.targets === undefined
  ? TARGETS
  : opts.targets.split(',').map((name) => {
    const t = TARGETS.find(t => t.name === name.trim())
    if (t === undefined) fail(`unknown target "${name}"; known: ${TARGETS.map(t => t.name).join(', ')}`)
    return t!
  })

// ── child processes ────────────────────────────────────────────────────────────────────────────

/** Every child still running, so an interrupted run leaves nothing behind. */
const children = new Set<ChildProcess>()
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    for (const child of children) child.kill('SIGKILL')
    process.exit(130)
  })
}

const benchDir = fileURLToPath(new URL('.', import.meta.url))

/** Run a .ts file of bench/ with this same node (the project's Node 24, not the system's). */
function node (file: string, args: string[]): ChildProcess {
  const child = spawn(process.execPath, [file, ...args], { cwd: benchDir, stdio: ['ignore', 'pipe', 'inherit'] })
  children.add(child)
  child.once('exit', () => children.delete(child))
  return child
}

function exited (child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode)
  return new Promise(resolve => child.once('exit', code => resolve(code)))
}

interface Running {
  child: ChildProcess
  port: number
  pid: number
}

/** Start a target and wait for its {"port":N,"pid":P} line. */
async function startTarget (target: Target): Promise<Running> {
  const child = node(target.file, target.args)
  const lines = createInterface({ input: child.stdout! })
  const ready = new Promise<Running>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${target.name} did not report its port within 20 s`)), 20_000)
    lines.once('line', (line) => {
      clearTimeout(timer)
      try {
        const { port, pid } = JSON.parse(line) as { port: number, pid: number }
        resolve({ child, port, pid })
      } catch {
        reject(new Error(`${target.name} printed "${line}" instead of {"port":N}`))
      }
    })
    child.once('exit', code => reject(new Error(`${target.name} exited with code ${code} before it was ready`)))
  })
  try {
    return await ready
  } finally {
    // Anything else the target prints goes to our stderr, so it is seen and never blocks a pipe.
    lines.on('line', line => console.error(`[${target.name}] ${line}`))
  }
}

/** SIGTERM, and SIGKILL if it has not exited 5 s later. */
async function stopTarget (running: Running): Promise<void> {
  running.child.kill('SIGTERM')
  const timer = setTimeout(() => running.child.kill('SIGKILL'), 5000)
  await exited(running.child)
  clearTimeout(timer)
}

async function runLoad (port: number, pid: number): Promise<LoadResult> {
  const child = node('load.ts', [
    '--url', `http://127.0.0.1:${port}/`,
    '--connections', String(connections),
    '--duration', String(duration),
    '--warmup', String(warmup),
    '--expect', EXPECTED_BODY,
    '--pid', String(pid)
  ])
  let out = ''
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => { out += chunk })
  const code = await exited(child)
  if (code !== 0) throw new Error(`load generator exited with code ${code}`)
  return JSON.parse(out) as LoadResult
}

async function measure (target: Target): Promise<LoadResult> {
  const running = await startTarget(target)
  try {
    return await runLoad(running.port, running.pid)
  } finally {
    await stopTarget(running)
  }
}

// ── run ────────────────────────────────────────────────────────────────────────────────────────

const perRound = (warmup + duration + 1) * targets.length
console.log(`isopool e2e: GET / → ${EXPECTED_BODY}`)
console.log(`node ${process.version}, ${availableParallelism()} cpus (${cpus()[0]?.model ?? '?'}), load ${loadavg().map(l => l.toFixed(2)).join(' ')}`)
console.log(`${rounds} round(s) × ${targets.length} targets, ${connections} connections, ${warmup} s warm-up + ${duration} s measured each (~${Math.ceil(perRound * rounds)} s)\n`)

const results = new Map<string, LoadResult[]>(targets.map(t => [t.name, []]))
for (let round = 1; round <= rounds; round++) {
  for (const target of targets) {
    const r = await measure(target)
    results.get(target.name)!.push(r)
    const problems = [
      r.errors > 0 ? `${r.errors} errors ${JSON.stringify(r.errorCodes)}` : '',
      r.non2xx > 0 ? `${r.non2xx} non-2xx` : '',
      r.unexpectedBody > 0 ? `${r.unexpectedBody} unexpected bodies` : '',
      r.unfinished > 0 ? `${r.unfinished} unanswered at the end` : ''
    ].filter(Boolean).join(', ')
    console.log(
      `round ${round}/${rounds}  ${target.name.padEnd(10)} ${fmt(r.rps, 0).padStart(8)} req/s  ` +
      `p50 ${fmt(r.latencyMs.p50, 2).padStart(6)} ms  p99 ${fmt(r.latencyMs.p99, 2).padStart(6)} ms  ` +
      `cpu server ${r.serverCpuPct === null ? '?' : fmt(r.serverCpuPct, 0)}% load ${fmt(r.loadCpuPct, 0)}%` +
      (problems === '' ? '' : `  ! ${problems}`)
    )
  }
}

interface Summary {
  target: string
  rps: number
  p50Ms: number
  p99Ms: number
  /** rps / baseline rps (higher is better) */
  rpsVsBaseline: number | null
  /** p99 / baseline p99 (lower is better) */
  p99VsBaseline: number | null
  serverCpuPct: number | null
  errors: number
  non2xx: number
  unexpectedBody: number
  unfinished: number
  roundsRps: number[]
}

const summaries: Summary[] = targets.map((t) => {
  const rs = results.get(t.name)!
  const cpu = rs.map(r => r.serverCpuPct).filter((c): c is number => c !== null)
  return {
    target: t.name,
    rps: median(rs.map(r => r.rps)),
    p50Ms: median(rs.map(r => r.latencyMs.p50)),
    p99Ms: median(rs.map(r => r.latencyMs.p99)),
    rpsVsBaseline: null,
    p99VsBaseline: null,
    serverCpuPct: cpu.length === 0 ? null : median(cpu),
    errors: sum(rs.map(r => r.errors)),
    non2xx: sum(rs.map(r => r.non2xx)),
    unexpectedBody: sum(rs.map(r => r.unexpectedBody)),
    unfinished: sum(rs.map(r => r.unfinished)),
    roundsRps: rs.map(r => Math.round(r.rps))
  }
})
const base = summaries.find(s => s.target === BASELINE)
if (base !== undefined) {
  for (const s of summaries) {
    s.rpsVsBaseline = s.rps / base.rps
    s.p99VsBaseline = base.p99Ms > 0 ? s.p99Ms / base.p99Ms : null
  }
}

console.log(`\nmedians over ${rounds} round(s):\n`)
printTable(
  ['target', 'req/s', 'p50 ms', 'p99 ms', `req/s vs ${BASELINE}`, `p99 vs ${BASELINE}`, 'server cpu', 'errors', 'non-2xx', 'req/s per round'],
  summaries.map(s => [
    s.target,
    fmt(s.rps, 0),
    fmt(s.p50Ms, 2),
    fmt(s.p99Ms, 2),
    s.rpsVsBaseline === null ? '–' : `${s.rpsVsBaseline.toFixed(2)}×`,
    s.p99VsBaseline === null ? '–' : `${s.p99VsBaseline.toFixed(2)}×`,
    s.serverCpuPct === null ? '?' : `${fmt(s.serverCpuPct, 0)}%`,
    String(s.errors + s.unexpectedBody + s.unfinished),
    String(s.non2xx),
    s.roundsRps.map(r => fmt(r, 0)).join(' / ')
  ])
)

mkdirSync(new URL('results/', import.meta.url), { recursive: true })
const outFile = new URL('results/e2e.json', import.meta.url)
writeFileSync(outFile, JSON.stringify({
  bench: 'e2e-hello',
  date: new Date().toISOString(),
  commit: gitCommit(),
  node: process.version,
  cpus: availableParallelism(),
  cpuModel: cpus()[0]?.model,
  loadavg: loadavg(),
  config: { duration, warmup, connections, rounds, targets: targets.map(t => t.name), baseline: BASELINE },
  summary: summaries,
  rounds: Object.fromEntries(results)
}, null, 2) + '\n')
console.log(`\nwrote ${fileURLToPath(outFile)}`)

// ── helpers ────────────────────────────────────────────────────────────────────────────────────

function median (xs: number[]): number {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}

function sum (xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0)
}

function fmt (n: number, digits: number): string {
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
}

function printTable (header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map(r => r[i].length)))
  const line = (cells: string[]): string => cells.map((c, i) => i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i])).join('  ')
  console.log(line(header))
  console.log(widths.map(w => '─'.repeat(w)).join('  '))
  for (const r of rows) console.log(line(r))
}

function gitCommit (): string | null {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: benchDir, encoding: 'utf8' }).trim()
    const dirty = execFileSync('git', ['status', '--porcelain'], { cwd: benchDir, encoding: 'utf8' }).trim() !== ''
    return dirty ? `${head}+dirty` : head
  } catch {
    return null
  }
}

function number (name: string, value: string, min: number): number {
  const n = Number(value)
  if (!Number.isFinite(n) || n < min) fail(`--${name} must be a number ≥ ${min}, got ${value}`)
  return n
}

function integer (name: string, value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1) fail(`--${name} must be a positive integer, got ${value}`)
  return n
}

function fail (message: string): never {
  console.error(message)
  process.exit(1)
}
