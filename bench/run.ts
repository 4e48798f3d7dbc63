// End-to-end benchmark harness: the scenarios of bench/scenarios.ts against
//
//   isopool-N          isopool with N isolates, for each N of --isolates     targets/isopool.ts
//   node-http          bare node:http                                          targets/node-http.ts
//   fastify            Fastify 5, handlers inline                              targets/fastify.ts
//   fastify-piscina-N  Fastify 5, every handler run with piscina.run, N threads targets/fastify-piscina.ts
//   cluster-N          node:cluster, N processes each running the Fastify app  targets/cluster.ts
//
// The services run: `isopool-N:SET` and `fastify:SET` are those targets with a set of production
// services on (bench/service-sets.ts: off, all, one service, several joined by +; `each` for off,
// every one alone and all). Each set is reported against the same target with every service off,
// paired by round, and isopool's against the cost issue #16 allows (5 % each, 15 % together).
//
// Each target runs as its own child process, started fresh for each measurement; the load comes
// from another child process (bench/load.ts: undici, keep-alive; or wrk, --loader wrk). For every
// round and scenario the targets take turns, in order in odd rounds and in reverse in even ones
// (A B C C B A A B C …), so that drift on a noisy machine hits all of them alike and no target
// always runs first or last (a target measured first after a cool-down, or right after the
// heaviest, showed ~8 % apart from its place alone); per target and scenario we report the MEDIAN over rounds, and ratios
// to a baseline target. A round with errors, non-2xx answers, unexpected bodies or unanswered
// requests is marked and left out of the medians (if every round has them, the medians are over
// all of them and the row is marked ERR). Each measurement has an uncounted warm-up first.
//
// Output: a table per scenario on the terminal (with a progress bar while it runs, on a TTY), the
// goals of the benchmark-harness issue marked met / missed, bench/results/e2e.json and
// bench/results/e2e.svg. Run: npm run bench -- --help

import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { chartSvg } from './chart.ts'
import type { LoadResult } from './load.ts'
import type { RoleCost, ThreadCosts } from './proc.ts'
import { CPU_ITERATIONS, cpuWork, SCENARIO_NAMES, SCENARIOS, setupDb } from './scenarios.ts'
import { costLimit, parseServiceSet, SERVICE_NAMES, serviceSets } from './service-sets.ts'
import { runWrk, wrkAvailable } from './wrk.ts'
import { failWith, gitCommit as commitOf, integerOption, numberOption, printTable } from './cli.ts'
import { median } from './stats.ts'

const fail = failWith(1)
const number = (name: string, value: string, min: number, max?: number): number => numberOption(fail, name, value, min, max)
const integer = (name: string, value: string): number => integerOption(fail, name, value)
const gitCommit = (): string | null => commitOf(benchDir)

interface Target {
  name: string
  /** Family (isopool, cluster, fastify-piscina, node-http, fastify) and pool size (null: none). */
  family: string
  size: number | null
  file: string
  args: string[]
  /** The services run's set of services (bench/service-sets.ts), null: the target as it is. */
  services: string | null
  /** The target's name without its set: its rows are compared with `${base}:off`. */
  base: string
}

const FAMILIES = ['isopool', 'node-http', 'fastify', 'fastify-piscina', 'cluster']
const DEFAULT_SCENARIOS = ['hello', 'async', 'cpu', 'mixed']

const HELP = `Usage: npm run bench -- [scenario...] [options]

Scenarios (default: ${DEFAULT_SCENARIOS.join(' ')}; "all" for every one but ${Object.keys(SCENARIOS).filter(n => !SCENARIO_NAMES.includes(n)).join(', ')}):
${Object.keys(SCENARIOS).map(n => `  ${n.padEnd(14)} ${SCENARIOS[n]().description}`).join('\n')}

Targets, each its own process, fresh per measurement:
  isopool[-N]          isopool, N isolates (without -N: one target per --isolates size)
  isopool[-N]@POLICY   the same with the placement option set: isopool-2@spread, isopool-2@warm
  node-http            bare node:http
  fastify              Fastify 5, handlers inline
  fastify-piscina[-N]  Fastify 5 + piscina.run, N threads (without -N: --peer-size)
  cluster[-N]          node:cluster, N Fastify processes (without -N: --peer-size)

The services run: isopool[-N] and fastify with a set of services on, named TARGET:SET
  SET                  off (every service off, request ids too), all, one service, several
                       joined by + (cors+logger), or each (off, every one alone, all); the
                       services: ${SERVICE_NAMES.join(', ')}
  Each set is reported against TARGET:off in the same round; isopool's against the issue's
  limits (each service ≤ 5 % of req/s, all together ≤ 15 %). Fastify runs its own plugins:
  @fastify/cors, @fastify/compress, @fastify/rate-limit, pino to /dev/null, genReqId, prom-client
  in an onResponse hook, an onSend hook for middleware (bench/targets/fastify-services.ts).
  npm run bench -- hello hello-browser json-16k --targets isopool-1:each,fastify:off,fastify:all --rounds 5

Options:
  --targets list      comma-separated (default: ${FAMILIES.join(',')})
  --isolates list     isopool pool sizes, comma-separated (default: 1,2)
  --peer-size n       threads / processes of fastify-piscina and cluster when not named
                      (default: the largest --isolates size)
  --baseline name     target the ratios are taken to (default: fastify; with service sets
                      among the targets, the first isopool one with services off)
  --duration s        measured seconds per measurement (default 3)
  --warmup s          uncounted warm-up seconds before each (default 1)
  --connections n     keep-alive connections (default 50)
  --pipelining n      requests in flight per connection (default 1: none)
  --rounds n          rounds; targets take turns within each, in reverse every other round (default 2)
  --loader name       undici (default: bench/load.ts) or wrk (must be installed; no body
                      checks). Scenarios whose latency is reported per class (mixed: light
                      and heavy requests) still run on undici, which can tell them apart
  -h, --help          this text

Writes bench/results/e2e.json and bench/results/e2e.svg. Longer, steadier runs:
  npm run bench -- all --duration 10 --rounds 5`

