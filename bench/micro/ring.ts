// Micro-benchmark: one request/response ROUND TRIP between the main thread and ONE worker thread,
//
//   (a) over isopool's ring pair: a request ring main → worker and a response ring worker → main
//       (src/shared/ring.ts + the frame codec of src/shared/frame.ts), woken with
//       Atomics.notify / Atomics.waitAsync, each side draining every ready frame per wake-up;
//   (b) over MessagePort.postMessage, the worker posting each message back;
//   (c) through piscina.run, a pool of ONE thread (echo-piscina.ts), with piscina's defaults as
//       its docs show them: what a Fastify app that offloads a handler pays per call.
//
// Payloads:
//   head    ~200 bytes of latin1 text, like an HTTP request head: the text of a REQ_HEAD frame
//           vs. a string posted
//   64 B, 4 KiB, 64 KiB, 1 MiB  a Uint8Array body: the inline body of a one-frame REQ_HEAD (a
//           HEAD + BODY frames past half the ring, see ring-messages.ts) vs. a structured clone,
//           NOT a transfer (a server that sends bytes out of a pooled buffer cannot give it away)
// and two ways of driving them:
//   sequential  one round trip in flight: send, await the reply, repeat. Measures latency: every
//               round trip pays two wake-ups of a sleeping thread.
//   burst×N     N round trips in flight: send N, await all N replies. This is how the server uses
//               the rings under load: one wake-up drains every ready frame, so wake-ups amortize.
//
// Each side reads a body the way the server does (ring-messages.ts): the worker reads a one-frame
// body in place and answers from it, as an isolate lends it to a synchronous handler; the main
// thread copies each response body into one reused buffer, as it does on the way to the socket.
// The "ring, copying" column instead has both sides copy every body into a fresh buffer of their
// own, as a handler reading `req.body` pays and as the server did before it read in place; it is
// the same work as a structured clone. postMessage sends the bare payload with no envelope (a
// real dispatcher would add an id to match replies), the cheapest possible use of it. See
// echo-worker.ts for the other side.
//
// Both ring loops run under a WakeupGuard (ring-messages.ts): a wake-up that the ring loses is
// rescued after 10–20 ms and counted in the "lost wake-ups" column instead of hanging the run.
//
// piscina's default concurrentTasksPerWorker is 1: in a burst, its tasks wait in piscina's queue
// and reach the thread one at a time. That is piscina as documented, and is what is measured.
//
// Output: a table of round trips per second and the ratios ring / postMessage, ring / piscina, and
// bench/results/micro-ring.json. Run: npm run bench:micro [-- --time 2000 --warmup 500 --burst 64]

import { mkdirSync, writeFileSync } from 'node:fs'
import { availableParallelism, cpus, loadavg } from 'node:os'
import { parseArgs } from 'node:util'
import { MessageChannel, Worker } from 'node:worker_threads'
import { Piscina } from 'piscina'
import type { MessagePort } from 'node:worker_threads'
import { Bench } from 'tinybench'
import type { Task } from 'tinybench'
import { FRAME_HEADER, HEAD_PREFIX, KIND_REQ_HEAD } from '../../src/shared/frame.ts'
import { align8, createRingBuffer, RingConsumer, RingProducer } from '../../src/shared/ring.ts'
import type { EchoInit } from './echo-worker.ts'
import { MessageReader, sendMessage, WakeupGuard } from './ring-messages.ts'

