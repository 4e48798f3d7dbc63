// The streaming bench's load generator (bench/streaming.ts), its own process so its CPU is not
// the server's. Prints one JSON object on stdout.
//
//   --mode sse       --clients N SSE clients on raw sockets (a chunked-body decoder of its own:
//                    undici's per-connection cost would make 10,000 clients the load
//                    generator's bottleneck), all connected before the measured window opens. For
//                    every tick stamped within the window: how many clients received it, when the
//                    first and the last did (latency from the tick's stamp: the server's clock,
//                    performance.timeOrigin + now(), which every process of the machine shares).
//                    A client that misses a tick of its source (a gap in seq) counts as lost.
//   --mode download  --clients C concurrent GET /download?mb=M through undici, bodies counted,
//                    repeated until the window is over; MB/s, and the server's CPU per MB.
//
// With --pid, the server's process tree's CPU seconds in the window and its peak RSS.
// Usage: node bench/streaming-load.ts --url http://127.0.0.1:PORT --mode sse|download [--clients n]
//          [--duration s] [--warmup s] [--mb n] [--pid n]

import { connect } from 'node:net'
import type { Socket } from 'node:net'
import { createHistogram } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { Agent, request } from 'undici'
import { processTree, RssSampler, treeCpuS } from './proc.ts'
import { MiB, now, TICK_MS } from './streaming-scenarios.ts'

export interface SseLoadResult {
  mode: 'sse'
  clients: number
  connected: number
  /** Clients that got a 200 and their first tick. */
  subscribed: number
  durationS: number
  tickMs: number
  /** Ticks stamped within the window, over all sources (a source: a process or an isolate). */
  ticks: number
  sources: number
  /** Ms from a tick's stamp to its LAST client, p50/p99/max over the ticks; and to its first. */
  lastMs: { p50: number, p99: number, max: number }
  firstMs: { p50: number, p99: number }
  /** Ticks a subscribed client should have had and did not: a gap in its seq, or never came
   * (within 10 s after the window). */
  lost: number
  gaps: number
  /** Socket errors; the statuses of the answers. */
  errors: number
  statuses: Record<string, number>
  serverCpuS: number | null
  /** Server CPU ms per tick period (TICK_MS), all sources together. */
  cpuMsPerTick: number | null
  peakRssBytes: number | null
  loadCpuPct: number
}

export interface DownloadLoadResult {
  mode: 'download'
  clients: number
  mb: number
  durationS: number
  /** Downloads completed in the window, and bytes received in it (partial ones too). */
  downloads: number
  bytes: number
  mbPerS: number
  /** Ms per whole download, median. */
  downloadMsP50: number
  errors: number
  serverCpuS: number | null
  cpuMsPerMb: number | null
  peakRssBytes: number | null
  loadCpuPct: number
}

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    mode: { type: 'string', default: 'sse' },
    clients: { type: 'string', default: '1000' },
    duration: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    mb: { type: 'string', default: '100' },
    pid: { type: 'string' }
  }
})
if (values.url === undefined || (values.mode !== 'sse' && values.mode !== 'download')) {
  console.error('usage: node bench/streaming-load.ts --url http://127.0.0.1:PORT --mode sse|download [--clients n] [--duration s] [--warmup s] [--mb n] [--pid n]')
  process.exit(1)
}
const url = new URL(values.url)
const clients = Number(values.clients)
const durationMs = Number(values.duration) * 1000
const warmupMs = Number(values.warmup) * 1000
const serverPid = values.pid === undefined ? null : Number(values.pid)
const tree = serverPid === null ? null : processTree(serverPid)

/** CPU of the server and of this process over `window()`; the server's peak RSS meanwhile. */
async function measured<T> (window: () => Promise<T>): Promise<{ value: T, serverCpuS: number | null, peakRssBytes: number | null, loadCpuPct: number, ms: number }> {
  const rss = tree === null ? null : new RssSampler(tree)
  const cpu0 = tree === null ? null : treeCpuS(tree)
  const own0 = process.cpuUsage()
  const t0 = performance.now()
  const value = await window()
  const ms = performance.now() - t0
  const cpu1 = tree === null ? null : treeCpuS(tree)
  const own = process.cpuUsage(own0)
  return { value, serverCpuS: cpu0 === null || cpu1 === null ? null : cpu1 - cpu0, peakRssBytes: rss?.stop() ?? null, loadCpuPct: (own.user + own.system) / 1e3 / ms * 100, ms }
}