const { values: opts, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    targets: { type: 'string', default: FAMILIES.join(',') },
    isolates: { type: 'string', default: '1,2' },
    'peer-size': { type: 'string' },
    baseline: { type: 'string' },
    duration: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1' },
    connections: { type: 'string', default: '50' },
    pipelining: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '2' },
    loader: { type: 'string', default: 'undici' },
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
const pipelining = integer('pipelining', opts.pipelining)
const rounds = integer('rounds', opts.rounds)
const isolateSizes = opts.isolates.split(',').map(s => integer('isolates', s.trim()))
const peerSize = opts['peer-size'] === undefined ? Math.max(...isolateSizes) : integer('peer-size', opts['peer-size'])
const loader = opts.loader
if (loader !== 'undici' && loader !== 'wrk') fail(`--loader must be undici or wrk, got ${loader}`)
if (loader === 'wrk' && !wrkAvailable()) fail('--loader wrk: wrk is not installed (not on PATH); use the default undici loader')

const scenarioNames = positionals.length === 0
  ? DEFAULT_SCENARIOS
  : positionals.flatMap(p => p === 'all' ? SCENARIO_NAMES : p.split(','))
for (const s of scenarioNames) if (!(s in SCENARIOS)) fail(`unknown scenario "${s}"; known: ${SCENARIO_NAMES.join(', ')}, all`)

const targets: Target[] = []
for (const raw of opts.targets.split(',')) {
  const spec = raw.trim()
  // TARGET:SET, the services run's: the target once per set its SET stands for.
  const colon = spec.indexOf(':')
  const name = colon < 0 ? spec : spec.slice(0, colon)
  const sets = colon < 0
    ? [null]
    : serviceSets(spec.slice(colon + 1)) ?? fail(`unknown service set in "${spec}"; known: off, all, each, ${SERVICE_NAMES.join(', ')}, or several joined by +`)
  if (colon >= 0 && !/^(isopool(-\d+)?|fastify)$/.test(name)) fail(`"${spec}": only isopool[-N] and fastify take a set of services`)
  const bases: Omit<Target, 'services' | 'base'>[] = []
  // isopool[-N]@POLICY: isopool with that placement policy (the `placement` option).
  const m = /^(isopool|fastify-piscina|cluster)(?:-(\d+))?(?:@([a-z]+))?$/.exec(name)
  if (m !== null) {
    const family = m[1]
    const policy = m[3]
    if (policy !== undefined && family !== 'isopool') fail(`"${name}": only isopool[-N] takes a placement policy (@${policy})`)
    const sizes = m[2] !== undefined ? [Number(m[2])] : family === 'isopool' ? isolateSizes : [peerSize]
    for (const size of sizes) {
      if (!(size >= 1)) fail(`bad pool size in "${name}"`)
      const file = `targets/${family}.ts`
      const flag = family === 'isopool' ? '--isolates' : family === 'cluster' ? '--workers' : '--threads'
      bases.push({
        name: `${family}-${size}${policy === undefined ? '' : `@${policy}`}`,
        family,
        size,
        file,
        args: [flag, String(size), ...(policy === undefined ? [] : ['--placement', policy])]
      })
    }
  } else if (name === 'node-http' || name === 'fastify') {
    bases.push({ name, family: name, size: null, file: `targets/${name}.ts`, args: [] })
  } else {
    fail(`unknown target "${name}"; known: isopool[-N], node-http, fastify, fastify-piscina[-N], cluster[-N], isopool[-N]:SET, fastify:SET`)
  }
  for (const b of bases) {
    for (const set of sets) {
      targets.push(set === null
        ? { ...b, services: null, base: b.name }
        : { ...b, name: `${b.name}:${set}`, args: [...b.args, '--services', set], services: set, base: b.name })
    }
  }
}
const seen = new Set<string>()
for (const t of targets) {
  if (seen.has(t.name)) fail(`target ${t.name} given twice`)
  seen.add(t.name)
}
const baseline = opts.baseline ??
  (targets.find(t => t.family === 'isopool' && t.services === 'off') ?? targets.find(t => t.services === 'off'))?.name ?? 'fastify'
if (!seen.has(baseline)) console.warn(`note: baseline ${baseline} is not among the targets; no ratios`)

// ── child processes ────────────────────────────────────────────────────────────────────────────

/** Every child still running, so an interrupted run leaves nothing behind. */
const children = new Set<ChildProcess>()
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    for (const child of children) child.kill('SIGKILL')
    progress.clear()
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
    const timer = setTimeout(() => reject(new Error(`${target.name} did not report its port within 30 s`)), 30_000)
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
    lines.on('line', line => progress.log(`[${target.name}] ${line}`, true))
  }
}