const { values: args } = parseArgs({
  options: {
    time: { type: 'string', default: '2000' },
    warmup: { type: 'string', default: '500' },
    burst: { type: 'string', default: '64' },
    poll: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false }
  }
})
if (args.help) {
  console.log(`Usage: npm run bench:micro -- [--time ms] [--warmup ms] [--burst n]

Round trips/s between the main thread and one worker: isopool's SharedArrayBuffer ring pair
(bodies read in place as the server reads them, and copied out as \`req.body\` is) vs
MessagePort.postMessage vs piscina.run (one thread), for a ~200-byte head and 64 B, 4 KiB,
64 KiB and 1 MiB bodies, one in flight and a burst of n in flight (at most 16 MiB in flight).
Writes bench/results/micro-ring.json.

  --time ms     measured time per task (default 2000)
  --warmup ms   unmeasured warm-up per task (default 500)
  --burst n     round trips in flight in the burst mode (default 64)
  --poll µs     the worker's poll budget for the "ring" column (default 100, what
                createServer's poll: 'auto' gives where it polls: with a core to spare). The
                "ring, sleeping" column runs with 0, as 'auto' does with fewer cores; "ring,
                copying" with this budget.`)
  process.exit(0)
}
const TIME_MS = positive('time', args.time)
const WARMUP_MS = positive('warmup', args.warmup)
const BURST = positive('burst', args.burst)
/** The budget `poll: 'auto'` gives where it polls (src/main/options.ts). */
const POLL = args.poll === undefined ? 100 : nonNegative('poll', args.poll)

/** The server's default ring size (src/main/options.ts). */
const SERVER_RING_SIZE = 256 * 1024

// ── payloads ───────────────────────────────────────────────────────────────────────────────────

/** A REQ_HEAD text as the server builds it: method \0 url \0 raw header names and values. */
const HEAD_TEXT = [
  'GET', '/users/42?expand=profile&fields=name,email',
  'Host', '127.0.0.1:3000',
  'User-Agent', 'Mozilla/5.0 (X11; Linux x86_64) bench/1.0',
  'Accept', 'application/json',
  'Accept-Encoding', 'gzip, deflate, br',
  'Connection', 'keep-alive'
].join('\0')

function body (bytes: number): Uint8Array {
  const b = new Uint8Array(bytes)
  for (let i = 0; i < b.length; i++) b[i] = (i * 31 + 7) & 0xff
  return b
}

type Payload = string | Uint8Array

interface Case {
  name: string
  payload: Payload
  /** Round trips in flight per iteration. */
  inFlight: number
}

/** A burst keeps at most this many payload bytes in flight (1 MiB bodies: bursts of 16). */
const MAX_BURST_BYTES = 16 * 1024 * 1024

const PAYLOADS: [string, Payload][] = [
  ['head ~200 B', HEAD_TEXT],
  ['body 64 B', body(64)],
  ['body 4 KiB', body(4096)],
  ['body 64 KiB', body(64 * 1024)],
  ['body 1 MiB', body(1024 * 1024)]
]
const CASES: Case[] = PAYLOADS.flatMap(([name, payload]) => {
  const bytes = typeof payload === 'string' ? payload.length : payload.byteLength
  return [
    { name, payload, inFlight: 1 },
    { name, payload, inFlight: Math.max(2, Math.min(BURST, Math.floor(MAX_BURST_BYTES / bytes))) }
  ]
})

/**
 * Ring bytes one message can take at most: a HEAD frame (a string payload is its text, a body
 * goes inline) plus, when the body meets the end of the ring, a PAD or a second BODY frame header.
 */
function messageBytes (payload: Payload): number {
  const head = typeof payload === 'string' ? HEAD_PREFIX + payload.length : HEAD_PREFIX + payload.byteLength
  return align8(head) + FRAME_HEADER + 8
}

/**
 * The server's ring size, or more when a whole burst would not fit. Neither side then ever waits
 * for ring space, so the ring is measured as a transport without backpressure, as postMessage
 * (whose queue is unbounded) is. A small ring keeps the frames in cache, so we never go larger
 * than a case needs. Waiting for space is backpressure, the server's business: bench/run.ts.
 */
function ringSizeFor (c: Case): number {
  // A PAD at the wrap can waste up to one message's worth of space.
  const need = (c.inFlight + 1) * messageBytes(c.payload)
  let size = SERVER_RING_SIZE
  while (size < need) size *= 2
  return size
}

// ── the two transports to one worker ───────────────────────────────────────────────────────────

/** Result sink: the last payload received, so nothing the bench decodes is dead code. */
let received: Payload = ''