const pct = (h: ReturnType<typeof createHistogram>, p: number): number => Math.round(h.percentile(p) / 1e3) / 1e3

// ── sse ────────────────────────────────────────────────────────────────────────────────────────

/** One SSE client on a raw socket: the response head, then a chunked body decoded as it comes,
 * every `data:` line handed to onData. */
class SseClient {
  readonly socket: Socket
  status = 0
  /** Its source and the last seq it had of it. */
  src = ''
  seq = 0
  private head = true
  private buf = ''
  /** Bytes of the current chunk still to come; -1: a size line is next. */
  private left = -1
  private text = ''
  constructor (onData: (c: SseClient, data: string) => void, onError: () => void) {
    this.socket = connect(Number(url.port), url.hostname)
    this.socket.setNoDelay(true)
    this.socket.setEncoding('latin1')
    this.socket.on('connect', () => this.socket.write(`GET /sse HTTP/1.1\r\nhost: ${url.host}\r\naccept: text/event-stream\r\n\r\n`))
    this.socket.on('error', onError)
    this.socket.on('data', (s: string) => {
      this.buf += s
      if (this.head) {
        const end = this.buf.indexOf('\r\n\r\n')
        if (end < 0) return
        this.status = Number(this.buf.slice(9, 12))
        this.buf = this.buf.slice(end + 4)
        this.head = false
      }
      // Chunked framing: size line, bytes, CRLF.
      for (;;) {
        if (this.left < 0) {
          const eol = this.buf.indexOf('\r\n')
          if (eol < 0) break
          this.left = parseInt(this.buf.slice(0, eol), 16)
          this.buf = this.buf.slice(eol + 2)
          if (this.left === 0) { this.socket.end(); return }
        }
        if (this.buf.length < this.left + 2) {
          break
        }
        this.text += this.buf.slice(0, this.left)
        this.buf = this.buf.slice(this.left + 2)
        this.left = -1
      }
      let i: number
      while ((i = this.text.indexOf('\n\n')) >= 0) {
        const event = this.text.slice(0, i)
        this.text = this.text.slice(i + 2)
        for (const line of event.split('\n')) if (line.startsWith('data: ')) onData(this, line.slice(6))
      }
    })
  }
}