/** SIGTERM, and SIGKILL if it has not exited 5 s later. */
async function stopTarget (running: Running): Promise<void> {
  running.child.kill('SIGTERM')
  const timer = setTimeout(() => running.child.kill('SIGKILL'), 5000)
  await exited(running.child)
  clearTimeout(timer)
}

/** The loader a scenario runs on: wrk cannot tell one request's latency from another's, so a
 * scenario reported per latency class stays on undici. */
function loaderFor (scenario: string): 'undici' | 'wrk' {
  return loader === 'wrk' && new Set(SCENARIOS[scenario]().requests.map(r => r.cls)).size === 1 ? 'wrk' : 'undici'
}

async function runLoad (scenario: string, port: number, pid: number): Promise<LoadResult> {
  if (loaderFor(scenario) === 'wrk') {
    return await runWrk({ scenario: SCENARIOS[scenario](), port, pid, connections, duration, warmup })
  }
  const child = node('load.ts', [
    '--url', `http://127.0.0.1:${port}`,
    '--scenario', scenario,
    '--connections', String(connections),
    '--pipelining', String(pipelining),
    '--duration', String(duration),
    '--warmup', String(warmup),
    '--pid', String(pid)
  ])
  let out = ''
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => { out += chunk })
  const code = await exited(child)
  if (code !== 0) throw new Error(`load generator exited with code ${code}`)
  return JSON.parse(out) as LoadResult
}

async function measure (target: Target, scenario: string): Promise<(LoadResult & { hostLoad1: number }) | { failed: string }> {
  let running: Running
  try {
    running = await startTarget(target)
  } catch (err) {
    return { failed: (err as Error).message }
  }
  try {
    return { ...await runLoad(scenario, running.port, running.pid), hostLoad1: loadavg()[0] }
  } catch (err) {
    return { failed: (err as Error).message }
  } finally {
    await stopTarget(running)
  }
}

// ── progress ───────────────────────────────────────────────────────────────────────────────────

/** A one-line progress bar on stderr (TTY only); log() prints above it. */
const progress = new (class {
  private readonly tty = process.stderr.isTTY === true
  private text = ''
  private readonly started = Date.now()

  update (done: number, total: number, label: string): void {
    if (!this.tty) return
    const width = 28
    const filled = Math.round(width * done / total)
    const elapsed = (Date.now() - this.started) / 1000
    const left = done === 0 ? total * (warmup + duration + 2) : elapsed / done * (total - done)
    this.text = `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${done}/${total}  ${label}  ~${clock(left)} left`
    this.draw()
  }

  log (line: string, toStderr = false): void {
    this.clear()
    if (toStderr) console.error(line)
    else console.log(line)
    this.draw()
  }

  clear (): void {
    if (this.tty && this.text !== '') process.stderr.write('\r\x1b[2K')
  }

  private draw (): void {
    if (this.tty && this.text !== '') process.stderr.write(`\r\x1b[2K${this.text.slice(0, (process.stderr.columns ?? 100) - 1)}`)
  }

  done (): void {
    this.clear()
    this.text = ''
  }
})()

// ── run ────────────────────────────────────────────────────────────────────────────────────────

if (scenarioNames.includes('sqlite')) setupDb()

const cpuMs = (() => {
  cpuWork()
  const t = performance.now()
  for (let i = 0; i < 20; i++) cpuWork()
  return (performance.now() - t) / 20
})()

const total = rounds * scenarioNames.length * targets.length
const machine = {
  node: process.version,
  cpus: availableParallelism(),
  cpuModel: cpus()[0]?.model ?? '?',
  memGiB: Math.round(totalmem() / 2 ** 30),
  loadavgAtStart: loadavg()
}
console.log(`isopool bench: ${scenarioNames.join(', ')} × ${targets.map(t => t.name).join(', ')}`)
console.log(`node ${machine.node}, ${machine.cpus} cpus (${machine.cpuModel}), ${machine.memGiB} GiB, load ${machine.loadavgAtStart.map(l => l.toFixed(2)).join(' ')}`)
if (machine.loadavgAtStart[0] > 0.5) {
  console.log(`note: the host is already busy (1-min load ${machine.loadavgAtStart[0].toFixed(2)}) before we start: expect noisier numbers`)
}
console.log(`cpu scenario: ${CPU_ITERATIONS.toLocaleString('en-US')} iterations = ${cpuMs.toFixed(2)} ms here`)
console.log(`${rounds} round(s) × ${scenarioNames.length} scenario(s) × ${targets.length} targets = ${total} measurements; ` +
  `${connections} connections${pipelining > 1 ? ` × ${pipelining} pipelined` : ''}, ${warmup} s warm-up + ${duration} s each, loader ${loader} ` +
  `(~${clock(total * (warmup + duration + 2))})\n`)
const onUndici = scenarioNames.filter(s => loader === 'wrk' && loaderFor(s) === 'undici')
if (onUndici.length > 0) console.log(`on the undici loader all the same (latency per class): ${onUndici.join(', ')}\n`)

/** One measurement: the load generator's result plus the host's 1-minute load average after it. */
type Outcome = (LoadResult & { hostLoad1: number }) | { failed: string }
/** results[scenario][target] = one outcome per round */
const results: Record<string, Record<string, Outcome[]>> = {}
for (const s of scenarioNames) results[s] = Object.fromEntries(targets.map(t => [t.name, []]))