class Echo {
  readonly worker: Worker
  private readonly port: MessagePort
  private readonly requests: RingProducer
  private readonly responses: RingConsumer
  private readonly reader: MessageReader
  private readonly guard: WakeupGuard
  /** Lost wake-ups rescued on the main side [0] and on the worker side [1]. */
  private readonly lost = new Int32Array(new SharedArrayBuffer(8))
  private nextId = 1
  private closed = false
  /** Replies still expected in the current iteration, and how to tell the iteration they came. */
  private ringLeft = 0
  private ringDone: () => void = () => {}
  private portLeft = 0
  private portDone: () => void = () => {}
  /** Round trips completed so far; the watchdog checks it moves. */
  completed = 0

  /** `inPlace`: read bodies as the server does; else copy every body into a fresh buffer. */
  constructor (ringSize: number, poll: number, inPlace: boolean) {
    this.reader = new MessageReader(inPlace ? 'scratch' : 'copy')
    const requestRing = createRingBuffer(ringSize)
    const responseRing = createRingBuffer(ringSize)
    this.requests = new RingProducer(requestRing)
    // As the server does: a burst written in one go wakes the worker once, after it.
    this.requests.wakeWith(queueMicrotask)
    this.responses = new RingConsumer(responseRing)
    const { port1, port2 } = new MessageChannel()
    this.port = port1
    this.guard = new WakeupGuard(this.responses, this.lost.subarray(0, 1))
    const init: EchoInit = { requestRing, responseRing, port: port2, lostWakeups: this.lost.buffer as SharedArrayBuffer, poll, inPlace }
    this.worker = new Worker(new URL('./echo-worker.ts', import.meta.url), { workerData: init, transferList: [port2] })
    this.worker.on('error', (err) => { console.error('echo worker failed:', err); process.exit(1) })
    this.port.on('message', (msg: Payload) => {
      received = msg
      this.completed++
      if (--this.portLeft === 0) this.portDone()
    })
    void this.serveResponses()
  }

  /** (a) `n` round trips through the rings: write n messages, resolve when n replies were read. */
  ring (payload: Payload, n: number): Promise<void> {
    const done = new Promise<void>(resolve => { this.ringDone = resolve })
    this.ringLeft = n
    // A head travels as the text of a REQ_HEAD; a body as the body of a REQ_HEAD with no text.
    const text = typeof payload === 'string' ? payload : ''
    const body = typeof payload === 'string' ? null : payload
    for (let i = 0; i < n; i++) {
      const id = this.nextId
      this.nextId = (id + 1) >>> 0 || 1
      sendMessage(this.requests, KIND_REQ_HEAD, id, 0, 0, text, body)
    }
    return done
  }

  /** (b) `n` round trips through the MessagePort: post n messages, resolve when n came back. */
  postMessage (payload: Payload, n: number): Promise<void> {
    const done = new Promise<void>(resolve => { this.portDone = resolve })
    this.portLeft = n
    for (let i = 0; i < n; i++) this.port.postMessage(payload)
    return done
  }

  /** The main thread's response loop, shaped like IsolateHandle.serveResponses(). */
  private async serveResponses (): Promise<void> {
    // The worker handle keeps the event loop alive while we wait (waitAsync does not).
    while (!this.closed) {
      this.drainResponses()
      const wait = this.responses.waitForData()
      if (wait !== null) {
        this.guard.asleep()
        await wait
        this.guard.awake()
      }
    }
  }

  private drainResponses (): void {
    const ring = this.responses
    let pos: number
    while ((pos = ring.peek()) >= 0) {
      // Copies the body out (into the reused buffer, or a fresh one) before the space goes back.
      const msg = this.reader.read(ring, pos)
      ring.release()
      if (msg === null) continue
      received = msg.body ?? msg.text
      this.completed++
      if (--this.ringLeft === 0) this.ringDone()
    }
  }

