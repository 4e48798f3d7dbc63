// What a middleware costs an isolate per request, without threads or sockets: the `hello` route
// served as worker.ts serves it (an IsolateRequest from the frame text, the handler, the writer's
// RES_HEAD into a ring, the frame released) plain, and through the services run's chain
// (bench/targets/bench-middleware.ts: `await next()`, one header set). Two figures each: ns per
// request (tinybench, 64 requests a task, the chain's awaited once at the end of the task) and
// bytes allocated per request (the heap's growth over N requests in a young generation large
// enough that no GC runs meanwhile; a child process started with that young generation), and
// what stays held per request after a full GC (a chain that retained something would show it).
// Usage: node bench/micro/middleware.ts
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { PerformanceObserver } from 'node:perf_hooks'
import { Bench } from 'tinybench'
import { compose } from '../../src/isolate/middleware.ts'
import { LATER } from '../../src/isolate/middleware.ts'
import type { ChainHooks, Middleware } from '../../src/isolate/middleware.ts'
import { IsolateRequest } from '../../src/isolate/request.ts'
import { ResponseWriter } from '../../src/isolate/respond.ts'
import { compilePath } from '../../src/shared/path-pattern.ts'
import { createRingBuffer, RingConsumer, RingProducer } from '../../src/shared/ring.ts'
import { benchHeader } from '../targets/bench-middleware.ts'

const sab = createRingBuffer(1 << 20)
const ring = new RingProducer(sab)
const consumer = new RingConsumer(sab)
const writer = new ResponseWriter(ring, false, null)
const pattern = compilePath('GET', '/')
const TEXT = ['GET', '/', 'host', '127.0.0.1:3000', 'accept', '*/*'].join('\0')

const hello = (): { hello: string } => ({ hello: 'world' })
// The worker's hooks (src/isolate/worker.ts chainHooks), less the busy clock.
const hooks: ChainHooks = {
  call: (_route, handler, req) => handler(req),
  toResponse: (_route, outcome, threw, req) => writer.toResponse(outcome, threw, 'hello', req)
}
const chained = compose(0, [benchHeader as Middleware], ['./bench-middleware.ts#benchHeader'], hello, hooks)

function isThenable (v: unknown): v is PromiseLike<unknown> {
  return v !== null && typeof v === 'object' && typeof (v as PromiseLike<unknown>).then === 'function'
}

/** One request as worker.ts's run() and complete() serve it: a chain with the callback for an
 * answer that comes later (`last` resolved after it), a plain handler without. */
function serve (handler: (req: IsolateRequest) => unknown, id: number, last: (() => void) | null): void | PromiseLike<void> {
  const req = new IsolateRequest(TEXT, pattern, null, true)
  if (handler === chained) {
    const value = chained(req, res => {
      writer.result(id, res, 'hello', req)
      if (last !== null) last()
    })
    if (value === LATER) return
    if (isThenable(value)) throw new Error('a chain with a callback returned a promise')
    writer.result(id, value, 'hello', req)
    if (last !== null) last()
    return
  }
  const value = handler(req)
  if (isThenable(value)) return value.then(v => { writer.result(id, v, 'hello', req) })
  writer.result(id, value, 'hello', req)
}

function drain (): number {
  let n = 0
  while (consumer.peek() >= 0) {
    consumer.release()
    n++
  }
  return n
}

const BATCH = 64

async function batch (handler: (req: IsolateRequest) => unknown): Promise<void> {
  if (handler === chained) {
    await new Promise<void>(resolve => { for (let i = 0; i < BATCH; i++) serve(handler, i, i === BATCH - 1 ? resolve : null) })
  } else {
    let last: void | PromiseLike<void> = undefined
    for (let i = 0; i < BATCH; i++) last = serve(handler, i, null)
    if (last !== undefined) await last
  }
  if (drain() !== BATCH) throw new Error('not every request was answered')
}

/** Bytes allocated per request: heap growth over `n` requests, which must run with no GC. */
async function allocated (handler: (req: IsolateRequest) => unknown, n: number): Promise<string> {
  for (let i = 0; i < 200; i++) await batch(handler)
  let gcs = 0
  const obs = new PerformanceObserver(list => { gcs += list.getEntries().length })
  obs.observe({ entryTypes: ['gc'] })
  await new Promise(resolve => setImmediate(resolve))
  const before = process.memoryUsage().heapUsed
  for (let i = 0; i < n / BATCH; i++) await batch(handler)
  const after = process.memoryUsage().heapUsed
  await new Promise(resolve => setImmediate(resolve))
  obs.disconnect()
  const per = Math.round((after - before) / n)
  return gcs === 0 ? `${per} B/request` : `${per} B/request (${gcs} GC ran: a lower bound)`
}

/** For a heap profiler: `n` batches of the chain. */
export async function runChain (n: number, plain = false): Promise<void> {
  for (let i = 0; i < n; i++) await batch(plain ? hello : chained)
}

/** Bytes still held per request after `n` requests and a full GC: what a chain keeps (a Map, a
 * listener, a closure) until the end. */
async function retained (handler: (req: IsolateRequest) => unknown, n: number): Promise<string> {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) return 'not measured (no --expose-gc)'
  gc()
  const before = process.memoryUsage().heapUsed
  for (let i = 0; i < n / BATCH; i++) await batch(handler)
  await new Promise(resolve => setImmediate(resolve))
  gc()
  const after = process.memoryUsage().heapUsed
  return `${((after - before) / n).toFixed(2)} B/request over ${n} requests`
}

if (process.argv.includes('--noop')) {
  // imported by a profiler
} else if (process.argv.includes('--alloc')) {
  const n = 64 * 400
  console.log(`allocated, plain handler:       ${await allocated(hello, n)}`)
  console.log(`allocated, chain (benchHeader): ${await allocated(chained, n)}`)
  console.log(`retained, chain (benchHeader): ${await retained(chained, 64 * 2000)}`)
} else {
  const bench = new Bench({ time: 1000, warmup: true })
  bench
    .add('plain handler', async () => { await batch(hello) })
    .add('chain (benchHeader)', async () => { await batch(chained) })
  await bench.run()
  for (const t of bench.tasks) {
    const r = t.result as { latency?: { mean: number }, mean?: number } | undefined
    const mean = r?.latency?.mean ?? r?.mean ?? NaN
    console.log(`${t.name.padEnd(22)} ${(mean * 1e6 / BATCH).toFixed(0).padStart(6)} ns/request`)
  }
  // A young generation of 256 MiB: the measured requests allocate less than that, so no
  // scavenge frees any of it before it is counted.
  const child = spawnSync(process.execPath, ['--expose-gc', '--min-semi-space-size=256', '--max-semi-space-size=256', fileURLToPath(import.meta.url), '--alloc'], { encoding: 'utf8' })
  process.stdout.write(child.stdout + child.stderr)
}