let done = 0
const targetWidth = Math.max(18, ...targets.map(t => t.name.length))
for (let round = 1; round <= rounds; round++) {
  // Even rounds go backwards: over two rounds every target's mean place is the same.
  const order = round % 2 === 1 ? targets : [...targets].reverse()
  for (const scenario of scenarioNames) {
    for (const target of order) {
      progress.update(done, total, `round ${round}/${rounds} · ${scenario} · ${target.name}`)
      const r = await measure(target, scenario)
      results[scenario][target.name].push(r)
      done++
      progress.log(`round ${round}/${rounds}  ${scenario.padEnd(8)} ${target.name.padEnd(targetWidth)} ${describe(r)}`)
    }
  }
}
progress.done()

function problems (r: LoadResult): string {
  return [
    r.errors > 0 ? `${r.errors} errors ${JSON.stringify(r.errorCodes)}` : '',
    r.non2xx > 0 ? `${r.non2xx} non-2xx ${JSON.stringify(r.statusCodes)}` : '',
    r.unexpectedBody > 0 ? `${r.unexpectedBody} unexpected bodies` : '',
    r.unfinished > 0 ? `${r.unfinished} unanswered at the end` : ''
  ].filter(Boolean).join(', ')
}

function describe (r: Outcome): string {
  if ('failed' in r) return `! FAILED: ${r.failed}`
  const p = problems(r)
  const light = r.classes.light
  return `${fmt(r.rps, 0).padStart(8)} req/s  p50 ${fmt(r.latencyMs.p50, 2).padStart(6)}  p99 ${fmt(r.latencyMs.p99, 2).padStart(7)} ms` +
    (light === undefined ? '' : `  light p99 ${fmt(light.latencyMs.p99, 2)} ms`) +
    `  cpu server ${r.serverCpuPct === null ? '?' : fmt(r.serverCpuPct, 0)}%` +
    (r.threads == null ? '' : ` (µs/req main ${fmt(r.threads.main.userUs + r.threads.main.sysUs, 1)} isolates ${fmt(r.threads.isolates.userUs + r.threads.isolates.sysUs, 1)}; wakes/req main ${fmt(r.threads.main.wakes, 2)} isolates ${fmt(r.threads.isolates.wakes, 2)})`) +
    ` loadgen ${fmt(r.loadCpuPct, 0)}%  host load ${r.hostLoad1.toFixed(1)}` +
    (p === '' ? '' : `  ! ${p}`)
}

// ── summaries ──────────────────────────────────────────────────────────────────────────────────

export interface Summary {
  scenario: string
  target: string
  family: string
  size: number | null
  /** The services run's set (bench/service-sets.ts); null: the target as it is. */
  services: string | null
  /** Rounds measured, and those without errors / non-2xx / bad bodies / unanswered requests. */
  rounds: number
  cleanRounds: number
  /** Medians are over all rounds because none was clean. */
  err: boolean
  rps: number
  p50Ms: number
  p99Ms: number
  /** Worst over the rounds the medians use. */
  maxMs: number
  /** mixed: the light (hello) and heavy (cpu) requests apart. */
  light: { p50Ms: number, p99Ms: number, maxMs: number } | null
  heavy: { p50Ms: number, p99Ms: number, maxMs: number } | null
  cpuSPer1k: number | null
  serverCpuPct: number | null
  /** Per request, by thread role, the median over the rounds of each figure: CPU µs (user,
   * kernel) and wake-ups (voluntary context switches) of the main thread(s), the isolates (worker
   * threads), and the rest. */
  threads: ThreadCosts | null
  peakRssMB: number | null
  errors: number
  non2xx: number
  unexpectedBody: number
  unfinished: number
  failed: string[]
  rpsVsBaseline: number | null
  p99VsBaseline: number | null
  lightP99VsBaseline: number | null
  roundsRps: number[]
}

const summaries: Summary[] = []
for (const scenario of scenarioNames) {
  for (const t of targets) {
    const outcomes = results[scenario][t.name]
    const ok = outcomes.filter((r): r is LoadResult & { hostLoad1: number } => !('failed' in r))
    const clean = ok.filter(r => problems(r) === '')
    const used = clean.length > 0 ? clean : ok
    const nums = (xs: (number | null)[]): number[] => xs.filter((x): x is number => x !== null)
    const cls = (name: string): Summary['light'] => {
      const xs = used.map(r => r.classes[name]).filter(c => c !== undefined && c.requests > 0)
      return xs.length === 0 ? null : { p50Ms: median(xs.map(c => c.latencyMs.p50)), p99Ms: median(xs.map(c => c.latencyMs.p99)), maxMs: Math.max(...xs.map(c => c.latencyMs.max)) }
    }
    const cpuPer1k = nums(used.map(r => r.cpuSPer1k))
    const cpuPct = nums(used.map(r => r.serverCpuPct))
    const rss = nums(ok.map(r => r.peakRssBytes))
    const perThread = used.map(r => r.threads).filter((t): t is ThreadCosts => t !== null && t !== undefined)
    const role = (name: keyof ThreadCosts): RoleCost => ({
      userUs: median(perThread.map(t => t[name].userUs)),
      sysUs: median(perThread.map(t => t[name].sysUs)),
      wakes: median(perThread.map(t => t[name].wakes))
    })
    summaries.push({
      scenario,
      target: t.name,
      family: t.family,
      size: t.size,
      services: t.services,
      rounds: outcomes.length,
      cleanRounds: clean.length,
      err: clean.length === 0,
      rps: used.length === 0 ? NaN : median(used.map(r => r.rps)),
      p50Ms: median(used.map(r => r.latencyMs.p50)),
      p99Ms: median(used.map(r => r.latencyMs.p99)),
      maxMs: used.length === 0 ? NaN : Math.max(...used.map(r => r.latencyMs.max)),
      light: scenario === 'mixed' ? cls('light') : null,
      heavy: scenario === 'mixed' ? cls('heavy') : null,
      cpuSPer1k: cpuPer1k.length === 0 ? null : median(cpuPer1k),
      serverCpuPct: cpuPct.length === 0 ? null : median(cpuPct),
      threads: perThread.length === 0 ? null : { main: role('main'), isolates: role('isolates'), other: role('other') },
      peakRssMB: rss.length === 0 ? null : Math.max(...rss) / 2 ** 20,
      errors: sum(ok.map(r => r.errors)),
      non2xx: sum(ok.map(r => r.non2xx)),
      unexpectedBody: sum(ok.map(r => r.unexpectedBody)),
      unfinished: sum(ok.map(r => r.unfinished)),
      failed: outcomes.filter((r): r is { failed: string } => 'failed' in r).map(r => r.failed),
      rpsVsBaseline: null,
      p99VsBaseline: null,
      lightP99VsBaseline: null,
      roundsRps: ok.map(r => Math.round(r.rps))
    })
  }
  const base = summaries.find(s => s.scenario === scenario && s.target === baseline)
  if (base !== undefined) {
    for (const s of summaries.filter(s => s.scenario === scenario)) {
      s.rpsVsBaseline = s.rps / base.rps
      s.p99VsBaseline = base.p99Ms > 0 ? s.p99Ms / base.p99Ms : null
      s.lightP99VsBaseline = s.light !== null && base.light !== null && base.light.p99Ms > 0 ? s.light.p99Ms / base.light.p99Ms : null
    }
  }
}