  /** The rings' control words, for the watchdog's report (slot numbers as in src/shared/ring.ts). */
  state (): string {
    const ctl = (c: Int32Array): string => `HEAD=${c[0] >>> 0} ASLEEP=${c[1]} TAIL=${c[16] >>> 0} WAITING=${c[17]}`
    return `request ring:  ${ctl(this.requests.ctl)}\nresponse ring: ${ctl(this.responses.ctl)}\n` +
      `replies still expected: ring ${this.ringLeft}, postMessage ${this.portLeft}`
  }

  /** Lost wake-ups rescued so far, main side and worker side. */
  get lostWakeups (): { main: number, worker: number } {
    return { main: Atomics.load(this.lost, 0), worker: Atomics.load(this.lost, 1) }
  }

  async close (): Promise<void> {
    this.closed = true
    this.guard.stop()
    this.responses.interrupt()
    this.port.close()
    await this.worker.terminate()
  }
}

// ── run ────────────────────────────────────────────────────────────────────────────────────────

interface Measured {
  /** Round trips per second: inFlight × iterations / measured time. */
  opsPerSec: number
  /** Relative margin of error of the mean iteration time, in %. */
  rme: number
  /** Median time of one iteration (one round trip, or one whole burst), in µs. */
  p50us: number
  iterations: number
}

interface CaseResult {
  payload: string
  payloadBytes: number
  inFlight: number
  ringSize: number
  /** The ring with the worker polling POLL µs before it sleeps. */
  ring: Measured
  /** The ring with the worker sleeping as soon as it runs dry (poll 0). */
  ringSleeping: Measured
  /** The ring as `ring`, with both sides copying every body into a fresh buffer. */
  ringCopying: Measured
  postMessage: Measured
  piscina: Measured
  /** ring.opsPerSec / postMessage.opsPerSec */
  ratio: number
  /** ringCopying.opsPerSec / postMessage.opsPerSec */
  ratioCopying: number
  /** ring.opsPerSec / piscina.opsPerSec */
  ratioPiscina: number
  /**
   * Wake-ups of the ring loops that src/shared/ring.ts lost and WakeupGuard rescued during this
   * case (warm-up included); each cost a 10–20 ms stall that is in ring.opsPerSec.
   */
  lostWakeups: { main: number, worker: number }
}

function measured (task: Task, inFlight: number): Measured {
  const r = task.result
  if (r.state !== 'completed') {
    throw new Error(`task ${task.name} did not complete: ${r.state === 'errored' ? r.error.stack : r.state}`)
  }
  return { opsPerSec: inFlight * 1000 / r.period, rme: r.latency.rme, p50us: r.latency.p50 * 1000, iterations: r.latency.samplesCount }
}

/** piscina.run, n calls in flight; the last result goes to `received`. */
async function piscinaRun (pool: Piscina, payload: Payload, n: number): Promise<void> {
  if (n === 1) {
    received = await pool.run(payload) as Payload
    return
  }
  const calls: Promise<Payload>[] = []
  for (let i = 0; i < n; i++) calls.push(pool.run(payload) as Promise<Payload>)
  const all = await Promise.all(calls)
  received = all[n - 1]
}

/** Before measuring, make sure every transport really echoes the payload, byte for byte. */
async function check (echo: Echo, sleeper: Echo, copier: Echo, pool: Piscina, payload: Payload): Promise<void> {
  for (const via of ['ring', 'ringSleeping', 'ringCopying', 'postMessage', 'piscina'] as const) {
    received = ''
    if (via === 'piscina') await piscinaRun(pool, payload, 1)
    else if (via === 'ringSleeping') await sleeper.ring(payload, 1)
    else if (via === 'ringCopying') await copier.ring(payload, 1)
    else await echo[via](payload, 1)
    // (TypeScript would keep `received` narrowed to '' across the await; it was reassigned.)
    const got = received as Payload
    const same = typeof payload === 'string'
      ? got === payload
      : got instanceof Uint8Array && Buffer.compare(got, payload) === 0
    if (!same) throw new Error(`${via} did not echo the payload intact`)
  }
}

