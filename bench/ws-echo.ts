// The ws-echo benchmark: WebSocket echo messages/s, isopool against Fastify + @fastify/websocket.
//
//   isopool-ws-N   isopool, one WebSocket route, N isolates      targets/isopool-ws.ts
//   fastify-ws     Fastify 5 + @fastify/websocket, one loop       targets/fastify-ws.ts
//
// Each target runs as its own child process, started fresh for each measurement; the load is
// another child process (bench/ws-load.ts: `--connections` clients, each sending a small message
// and waiting for its echo). Rounds take the targets in turn (A B C A B C …) so that drift on a
// noisy machine hits all alike; we report per target the MEDIAN over rounds of messages/s, the
// target's CPU time per message (every thread of its process, from /proc, over the counted
// window), the echo's latency, and the ratio of messages/s to fastify-ws.
// Run: node bench/ws-echo.ts [--rounds 3] [--connections 100] [--duration 5] [--isolates 1,2]

import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { failWith, gitCommit, integerOption, printTable } from './cli.ts'
import { processTree, treeCpuS } from './proc.ts'
import { median } from './stats.ts'

const benchDir = fileURLToPath(new URL('.', import.meta.url))
const fail = failWith(1)
const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '100' },
    duration: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    size: { type: 'string', default: '32' },
    isolates: { type: 'string', default: '1,2' },
    help: { type: 'boolean', default: false }
  }
})
if (values.help) {
  console.log('Usage: node bench/ws-echo.ts [--rounds 3] [--connections 100] [--duration 5] [--warmup 1] [--size 32] [--isolates 1,2]')
  process.exit(0)
}
const rounds = integerOption(fail, '--rounds', values.rounds)
const sizes = values.isolates.split(',').map(n => integerOption(fail, '--isolates', n))
const targets = [
  ...sizes.map(n => ({ name: `isopool-ws-${n}`, file: 'targets/isopool-ws.ts', args: ['--isolates', String(n)] })),
  { name: 'fastify-ws', file: 'targets/fastify-ws.ts', args: [] as string[] }
]

function node (file: string, args: string[]): ChildProcess {
  return spawn(process.execPath, [file, ...args], { cwd: benchDir, stdio: ['ignore', 'pipe', 'inherit'] })
}

function lines (child: ChildProcess): AsyncIterator<string> {
  return createInterface({ input: child.stdout! })[Symbol.asyncIterator]()
}

interface Measurement { rate: number, cpuPerMessage: number, p50: number, p99: number, errors: number }

async function measure (target: typeof targets[number]): Promise<Measurement> {
  const child = node(target.file, target.args)
  const out = lines(child)
  const first = await out.next()
  if (first.done === true) throw new Error(`${target.name} exited before it was ready`)
  const { port, pid } = JSON.parse(first.value) as { port: number, pid: number }
  try {
    const load = node('ws-load.ts', ['--url', `ws://127.0.0.1:${port}/ws`, '--connections', values.connections, '--duration', values.duration, '--warmup', values.warmup, '--size', values.size, '--signal'])
    const loadOut = lines(load)
    const tree = processTree(pid)
    // The load says when it starts counting, and its result when it stops: CPU in between.
    const counting = await loadOut.next()
    if (counting.done === true || counting.value !== 'counting') throw new Error(`ws-load: ${counting.value ?? 'exited'}`)
    const cpu0 = treeCpuS(tree)
    const result = await loadOut.next()
    const cpu1 = treeCpuS(processTree(pid))
    if (result.done === true) throw new Error('ws-load exited without a result')
    const r = JSON.parse(result.value) as { messages: number, rate: number, errors: number, p50: number, p99: number }
    return { rate: r.rate, cpuPerMessage: (cpu1 - cpu0) * 1e6 / Math.max(1, r.messages), p50: r.p50, p99: r.p99, errors: r.errors }
  } finally {
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
    if (child.exitCode === null) await new Promise(resolve => child.once('exit', resolve))
    clearTimeout(timer)
  }
}

const load0 = loadavg()
const results = new Map<string, Measurement[]>(targets.map(t => [t.name, []]))
for (let round = 1; round <= rounds; round++) {
  for (const t of targets) {
    const m = await measure(t)
    results.get(t.name)!.push(m)
    console.error(`round ${round}/${rounds} ${t.name}: ${Math.round(m.rate)} msg/s, ${m.cpuPerMessage.toFixed(1)} µs CPU/msg${m.errors > 0 ? `, ${m.errors} errors` : ''}`)
  }
}
const load1 = loadavg()
const base = median(results.get('fastify-ws')!.map(m => m.rate))
const rows = targets.map(t => {
  const ms = results.get(t.name)!
  const rate = median(ms.map(m => m.rate))
  return [t.name, String(Math.round(rate)), (rate / base).toFixed(2), median(ms.map(m => m.cpuPerMessage)).toFixed(1), median(ms.map(m => m.p50)).toFixed(2), median(ms.map(m => m.p99)).toFixed(2), String(ms.reduce((n, m) => n + m.errors, 0))]
})
console.log(`ws-echo: ${values.connections} connections, ${values.size}-byte text messages, ${values.duration} s per measurement, median of ${rounds} rounds; load average ${load0.map(x => x.toFixed(2)).join(' ')} → ${load1.map(x => x.toFixed(2)).join(' ')}`)
printTable(['target', 'msg/s', 'vs fastify-ws', 'CPU µs/msg', 'p50 ms', 'p99 ms', 'errors'], rows)
mkdirSync(new URL('results/', import.meta.url), { recursive: true })
writeFileSync(new URL('results/ws-echo.json', import.meta.url), JSON.stringify({ commit: gitCommit(benchDir), connections: Number(values.connections), size: Number(values.size), rounds, loadavg: [load0, load1], results: Object.fromEntries(results) }, null, 2) + '\n')