const get = (scenario: string, target: string): Summary | undefined =>
  summaries.find(s => s.scenario === scenario && s.target === target && !Number.isNaN(s.rps))

console.log(`\nmedians over ${rounds} round(s); ratios to ${baseline}; "!" = some rounds had errors (left out), ERR = every round had them\n`)
for (const scenario of scenarioNames) {
  const rows = summaries.filter(s => s.scenario === scenario)
  const mixed = scenario === 'mixed'
  console.log(`${scenario}: ${SCENARIOS[scenario]().description}`)
  printTable(
    ['target', 'req/s', 'vs base', 'p50 ms', 'p99 ms', 'p99 vs base', 'max ms',
      ...(mixed ? ['light p50', 'light p99', 'light p99 vs base', 'heavy p99'] : []),
      'cpu s/1k req', 'main µs/req usr+sys', 'isolates µs/req', 'wakes/req main', 'wakes/req isolates', 'peak RSS MB', 'errors', 'non-2xx', 'clean rounds', 'req/s per round'],
    rows.map(s => [
      `${s.target}${s.err ? ' ERR' : s.cleanRounds < s.rounds ? ' !' : ''}`,
      Number.isNaN(s.rps) ? 'failed' : fmt(s.rps, 0),
      ratio(s.rpsVsBaseline),
      fmt(s.p50Ms, 2),
      fmt(s.p99Ms, 2),
      ratio(s.p99VsBaseline),
      fmt(s.maxMs, 1),
      ...(mixed
        ? [s.light === null ? '–' : fmt(s.light.p50Ms, 2), s.light === null ? '–' : fmt(s.light.p99Ms, 2), ratio(s.lightP99VsBaseline), s.heavy === null ? '–' : fmt(s.heavy.p99Ms, 2)]
        : []),
      s.cpuSPer1k === null ? '?' : fmt(s.cpuSPer1k, 3),
      s.threads === null ? '?' : `${fmt(s.threads.main.userUs, 1)}+${fmt(s.threads.main.sysUs, 1)}`,
      s.threads === null || s.family === 'fastify' || s.family === 'cluster' || s.family === 'node-http' ? '–' : `${fmt(s.threads.isolates.userUs, 1)}+${fmt(s.threads.isolates.sysUs, 1)}`,
      s.threads === null ? '?' : fmt(s.threads.main.wakes, 3),
      s.threads === null || s.family === 'fastify' || s.family === 'cluster' || s.family === 'node-http' ? '–' : fmt(s.threads.isolates.wakes, 3),
      s.peakRssMB === null ? '?' : fmt(s.peakRssMB, 0),
      String(s.errors + s.unexpectedBody + s.unfinished + s.failed.length),
      String(s.non2xx),
      `${s.cleanRounds}/${s.rounds}`,
      s.roundsRps.map(r => fmt(r, 0)).join(' / ')
    ])
  )
  for (const s of rows) for (const f of s.failed) console.log(`  ! ${s.target}: ${f}`)
  console.log()
}

// ── typed vs untyped, paired by round ──────────────────────────────────────────────────────────