/** Fails the run loudly instead of hanging if round trips stop completing (a lost wake-up). */
function watchdog (echo: Echo, label: string): NodeJS.Timeout {
  let last = -1
  const timer = setInterval(() => {
    if (echo.completed === last) {
      console.error(`\nno round trip completed in 5 s during "${label}": a wake-up was lost; aborting`)
      console.error(echo.state())
      process.exit(2)
    }
    last = echo.completed
  }, 5000)
  timer.unref()
  return timer
}

async function runCase (c: Case): Promise<CaseResult> {
  const ringSize = ringSizeFor(c)
  const echo = new Echo(ringSize, POLL, true)
  const sleeper = new Echo(ringSize, 0, true)
  const copier = new Echo(ringSize, POLL, false)
  const label = `${c.name}, ${c.inFlight === 1 ? 'sequential' : `burst×${c.inFlight}`}`
  const dog = watchdog(echo, label)
  const dog2 = watchdog(sleeper, `${label}, sleeping`)
  const dog3 = watchdog(copier, `${label}, copying`)
  const pool = new Piscina({ filename: new URL('./echo-piscina.ts', import.meta.url).href, minThreads: 1, maxThreads: 1 })
  try {
    await check(echo, sleeper, copier, pool, c.payload)
    const bench = new Bench({ time: TIME_MS, warmupTime: WARMUP_MS, throws: true })
    // `async: true` is not decoration: without it tinybench calls each function once, unawaited,
    // to find out whether it returns a promise, which would put a stray burst in flight.
    bench.add('ring', () => echo.ring(c.payload, c.inFlight), { async: true })
    bench.add('ringSleeping', () => sleeper.ring(c.payload, c.inFlight), { async: true })
    bench.add('ringCopying', () => copier.ring(c.payload, c.inFlight), { async: true })
    bench.add('postMessage', () => echo.postMessage(c.payload, c.inFlight), { async: true })
    bench.add('piscina', () => piscinaRun(pool, c.payload, c.inFlight), { async: true })
    await bench.run()
    const ring = measured(bench.getTask('ring')!, c.inFlight)
    const ringSleeping = measured(bench.getTask('ringSleeping')!, c.inFlight)
    const ringCopying = measured(bench.getTask('ringCopying')!, c.inFlight)
    const pm = measured(bench.getTask('postMessage')!, c.inFlight)
    const pis = measured(bench.getTask('piscina')!, c.inFlight)
    return {
      payload: c.name,
      payloadBytes: typeof c.payload === 'string' ? c.payload.length : c.payload.byteLength,
      inFlight: c.inFlight,
      ringSize,
      ring,
      ringSleeping,
      ringCopying,
      postMessage: pm,
      piscina: pis,
      ratio: ring.opsPerSec / pm.opsPerSec,
      ratioCopying: ringCopying.opsPerSec / pm.opsPerSec,
      ratioPiscina: ring.opsPerSec / pis.opsPerSec,
      lostWakeups: {
        main: echo.lostWakeups.main + sleeper.lostWakeups.main + copier.lostWakeups.main,
        worker: echo.lostWakeups.worker + sleeper.lostWakeups.worker + copier.lostWakeups.worker
      }
    }
  } finally {
    clearInterval(dog)
    clearInterval(dog2)
    clearInterval(dog3)
    await echo.close()
    await sleeper.close()
    await copier.close()
    await pool.destroy()
  }
}

const results: CaseResult[] = []
console.log(`isopool micro: round trips main ⇄ 1 worker, ring pair vs MessagePort.postMessage vs piscina.run`)
console.log(`node ${process.version}, ${availableParallelism()} cpus (${cpus()[0]?.model ?? '?'}), load ${loadavg().map(l => l.toFixed(2)).join(' ')}`)
console.log(`per task: ${WARMUP_MS} ms warm-up + ${TIME_MS} ms measured; "ring": the worker polls ${POLL} µs before it sleeps, "ring, sleeping": 0; "ring, copying": bodies copied into fresh buffers on both sides\n`)
for (const c of CASES) {
  process.stdout.write(`  running ${c.name}, ${c.inFlight === 1 ? 'sequential' : `burst×${c.inFlight}`} …`)
  const r = await runCase(c)
  results.push(r)
  process.stdout.write(` done (ring ${formatOps(r.ring.opsPerSec)}/s, postMessage ${formatOps(r.postMessage.opsPerSec)}/s, piscina ${formatOps(r.piscina.opsPerSec)}/s)\n`)
  if (r.lostWakeups.main + r.lostWakeups.worker > 0) {
    console.log(`    ! ring loops lost ${r.lostWakeups.main} wake-up(s) on the main side and ${r.lostWakeups.worker} on the worker side`)
  }
}

