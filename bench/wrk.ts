// `--loader wrk`: drive a scenario with wrk (https://github.com/wg/wrk) instead of bench/load.ts,
// when wrk is installed. wrk's C event loop needs less CPU than undici for the same load, which
// matters on a small machine. What it cannot do: check response bodies, or split latency by
// request class (mixed reports all requests together). CPU and memory of the target are read
// from /proc around the measured run, as load.ts does.

import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Latency, LoadResult } from './load.ts'
import { processTree, RssSampler, threadCosts, threadSamples, treeCpuS } from './proc.ts'
import type { Scenario } from './scenarios.ts'

export function wrkAvailable (): boolean {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' })
    return true
  } catch (err) {
    // wrk --version exits 1 after printing its version; only a missing binary is ENOENT.
    return (err as { code?: string }).code !== 'ENOENT'
  }
}

/** A Lua script that cycles through the scenario's mix on every connection. */
function script (s: Scenario): string {
  const lua = (x: string): string => `[==[${x}]==]`
  const headers = (r: Scenario['requests'][number]): string => {
    const all = { ...r.headers, ...(r.body === undefined ? {} : { 'content-type': 'application/json' }) }
    return `{${Object.entries(all).map(([name, value]) => `[${lua(name)}]=${lua(value)}`).join(',')}}`
  }
  const reqs = s.requests.map(r => `wrk.format(${lua(r.method)}, ${lua(r.path)}, ${headers(r)}, ${r.body === undefined ? 'nil' : lua(r.body)})`)
  // The requests are formatted in init(), not when the script loads: wrk.host is not set yet at
  // load time, so wrk.format would leave out the Host header and every server answers 400.
  return `local reqs
local mix = { ${s.mix.map(i => i + 1).join(', ')} }
local k = 0
function init(args)
  reqs = { ${reqs.join(',\n')} }
  k = math.random(#mix)
end
function request()
  k = k % #mix + 1
  return reqs[mix[k]]
end
`
}

function run (args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (c: string) => { out += c })
    child.once('error', reject)
    child.once('exit', code => code === 0 ? resolve(out) : reject(new Error(`wrk exited with code ${code}`)))
  })
}

/** "1.23ms" / "456.00us" / "1.02s" → ms */
function toMs (v: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(v.trim())
  if (m === null) return NaN
  const n = Number(m[1])
  return m[2] === 'us' ? n / 1000 : m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : n * 60_000
}

export async function runWrk (o: { scenario: Scenario, port: number, pid: number, connections: number, duration: number, warmup: number }): Promise<LoadResult> {
  const dir = mkdtempSync(join(tmpdir(), 'isopool-wrk-'))
  const file = join(dir, 'scenario.lua')
  writeFileSync(file, script(o.scenario))
  const url = `http://127.0.0.1:${o.port}`
  const base = ['-t', '1', '-c', String(o.connections), '-s', file]
  try {
    if (o.warmup > 0) await run([...base, '-d', `${o.warmup}s`, url])
    const tree = processTree(o.pid)
    const rss = new RssSampler(tree)
    const cpu0 = treeCpuS(tree)
    const threads0 = threadSamples(tree)
    const out = await run([...base, '-d', `${o.duration}s`, '--latency', url])
    const cpuS = treeCpuS(tree) - cpu0
    const threads1 = threadSamples(tree)
    const peak = rss.stop()
    const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0)
    const lat = /Latency\s+(\S+)\s+(\S+)\s+(\S+)/.exec(out)
    const pct = (p: string): number => toMs(new RegExp(`^\\s*${p}%\\s+(\\S+)`, 'm').exec(out)?.[1] ?? '')
    const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)
    const errors = sock === null ? 0 : sock.slice(1).reduce((a, b) => a + Number(b), 0)
    const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0)
    const latency: Latency = {
      min: NaN,
      mean: lat === null ? NaN : toMs(lat[1]),
      p50: pct('50'),
      p90: pct('90'),
      p99: pct('99'),
      p999: NaN,
      max: lat === null ? NaN : toMs(lat[3])
    }
    return {
      url,
      scenario: o.scenario.name,
      connections: o.connections,
      pipelining: 1,
      durationS: o.duration,
      warmupS: o.warmup,
      requests,
      rps: requests / o.duration,
      errors,
      errorCodes: sock === null ? {} : { connect: Number(sock[1]), read: Number(sock[2]), write: Number(sock[3]), timeout: Number(sock[4]) },
      non2xx,
      statusCodes: {},
      unexpectedBody: 0,
      encodings: {},
      unfinished: 0,
      latencyMs: latency,
      classes: {},
      serverCpuS: cpuS,
      serverCpuPct: cpuS / o.duration * 100,
      cpuSPer1k: requests === 0 ? null : cpuS / requests * 1000,
      threads: threadCosts(threads0, threads1, requests),
      peakRssBytes: peak,
      serverProcesses: tree.length,
      loadCpuPct: NaN
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
