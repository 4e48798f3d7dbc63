// Where src/isolate/compress.ts switches from synchronous zlib calls to callback ones, and which
// levels it uses: for JSON bodies of 1 KiB to 1 MiB, the time one compression takes synchronously
// (all of it on the isolate's event loop), the time a callback one takes from the call to its
// callback (on libuv's threadpool, shared by every thread of the process), and how much of that
// the calling thread itself spends (the call returning: setting up the stream). Also each level's
// ratio, to choose levels that are fast and still worth it.
// Usage: node bench/micro/compress.ts [--quick]
import { Bench } from 'tinybench'
import { brotliCompress, brotliCompressSync, constants, deflateSync, gzip, gzipSync, zstdCompress, zstdCompressSync } from 'node:zlib'
import type { ZlibOptions } from 'node:zlib'

const quick = process.argv.includes('--quick')
const SIZES = [1024, 16 * 1024, 64 * 1024, 256 * 1024, 1024 * 1024]

// A typical API answer: an array of records with repeated keys and varied values, seeded so
// every run compresses the same bytes.
let seed = 42
const rand = (): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x7fffffff }
const words = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet', 'kilo', 'lima']
function jsonOf (size: number): Buffer {
  const rows: unknown[] = []
  let s = '[]'
  for (let i = 0; s.length < size; i++) {
    rows.push({
      id: i,
      name: `${words[Math.floor(rand() * words.length)]} ${words[Math.floor(rand() * words.length)]}`,
      email: `user${Math.floor(rand() * 1e6)}@example.com`,
      active: rand() > 0.5,
      score: Math.round(rand() * 10000) / 100,
      tags: words.filter(() => rand() > 0.8)
    })
    s = JSON.stringify(rows)
  }
  return Buffer.from(s.slice(0, size))
}

const brotli = (quality: number, size: number): ZlibOptions => ({
  params: { [constants.BROTLI_PARAM_QUALITY]: quality, [constants.BROTLI_PARAM_SIZE_HINT]: size }
}) as ZlibOptions
const zstd = (level: number): object => ({ params: { [constants.ZSTD_c_compressionLevel]: level } })

// ── ratios and sync times per level ─────────────────────────────────────────────────────────
console.log('level choice, 64 KiB of JSON: ratio (compressed/original) and µs per synchronous call\n')
const sample = jsonOf(64 * 1024)
const levels: [string, () => Buffer][] = [
  ['gzip 1', () => gzipSync(sample, { level: 1 })],
  ['gzip 4', () => gzipSync(sample, { level: 4 })],
  ['gzip 6', () => gzipSync(sample, { level: 6 })],
  ['gzip 9', () => gzipSync(sample, { level: 9 })],
  ['deflate 4', () => deflateSync(sample, { level: 4 })],
  ['br 1', () => brotliCompressSync(sample, brotli(1, sample.length))],
  ['br 4', () => brotliCompressSync(sample, brotli(4, sample.length))],
  ['br 5', () => brotliCompressSync(sample, brotli(5, sample.length))],
  ['br 6', () => brotliCompressSync(sample, brotli(6, sample.length))],
  ['br 11 (default)', () => brotliCompressSync(sample, brotli(11, sample.length))],
  ['zstd 1', () => zstdCompressSync(sample, zstd(1))],
  ['zstd 3 (default)', () => zstdCompressSync(sample, zstd(3))]
]
const levelBench = new Bench({ time: quick ? 100 : 400, warmup: true, warmupTime: 100 })
for (const [name, fn] of levels) levelBench.add(name, () => { fn() })
await levelBench.run()
for (const [name, fn] of levels) {
  const t = levelBench.tasks.find(x => x.name === name)!
  const r = t.result as { latency?: { mean: number } } | undefined
  console.log(`${name.padEnd(18)} ratio ${(fn().length / sample.length).toFixed(3)}   ${((r?.latency?.mean ?? NaN) * 1000).toFixed(0).padStart(6)} µs`)
}

// ── sync against callback, by size ───────────────────────────────────────────────────────────
type Async = (buf: Buffer, opts: ZlibOptions, cb: (err: Error | null, out: Buffer) => void) => void
const algos: { name: string, sync: (b: Buffer) => Buffer, async: Async, opts: (size: number) => ZlibOptions }[] = [
  { name: 'gzip 4', sync: b => gzipSync(b, { level: 4 }), async: gzip, opts: () => ({ level: 4 }) },
  { name: 'br 4', sync: b => brotliCompressSync(b, brotli(4, b.length)), async: brotliCompress, opts: size => brotli(4, size) },
  { name: 'zstd 3', sync: b => zstdCompressSync(b, zstd(3)), async: zstdCompress as unknown as Async, opts: () => zstd(3) as ZlibOptions }
]
const bench = new Bench({ time: quick ? 100 : 500, warmup: true, warmupTime: 100 })
/** Per task: total ms the calling thread spent inside the callback-style call, and calls. */
const onThread = new Map<string, { ms: number, n: number }>()
for (const size of SIZES) {
  const body = jsonOf(size)
  for (const a of algos) {
    bench.add(`${a.name} ${size} sync`, () => { a.sync(body) })
    const key = `${a.name} ${size} async`
    const spent = { ms: 0, n: 0 }
    onThread.set(key, spent)
    const opts = a.opts(size)
    bench.add(key, () => new Promise<void>((resolve, reject) => {
      const t0 = performance.now()
      a.async(body, opts, err => { if (err !== null) reject(err); else resolve() })
      spent.ms += performance.now() - t0
      spent.n++
    }))
  }
}
await bench.run()
console.log('\nsync: µs the event loop is blocked; async: µs from the call to the callback, and µs of it on the calling thread\n')
console.log(`${'algorithm'.padEnd(10)} ${'size'.padStart(8)} ${'sync'.padStart(9)} ${'async'.padStart(9)} ${'on thread'.padStart(10)} ${'async/sync'.padStart(11)}`)
for (const size of SIZES) {
  for (const a of algos) {
    const mean = (name: string): number => ((bench.tasks.find(t => t.name === name)!.result as { latency?: { mean: number } } | undefined)?.latency?.mean ?? NaN) * 1000
    const s = mean(`${a.name} ${size} sync`)
    const as = mean(`${a.name} ${size} async`)
    const spent = onThread.get(`${a.name} ${size} async`)!
    console.log(`${a.name.padEnd(10)} ${String(size).padStart(8)} ${s.toFixed(0).padStart(9)} ${as.toFixed(0).padStart(9)} ${(spent.ms * 1000 / spent.n).toFixed(0).padStart(10)} ${(as / s).toFixed(2).padStart(11)}`)
  }
}