console.log()
printTable(results)
console.log()
for (const r of results.filter(r => r.payloadBytes === 64)) {
  console.log(`goal ring ≥ 5× piscina.run at 64 B, ${r.inFlight === 1 ? 'sequential' : `burst×${r.inFlight}`}: ` +
    `${r.ratioPiscina.toFixed(2)}× — ${r.ratioPiscina >= 5 ? 'met' : 'MISSED'}`)
}

for (const r of results.filter(r => r.payload === 'head ~200 B' || r.payloadBytes === 64 * 1024)) {
  console.log(`goal ring ≥ 3× postMessage, ${r.payload}, ${r.inFlight === 1 ? 'sequential' : `burst×${r.inFlight}`}: ` +
    `${r.ratio.toFixed(2)}× — ${r.ratio >= 3 ? 'met' : 'MISSED'}`)
}

mkdirSync(new URL('../results/', import.meta.url), { recursive: true })
const out = new URL('../results/micro-ring.json', import.meta.url)
writeFileSync(out, JSON.stringify({
  bench: 'micro-ring',
  date: new Date().toISOString(),
  node: process.version,
  cpus: availableParallelism(),
  cpuModel: cpus()[0]?.model,
  loadavg: loadavg(),
  timeMs: TIME_MS,
  pollMicros: POLL,
  warmupMs: WARMUP_MS,
  unit: 'round trips per second',
  results
}, null, 2) + '\n')
console.log(`\nwrote ${out.pathname}`)

// ── helpers ────────────────────────────────────────────────────────────────────────────────────

function printTable (rows: CaseResult[]): void {
  const header = ['payload', 'in flight', 'ring rt/s', '±%', 'ring, sleeping', '±%', 'ring, copying', '±%', 'postMessage rt/s', '±%', 'piscina.run rt/s', '±%', 'ring/postMessage', 'copying/postMessage', 'ring/piscina', 'lost wake-ups']
  const body = rows.map(r => [
    r.payload,
    r.inFlight === 1 ? '1 (sequential)' : `${r.inFlight} (burst)`,
    formatOps(r.ring.opsPerSec), r.ring.rme.toFixed(1),
    formatOps(r.ringSleeping.opsPerSec), r.ringSleeping.rme.toFixed(1),
    formatOps(r.ringCopying.opsPerSec), r.ringCopying.rme.toFixed(1),
    formatOps(r.postMessage.opsPerSec), r.postMessage.rme.toFixed(1),
    formatOps(r.piscina.opsPerSec), r.piscina.rme.toFixed(1),
    `${r.ratio.toFixed(2)}×`,
    `${r.ratioCopying.toFixed(2)}×`,
    `${r.ratioPiscina.toFixed(2)}×`,
    `${r.lostWakeups.main + r.lostWakeups.worker}`
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...body.map(row => row[i].length)))
  const line = (cells: string[]): string => cells.map((cell, i) => i < 2 ? cell.padEnd(widths[i]) : cell.padStart(widths[i])).join('  ')
  console.log(line(header))
  console.log(widths.map(w => '─'.repeat(w)).join('  '))
  for (const row of body) console.log(line(row))
}

function formatOps (n: number): string {
  return Math.round(n).toLocaleString('en-US')
}

function positive (name: string, value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1) {
    console.error(`--${name} must be a positive integer, got ${value}`)
    process.exit(1)
  }
  return n
}

function nonNegative (name: string, value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0) {
    console.error(`--${name} must be a whole number ≥ 0, got ${value}`)
    process.exit(1)
  }
  return n
}