async function runSse (): Promise<SseLoadResult> {
  interface Tick { t: number, count: number, first: number, last: number }
  const ticks = new Map<string, Tick>()
  const perSource = new Map<string, number>()
  let errors = 0
  let gaps = 0
  let windowFrom = Infinity
  let windowTo = Infinity
  const onData = (c: SseClient, data: string): void => {
    const at = now()
    const e = JSON.parse(data) as { src: string, seq: number, t: number }
    if (c.src === '') {
      c.src = e.src
      perSource.set(e.src, (perSource.get(e.src) ?? 0) + 1)
    } else if (e.seq !== c.seq + 1 && e.t >= windowFrom && e.t <= windowTo) {
      gaps += e.seq - c.seq - 1
    }
    c.seq = e.seq
    if (e.t < windowFrom || e.t > windowTo) return
    const key = `${e.src}:${e.seq}`
    let tick = ticks.get(key)
    if (tick === undefined) ticks.set(key, tick = { t: e.t, count: 0, first: at, last: at })
    tick.count++
    if (at > tick.last) tick.last = at
    if (at < tick.first) tick.first = at
  }
  const all: SseClient[] = []
  // Connect in batches: ten thousand SYNs at once overflow the listen backlog.
  for (let i = 0; i < clients; i += 500) {
    const batch: SseClient[] = []
    for (let j = i; j < Math.min(clients, i + 500); j++) batch.push(new SseClient(onData, () => { errors++ }))
    all.push(...batch)
    const deadline = performance.now() + 30_000
    while (batch.some(c => c.src === '' && !c.socket.destroyed) && performance.now() < deadline) await sleep(20)
  }
  // Everyone has had a tick: the window opens after the warm-up.
  await sleep(warmupMs)
  const m = await measured(async () => {
    windowFrom = now()
    windowTo = windowFrom + durationMs
    await sleep(durationMs)
  })
  // The ticks of the window are still on their way to some: wait for them (10 s at most).
  const complete = (): boolean => [...ticks].every(([key, tick]) => tick.count >= (perSource.get(key.slice(0, key.lastIndexOf(':'))) ?? 0))
  for (const until = performance.now() + 10_000; !complete() && performance.now() < until;) await sleep(50)
  let lost = gaps
  const last = createHistogram()
  const first = createHistogram()
  for (const [key, tick] of ticks) {
    last.record(Math.max(1, Math.round((tick.last - tick.t) * 1e6)))
    first.record(Math.max(1, Math.round((tick.first - tick.t) * 1e6)))
    const expected = perSource.get(key.slice(0, key.lastIndexOf(':'))) ?? 0
    if (tick.count < expected) lost += expected - tick.count
  }
  for (const c of all) c.socket.destroy()
  const periods = durationMs / TICK_MS
  return {
    mode: 'sse',
    clients,
    connected: all.filter(c => c.status !== 0).length,
    subscribed: all.filter(c => c.status === 200 && c.src !== '').length,
    durationS: durationMs / 1000,
    tickMs: TICK_MS,
    ticks: ticks.size,
    sources: perSource.size,
    lastMs: { p50: pct(last, 50), p99: pct(last, 99), max: Math.round(last.max / 1e3) / 1e3 },
    firstMs: { p50: pct(first, 50), p99: pct(first, 99) },
    lost,
    gaps,
    errors,
    statuses: all.reduce<Record<string, number>>((m, c) => { m[c.status] = (m[c.status] ?? 0) + 1; return m }, {}),
    serverCpuS: m.serverCpuS,
    cpuMsPerTick: m.serverCpuS === null ? null : m.serverCpuS * 1000 / periods,
    peakRssBytes: m.peakRssBytes,
    loadCpuPct: m.loadCpuPct
  }
}

// ── download ───────────────────────────────────────────────────────────────────────────────────

async function runDownload (): Promise<DownloadLoadResult> {
  const mb = Number(values.mb)
  const agent = new Agent({ connections: clients })
  let bytes = 0
  let counting = false
  let downloads = 0
  let errors = 0
  const times = createHistogram()
  let stop = false
  const one = async (): Promise<void> => {
    while (!stop) {
      const t0 = performance.now()
      try {
        const res = await request(`${url.origin}/download?mb=${mb}`, { dispatcher: agent })
        let got = 0
        for await (const chunk of res.body) {
          got += (chunk as Buffer).byteLength
          if (counting) bytes += (chunk as Buffer).byteLength
        }
        if (stop) return // cut off at the end of the run
        if (res.statusCode !== 200 || got !== mb * MiB) errors++
        else if (counting) {
          downloads++
          times.record(Math.max(1, Math.round((performance.now() - t0) * 1e6)))
        }
      } catch {
        if (stop) return
        errors++
        await sleep(10)
      }
    }
  }
  const loops = Array.from({ length: clients }, one)
  await sleep(warmupMs)
  const m = await measured(async () => {
    counting = true
    await sleep(durationMs)
    counting = false
  })
  stop = true
  await agent.destroy()
  await Promise.allSettled(loops)
  const totalMb = bytes / MiB
  return {
    mode: 'download',
    clients,
    mb,
    durationS: m.ms / 1000,
    downloads,
    bytes,
    mbPerS: totalMb / (m.ms / 1000),
    downloadMsP50: downloads === 0 ? NaN : pct(times, 50),
    errors,
    serverCpuS: m.serverCpuS,
    cpuMsPerMb: m.serverCpuS === null || totalMb === 0 ? null : m.serverCpuS * 1000 / totalMb,
    peakRssBytes: m.peakRssBytes,
    loadCpuPct: m.loadCpuPct
  }
}

const result = values.mode === 'sse' ? await runSse() : await runDownload()
process.stdout.write(JSON.stringify(result) + '\n')
process.exit(0)
