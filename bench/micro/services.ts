// What each production service (docs/services.md) costs a `hello` request in CPU, by thread,
// without a load generator competing for the cores and without the kernel's TCP work: the
// services run's sets (bench/service-sets.ts, the options of bench/targets/isopool-services.ts)
// each served by a server of its own with one isolate, driven in this process over in-memory
// keep-alive connections (a closed loop: each connection sends its next request when the answer
// to the last is whole, the way bench/load.ts's connections do). The e2e services run measures
// req/s on a host whose noise is larger than the 5 % it must resolve; CPU per request of one
// thread, with the sets interleaved round by round, is steadier.
//
// Reported per set, medians over the rounds: the main thread's CPU per request (user + system,
// process.threadCpuUsage; this driver's own work is in it, the same for every set), the other
// threads' (the isolate, V8's helpers, libuv's pool), and both against `off`.
// With --baseline DIR (another checkout of isopool, with node_modules: `git worktree add DIR REV`
// and a symlink to this one's node_modules will do), each set is also served by that checkout's
// code in the same process, rounds interleaved with this one's, and reported against it: what a
// change saves, with the host's drift paired away.
// Usage: node bench/micro/services.ts [--rounds N] [--requests N] [--connections N] [--sets off,all,...] [--baseline DIR]
import type { Socket } from 'node:net'
import { Duplex } from 'node:stream'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { createServer } from '../../src/index.ts'
import type { Server } from '../../src/index.ts'
import { parseServiceSet, serviceSets } from '../service-sets.ts'
import { isopoolServices } from '../targets/isopool-services.ts'
import { median } from '../stats.ts'

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    requests: { type: 'string', default: '20000' },
    connections: { type: 'string', default: '32' },
    sets: { type: 'string', default: 'each' },
    baseline: { type: 'string' }
  }
})
const ROUNDS = Number(values.rounds)
const REQUESTS = Number(values.requests)
const CONNECTIONS = Number(values.connections)
const SETS = values.sets.split(',').flatMap(s => {
  const sets = serviceSets(s)
  if (sets === null) throw new Error(`--sets: not a set of services: ${s}`)
  return sets
}).filter((s, i, all) => all.indexOf(s) === i) // `each,all` names all twice
if (!SETS.includes('off')) SETS.unshift('off')

// The head wrk sends for `hello`, as bench/micro/http1.ts uses.
const GET = Buffer.from('GET / HTTP/1.1\r\nHost: 127.0.0.1:3000\r\n\r\n')
const END = Buffer.from('{"hello":"world"}')

/** One client connection in memory. Its answers are counted by their size, learned from the
 * first (every answer of a set has the same length: ids are UUIDs, the limit's counts keep their
 * digits, the date its format). */
class Connection extends Duplex {
  size = 0
  private got = 0
  /** Bytes of an answer not yet whole (for run()'s watchdog). */
  get partial (): number { return this.got }
  private readonly loop: Loop
  constructor (loop: Loop) {
    super({ allowHalfOpen: true })
    this.loop = loop
  }

  override _read (): void {}
  override _destroy (err: Error | null, callback: (err?: Error | null) => void): void {
    this.loop.closed()
    callback(err)
  }
  override _write (chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.count(chunk)
    callback()
  }

  override _writev (chunks: { chunk: Buffer }[], callback: (err?: Error | null) => void): void {
    for (const c of chunks) this.count(c.chunk)
    callback()
  }

  private count (chunk: Buffer): void {
    this.got += chunk.byteLength
    if (this.size === 0) {
      // Learning: the answer is whole once its body has come (the calibration sends one).
      if (chunk.subarray(chunk.byteLength - END.byteLength).equals(END)) {
        this.size = this.got
        this.got = 0
        this.loop.answered(this)
      }
      return
    }
    while (this.got >= this.size) {
      this.got -= this.size
      this.loop.answered(this)
    }
  }
}

/** The closed loop over a server's connections: `n` requests, the next sent on a connection in
 * the turn after its answer came (as a socket's bytes would), never within the server's write. */