// The medians of two scenarios spread by 20–40 % from round to round on a shared machine, which
// hides a validation cost of a few percent. A scenario X-typed run beside X is compared per
// round instead, each target with itself in that round (measured minutes apart at most), and
// the median of those per-round ratios is reported: drift common to both runs cancels out.
interface Paired { scenario: string, target: string, rpsRatios: number[], cpuRatios: number[], rpsRatio: number, cpuRatio: number }
const paired: Paired[] = []
for (const typed of scenarioNames.filter(s => s.endsWith('-typed') && scenarioNames.includes(s.slice(0, -'-typed'.length)))) {
  const plain = typed.slice(0, -'-typed'.length)
  for (const t of targets) {
    const rpsRatios: number[] = []
    const cpuRatios: number[] = []
    for (let i = 0; i < rounds; i++) {
      const a = results[plain][t.name][i]
      const b = results[typed][t.name][i]
      if (a === undefined || b === undefined || 'failed' in a || 'failed' in b || problems(a) !== '' || problems(b) !== '') continue
      rpsRatios.push(b.rps / a.rps)
      if (a.cpuSPer1k !== null && b.cpuSPer1k !== null) cpuRatios.push(b.cpuSPer1k / a.cpuSPer1k)
    }
    paired.push({ scenario: typed, target: t.name, rpsRatios, cpuRatios, rpsRatio: median(rpsRatios), cpuRatio: median(cpuRatios) })
  }
}
if (paired.length > 0) {
  console.log('typed / untyped, the same target in the same round (median of the rounds; req/s below 1 and cpu above 1 are the cost of validation)')
  printTable(
    ['scenario', 'target', 'req/s typed/untyped', 'cpu s/1k typed/untyped', 'req/s ratio per round'],
    paired.map(p => [p.scenario, p.target, fmt(p.rpsRatio, 3), fmt(p.cpuRatio, 3), p.rpsRatios.map(r => r.toFixed(3)).join(' / ')])
  )
  console.log()
}

// ── services: each set against its target with every service off, paired by round ─────────────

// A service costs a few percent, less than the spread of one target's rounds on a shared machine:
// as for typed routes, each set is compared with its target's `off` in the same round, and the
// median of those per-round ratios is its cost. CPU per request is the second measure: on 2 cores
// the load generator takes most of one, so req/s may be capped by the machine while the server's
// CPU per request still shows what a service adds.
/** The scenarios the issue's limits are read in: `hello` as it is and as a browser sends it.
 * json-16k has none: there compression does real work, which is what its row shows. */
const SERVICE_GOAL_SCENARIOS = new Set(['hello', 'hello-browser'])
interface ServiceRow {
  scenario: string
  target: string
  /** The target with every service off that this row is compared with. */
  off: string
  services: string
  rps: number
  offRps: number
  /** Median req/s over off's median req/s. */
  rpsVsOff: number
  /** Per round: req/s over off's in the same round (rounds where both were clean), and their median. */
  rpsRatios: number[]
  rpsPaired: number
  /** CPU seconds per 1,000 requests, and the median per-round ratio to off's. */
  cpuSPer1k: number | null
  cpuPaired: number
  /** 1 − rpsPaired: the share of req/s the set costs. */
  cost: number
  /** The cost allowed (isopool's rows in SERVICE_GOAL_SCENARIOS), else null. */
  limit: number | null
  /** 2xx answers by Content-Encoding, over the clean rounds. */
  encodings: Record<string, number>
}
const serviceRows: ServiceRow[] = []
for (const scenario of scenarioNames) {
  for (const t of targets) {
    if (t.services === null || t.services === 'off') continue
    const off = targets.find(o => o.base === t.base && o.services === 'off')
    const a = get(scenario, t.name)
    const b = off === undefined ? undefined : get(scenario, off.name)
    if (off === undefined || a === undefined || b === undefined) continue
    const rpsRatios: number[] = []
    const cpuRatios: number[] = []
    const encodings: Record<string, number> = {}
    for (let i = 0; i < rounds; i++) {
      const x = results[scenario][t.name][i]
      const y = results[scenario][off.name][i]
      if (x === undefined || y === undefined || 'failed' in x || 'failed' in y || problems(x) !== '' || problems(y) !== '') continue
      rpsRatios.push(x.rps / y.rps)
      if (x.cpuSPer1k !== null && y.cpuSPer1k !== null) cpuRatios.push(x.cpuSPer1k / y.cpuSPer1k)
      for (const [enc, n] of Object.entries(x.encodings)) encodings[enc] = (encodings[enc] ?? 0) + n
    }
    const rpsPaired = median(rpsRatios)
    serviceRows.push({
      scenario,
      target: t.name,
      off: off.name,
      services: t.services,
      rps: a.rps,
      offRps: b.rps,
      rpsVsOff: a.rps / b.rps,
      rpsRatios,
      rpsPaired,
      cpuSPer1k: a.cpuSPer1k,
      cpuPaired: median(cpuRatios),
      cost: 1 - rpsPaired,
      limit: t.family === 'isopool' && SERVICE_GOAL_SCENARIOS.has(scenario) ? costLimit(parseServiceSet(t.services) ?? []) : null,
      encodings
    })
  }
}
if (serviceRows.length > 0) {
  console.log('services: each set against its target with every service off (req/s and cpu s/1k paired by round: the median of the per-round ratios)')
  for (const scenario of scenarioNames) {
    const rows = serviceRows.filter(r => r.scenario === scenario)
    if (rows.length === 0) continue
    console.log(`${scenario}${SERVICE_GOAL_SCENARIOS.has(scenario) ? '' : ' (no limit here: compression does its work)'}`)
    printTable(
      ['target', 'req/s', 'off req/s', 'vs off', 'vs off paired', 'cost', 'limit', 'goal', 'cpu s/1k', 'cpu vs off paired', 'encodings', 'req/s ratio per round'],
      rows.map(r => [
        r.target,
        fmt(r.rps, 0),
        fmt(r.offRps, 0),
        ratio(r.rpsVsOff),
        ratio(r.rpsPaired),
        Number.isNaN(r.cost) ? '–' : `${(r.cost * 100).toFixed(1)} %`,
        r.limit === null ? '–' : `${r.limit * 100} %`,
        r.limit === null || Number.isNaN(r.cost) ? '–' : r.cost <= r.limit ? 'met' : 'MISSED',
        r.cpuSPer1k === null ? '?' : fmt(r.cpuSPer1k, 3),
        ratio(r.cpuPaired),
        encodingShares(r.encodings),
        r.rpsRatios.map(x => x.toFixed(3)).join(' / ')
      ])
    )
    console.log()
  }
}

