// Why frame.ts copies bodies with Buffer#fill / Buffer#copy instead of TypedArray#set: copying
// into or out of a SharedArrayBuffer with set()/slice() goes through V8's relaxed-atomic copy,
// node's Buffer#fill (same-length source) and Buffer#copy (out of shared memory) run memcpy.
// Usage: node bench/micro/copy.ts
import { Bench } from 'tinybench'

const shared = Buffer.from(new SharedArrayBuffer(1 << 20))
const bench = new Bench({ time: 500, warmup: true, warmupTime: 200 })

for (const size of [200, 1024, 4096, 65536]) {
  const src = Buffer.alloc(size, 7)
  const dst = Buffer.alloc(size)
  const at = 4096
  bench
    .add(`${size} B into shared: TypedArray#set`, () => { shared.set(src, at) })
    .add(`${size} B into shared: Buffer#fill`, () => { shared.fill(src, at, at + size) })
    .add(`${size} B out of shared: TypedArray#set`, () => { dst.set(shared.subarray(at, at + size)) })
    .add(`${size} B out of shared: Buffer#copy`, () => { shared.copy(dst, 0, at, at + size) })
    .add(`${size} B out of shared: Uint8Array#slice`, () => { Uint8Array.prototype.slice.call(shared, at, at + size) })
}

await bench.run()
console.log('bytes copied per second (GB/s) and time per copy (ns):\n')
for (const task of bench.tasks) {
  const r = task.result as { latency?: { mean: number }, throughput?: { mean: number } } | undefined
  const size = Number(task.name.split(' ')[0])
  const ns = (r?.latency?.mean ?? NaN) * 1e6
  console.log(`${task.name.padEnd(44)} ${(size / ns).toFixed(2).padStart(7)} GB/s ${ns.toFixed(0).padStart(7)} ns`)
}