class Loop {
  private readonly conns: Connection[] = []
  private left = 0
  private pending = 0
  private toSend: Connection[] = []
  private scheduled = false
  private done: (() => void) | null = null
  private fail: ((err: Error) => void) | null = null

  private readonly server: Server
  private readonly set: string
  constructor (set: string, server: Server, connections: number) {
    this.set = set
    this.server = server
    // The HTTP layer's accept(), as server.request() uses it: what a TCP socket would reach.
    const http = (server as unknown as { http: { accept (s: Socket): void } }).http
    for (let i = 0; i < connections; i++) {
      const c = new Connection(this)
      http.accept(c as unknown as Socket)
      this.conns.push(c)
    }
  }

  /** Learn every connection's answer size with one request each. */
  async calibrate (): Promise<void> {
    await this.run(this.conns.length)
    const sizes = new Set(this.conns.map(c => c.size))
    if (sizes.size !== 1) throw new Error(`answers of one set differ in size: ${[...sizes].join(', ')}`)
  }

  /** Answers so far, for run()'s watchdog. */
  private answers = 0

  /** `n` requests; rejects, saying where it stands, when no answer came for 10 s (a run that
   * lost count must fail, not hang). */
  run (n: number): Promise<void> {
    this.left = n
    this.pending = 0
    let seen = -1
    let watch: NodeJS.Timeout
    return new Promise<void>((resolve, reject) => {
      this.done = () => { clearInterval(watch); this.fail = null; resolve() }
      this.fail = err => { clearInterval(watch); reject(err) }
      watch = setInterval(() => {
        if (this.answers !== seen) { seen = this.answers; return }
        clearInterval(watch)
        const got = this.conns.map(c => c.partial)
        reject(new Error(`${this.set}: no answer for 10 s: ${this.pending} pending, ${this.left} to send, answer sizes ${[...new Set(this.conns.map(c => c.size))].join(', ')}, ` +
          `bytes of a next answer ${Math.min(...got)}–${Math.max(...got)}; the server: ${this.server.inFlight} in flight, ${this.server.waiting} waiting, ${this.server.isolateCount} isolates, ${this.server.restarts} restarts`))
      }, 10_000)
      for (const c of this.conns) {
        if (this.left === 0) break
        this.left--
        this.pending++
        c.push(GET)
      }
    })
  }

  /** The server closed a connection: the run cannot go on (every answer counts). */
  closed (): void {
    this.fail?.(new Error(`${this.set}: the server closed a connection`))
  }

  answered (c: Connection): void {
    this.answers++
    this.pending--
    if (this.left > 0) {
      this.left--
      this.pending++
      this.toSend.push(c)
      if (!this.scheduled) {
        this.scheduled = true
        setImmediate(this.send)
      }
    } else if (this.pending === 0) {
      const done = this.done!
      this.done = null
      done()
    }
  }

  private readonly send = (): void => {
    this.scheduled = false
    const list = this.toSend
    this.toSend = []
    for (const c of list) c.push(GET)
  }
}

interface Sample { main: number, other: number }

async function measure (loop: Loop): Promise<Sample> {
  const t0 = process.threadCpuUsage()
  const p0 = process.cpuUsage()
  await loop.run(REQUESTS)
  const t = process.threadCpuUsage(t0)
  const p = process.cpuUsage(p0)
  const main = t.user + t.system
  return { main: main / REQUESTS, other: (p.user + p.system - main) / REQUESTS }
}

/** A checkout whose servers are measured: this one, and with --baseline another (its own
 * createServer and its own options for the sets, which may differ between versions). */
interface Tree {
  label: string
  createServer: typeof createServer
  isopoolServices: typeof isopoolServices
  root: string
}
const trees: Tree[] = [{ label: 'this', createServer, isopoolServices, root: new URL('../targets/', import.meta.url).pathname }]
if (values.baseline !== undefined) {
  const dir = resolve(values.baseline)
  const index = await import(pathToFileURL(join(dir, 'src/index.ts')).href) as { createServer: typeof createServer }
  const services = await import(pathToFileURL(join(dir, 'bench/targets/isopool-services.ts')).href) as { isopoolServices: typeof isopoolServices }
  trees.push({ label: 'baseline', createServer: index.createServer, isopoolServices: services.isopoolServices, root: join(dir, 'bench/targets/') })
}