// ── goals of the benchmark-harness issue ───────────────────────────────────────────────────────

interface Goal {
  goal: string
  status: 'met' | 'missed' | 'n/a'
  detail: string
}
const goals: Goal[] = []
function goal (name: string, value: number | null, op: '>=' | '<=', bound: number, detail: string): void {
  if (value === null || Number.isNaN(value)) {
    goals.push({ goal: name, status: 'n/a', detail: `${detail} (not measured in this run)` })
    return
  }
  const met = op === '>=' ? value >= bound : value <= bound
  goals.push({ goal: name, status: met ? 'met' : 'missed', detail: `${value.toFixed(2)}× ${op} ${bound}×  ${detail}` })
}
const div = (a: number | undefined | null, b: number | undefined | null): number | null =>
  a === undefined || a === null || b === undefined || b === null || b === 0 ? null : a / b
{
  const iso = get('hello', 'isopool-1')
  const fy = get('hello', 'fastify')
  goal('hello: isopool-1 req/s ≥ 1.0× fastify', div(iso?.rps, fy?.rps), '>=', 1.0, `(${fmtN(iso?.rps)} vs ${fmtN(fy?.rps)} req/s)`)
  goal('hello: isopool-1 p99 no worse than fastify', div(iso?.p99Ms, fy?.p99Ms), '<=', 1.0, `(${fmtMs(iso?.p99Ms)} vs ${fmtMs(fy?.p99Ms)})`)
  const isoSizes = targets.filter(t => t.family === 'isopool' && t.services === null).map(t => t.name)
  for (const name of isoSizes.length === 0 ? ['isopool-1'] : isoSizes) {
    const a = get('async', name)
    const h = get('hello', name)
    goal(`async: ${name} async ≥ 0.95× sync`, div(a?.rps, h?.rps), '>=', 0.95, `(${fmtN(a?.rps)} vs ${fmtN(h?.rps)} req/s)`)
  }
  const c2 = get('cpu', 'isopool-2')
  const cl2 = get('cpu', 'cluster-2')
  const fp2 = get('cpu', 'fastify-piscina-2')
  goal('cpu: isopool-2 ≥ 0.9× cluster-2', div(c2?.rps, cl2?.rps), '>=', 0.9, `(${fmtN(c2?.rps)} vs ${fmtN(cl2?.rps)} req/s)`)
  goal('cpu: isopool-2 ≥ 1.1× fastify-piscina-2', div(c2?.rps, fp2?.rps), '>=', 1.1, `(${fmtN(c2?.rps)} vs ${fmtN(fp2?.rps)} req/s)`)
  const mf = get('mixed', 'fastify')
  for (const name of isoSizes.length === 0 ? ['isopool-1'] : isoSizes) {
    const mi = get('mixed', name)
    const size = name.slice('isopool-'.length)
    const mc = get('mixed', `cluster-${size}`) ?? get('mixed', `cluster-${peerSize}`)
    goal(`mixed: ${name} light p99 ≤ 0.5× fastify`, div(mi?.light?.p99Ms, mf?.light?.p99Ms), '<=', 0.5, `(${fmtMs(mi?.light?.p99Ms)} vs ${fmtMs(mf?.light?.p99Ms)})`)
    goal(`mixed: ${name} light p99 ≤ 0.5× ${mc?.target ?? 'cluster'}`, div(mi?.light?.p99Ms, mc?.light?.p99Ms), '<=', 0.5, `(${fmtMs(mi?.light?.p99Ms)} vs ${fmtMs(mc?.light?.p99Ms)})`)
  }
  // Issue #12: light routes at Fastify's cost, and heavy requests' fair share in mixed.
  // Every 2-isolate target: isopool-2 and its placement policies (isopool-2@warm, …).
  const iso2 = targets.filter(t => t.family === 'isopool' && t.size === 2 && t.services === null).map(t => t.name)
  for (const name of iso2.length === 0 ? ['isopool-2'] : iso2) {
    for (const scenario of ['params', 'sqlite', 'echo-1k']) {
      const iso = get(scenario, name)
      const cl = get(scenario, 'cluster-2')
      const fy = get(scenario, 'fastify')
      goal(`${scenario}: ${name} req/s ≥ 1.0× cluster-2`, div(iso?.rps, cl?.rps), '>=', 1.0, `(${fmtN(iso?.rps)} vs ${fmtN(cl?.rps)} req/s)`)
      goal(`${scenario}: ${name} cpu/req ≤ 1.1× fastify`, div(iso?.cpuSPer1k, fy?.cpuSPer1k), '<=', 1.1, `(${iso?.cpuSPer1k?.toFixed(3) ?? '?'} vs ${fy?.cpuSPer1k?.toFixed(3) ?? '?'} cpu s/1k req)`)
    }
    const mi = get('mixed', name)
    const mc = get('mixed', 'cluster-2')
    goal(`mixed: ${name} heavy p99 ≤ 1.5× cluster-2`, div(mi?.heavy?.p99Ms, mc?.heavy?.p99Ms), '<=', 1.5, `(${fmtMs(mi?.heavy?.p99Ms)} vs ${fmtMs(mc?.heavy?.p99Ms)})`)
  }
  // The micro-benchmark's goal, from its latest results (npm run bench:micro).
  const microFile = new URL('results/micro-ring.json', import.meta.url)
  let micro: number | null = null
  let microDetail = '(run npm run bench:micro)'
  if (existsSync(microFile)) {
    try {
      const m = JSON.parse(readFileSync(microFile, 'utf8')) as { date: string, pollMicros?: number, results: { payloadBytes: number, inFlight: number, ring: { opsPerSec: number }, piscina?: { opsPerSec: number } }[] }
      const r = m.results.find(r => r.payloadBytes === 64 && r.inFlight === 1 && r.piscina !== undefined)
      const b = m.results.find(r => r.payloadBytes === 64 && r.inFlight > 1 && r.piscina !== undefined)
      if (r !== undefined && r.piscina !== undefined) {
        micro = r.ring.opsPerSec / r.piscina.opsPerSec
        // The ring column is the worker polling pollMicros µs before it sleeps (bench/micro/ring.ts).
        microDetail = `(64 B one in flight, worker polling ${m.pollMicros ?? 0} µs: ${fmtN(r.ring.opsPerSec)} vs ${fmtN(r.piscina.opsPerSec)} rt/s` +
          (b?.piscina === undefined ? '' : `; burst of ${b.inFlight}: ${(b.ring.opsPerSec / b.piscina.opsPerSec).toFixed(2)}×`) +
          `; bench:micro of ${m.date.slice(0, 16)})`
      }
    } catch {}
  }
  goal('micro: ring ≥ 5× piscina.run at 64 B (sequential)', micro, '>=', 5, microDetail)
}
// Issue #16: each service ≤ 5 % of hello's req/s, all together ≤ 15 %.
for (const r of serviceRows) {
  if (r.limit === null) continue
  goal(`services: ${r.scenario} ${r.target} costs ≤ ${r.limit * 100} %`, Number.isNaN(r.rpsPaired) ? null : r.rpsPaired, '>=', 1 - r.limit,
    `(paired by round vs ${r.off}; ${fmtN(r.rps)} vs ${fmtN(r.offRps)} req/s, cpu per request ${ratio(r.cpuPaired)})`)
}
console.log('goals (benchmark-harness issue, #12 and #16; one noisy run, not an assertion):')
const goalWidth = Math.max(52, ...goals.map(g => g.goal.length))
for (const g of goals) console.log(`  ${g.status === 'met' ? 'met    ' : g.status === 'missed' ? 'MISSED ' : 'n/a    '} ${g.goal.padEnd(goalWidth)} ${g.detail}`)