const servers: { key: string, server: Server, loop: Loop }[] = []
for (const tree of trees) {
  for (const set of SETS) {
    const key = `${tree.label}:${set}`
    const server = tree.createServer({
      isolates: 1,
      root: tree.root,
      routes: [{ method: 'GET', path: '/', handler: './handlers.ts#hello' }],
      // A set's connections sit idle while the others are measured, longer than the default
      // 5 s: the server would close them then (which was the stall this tool once had).
      http: { keepAliveTimeout: 0 },
      ...tree.isopoolServices(parseServiceSet(set)!)
    })
    await server.listen({ port: 0, host: '127.0.0.1' })
    const loop = new Loop(key, server, CONNECTIONS)
    await loop.calibrate()
    await loop.run(REQUESTS / 4) // warm-up: the JIT, the isolate's handler
    servers.push({ key, server, loop })
  }
}

const samples = new Map<string, Sample[]>(servers.map(s => [s.key, []]))
for (let r = 0; r < ROUNDS; r++) {
  // In order in odd rounds, in reverse in even ones (as bench/run.ts): drift cancels.
  const order = r % 2 === 0 ? servers : [...servers].reverse()
  for (const s of order) samples.get(s.key)!.push(await measure(s.loop))
}
for (const s of servers) await s.server.close()

const sign = (v: number): string => (v >= 0 ? '+' : '') + v.toFixed(2)
console.log(`node ${process.version}; ${ROUNDS} rounds × ${REQUESTS} requests, ${CONNECTIONS} connections; CPU µs a request, medians (main thread: paired with off by round)`)
for (const tree of trees) {
  if (trees.length > 1) console.log(`\n${tree.label}${tree.label === 'baseline' ? ` (${values.baseline})` : ''}`)
  console.log(`${'set'.padEnd(14)} ${'main'.padStart(7)} ${'vs off'.padStart(7)} ${'others'.padStart(7)} ${'vs off'.padStart(7)}  ${'total vs off'.padStart(12)}`)
  const off = samples.get(`${tree.label}:off`)!
  for (const set of SETS) {
    const xs = samples.get(`${tree.label}:${set}`)!
    const main = median(xs.map(x => x.main))
    const other = median(xs.map(x => x.other))
    const dMain = median(xs.map((x, i) => x.main - off[i].main))
    const dOther = median(xs.map((x, i) => x.other - off[i].other))
    const ratio = median(xs.map((x, i) => (x.main + x.other) / (off[i].main + off[i].other)))
    console.log(`${set.padEnd(14)} ${main.toFixed(2).padStart(7)} ${set === 'off' ? ''.padStart(7) : sign(dMain).padStart(7)} ${other.toFixed(2).padStart(7)} ${set === 'off' ? ''.padStart(7) : sign(dOther).padStart(7)}  ${set === 'off' ? '' : (ratio.toFixed(3) + '×').padStart(12)}`)
  }
}
if (trees.length > 1) {
  // The same set of both checkouts, paired by round: what this checkout's changes save.
  console.log('\nthis against the baseline, the same set, paired by round')
  console.log(`${'set'.padEnd(14)} ${'main'.padStart(7)} ${'others'.padStart(7)}  ${'total'.padStart(8)}`)
  for (const set of SETS) {
    const xs = samples.get(`this:${set}`)!
    const bs = samples.get(`baseline:${set}`)!
    const dMain = median(xs.map((x, i) => x.main - bs[i].main))
    const dOther = median(xs.map((x, i) => x.other - bs[i].other))
    const ratio = median(xs.map((x, i) => (x.main + x.other) / (bs[i].main + bs[i].other)))
    console.log(`${set.padEnd(14)} ${sign(dMain).padStart(7)} ${sign(dOther).padStart(7)}  ${(ratio.toFixed(3) + '×').padStart(8)}`)
  }
}