// ── output files ───────────────────────────────────────────────────────────────────────────────

mkdirSync(new URL('results/', import.meta.url), { recursive: true })
const date = new Date().toISOString()
const config = { scenarios: scenarioNames, targets: targets.map(t => t.name), isolates: isolateSizes, peerSize, baseline, duration, warmup, connections, pipelining, rounds, loader, loaders: Object.fromEntries(scenarioNames.map(s => [s, loaderFor(s)])) }
const jsonFile = new URL('results/e2e.json', import.meta.url)
writeFileSync(jsonFile, JSON.stringify({
  bench: 'e2e',
  date,
  commit: gitCommit(),
  machine: { ...machine, loadavgAtEnd: loadavg(), cpuWorkMs: cpuMs },
  config,
  summary: summaries,
  goals,
  paired,
  services: serviceRows,
  rounds: results
}, null, 2) + '\n')
const svgFile = new URL('results/e2e.svg', import.meta.url)
// A target with services is drawn as a reference line beside the others, not on isopool's line
// over pool sizes (which would join its sets as if they were sizes).
const chartPoints = summaries.map(s => s.services === null ? s : { ...s, family: `${s.family}+services` })
writeFileSync(svgFile, chartSvg(chartPoints, scenarioNames, `isopool bench ${date.slice(0, 10)} · ${machine.cpus} cpus · node ${machine.node} · ${rounds} round(s) × ${duration} s · ${connections} conns`))
console.log(`\nwrote ${fileURLToPath(jsonFile)}\nwrote ${fileURLToPath(svgFile)}`)

// ── helpers ────────────────────────────────────────────────────────────────────────────────────

function sum (xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0)
}

function fmt (n: number, digits: number): string {
  if (Number.isNaN(n)) return '–'
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
}

function fmtN (n: number | undefined): string {
  return n === undefined ? '?' : fmt(n, 0)
}

function fmtMs (n: number | undefined): string {
  return n === undefined ? '?' : `${fmt(n, 2)} ms`
}

function ratio (r: number | null): string {
  return r === null || Number.isNaN(r) ? '–' : `${r.toFixed(2)}×`
}

/** `br 100 %`, `identity 40 %, gzip 60 %`: the encodings answers came in, by share. */
function encodingShares (counts: Record<string, number>): string {
  const total = sum(Object.values(counts))
  if (total === 0) return '–'
  return Object.entries(counts).sort((a, b) => b[1] - a[1]).map(([enc, n]) => `${enc} ${Math.round(n / total * 100)} %`).join(', ')
}

function clock (s: number): string {
  s = Math.max(0, Math.round(s))
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`
}





