// What moving a body from one thread to another and back costs with nothing else in the way:
// no ring, no frames, no sleeping. Two threads share two buffers and spin on a flag:
//
//   main    copies the payload into A, raises the flag ──▶ worker copies A into B, raises it back
//   main ◀─ copies B into a buffer it reuses
//
// The same three copies as a ring round trip in bench/micro/ring.ts (its "ring" column), minus
// the frame codec and the wake-ups. Neither side ever sleeps, so this is the floor a transport
// can reach on this machine; the copies are memcpy (Buffer#copy), each reading memory the other
// core wrote last. Run: npx node bench/micro/crossing.ts [bytes...]
import { Worker, isMainThread, workerData } from 'node:worker_threads'

interface Init { flag: SharedArrayBuffer, a: SharedArrayBuffer, b: SharedArrayBuffer }

/** Atomics.pause (a CPU hint for spin loops; not in TypeScript's lib yet). */
const pause: () => void = (Atomics as { pause?: () => void }).pause?.bind(Atomics) ?? (() => {})

if (isMainThread) {
  const sizes = process.argv.slice(2).map(Number)
  for (const size of sizes.length > 0 ? sizes : [64, 4096, 65536, 1 << 20]) {
    const init: Init = { flag: new SharedArrayBuffer(8), a: new SharedArrayBuffer(size), b: new SharedArrayBuffer(size) }
    const flag = new Int32Array(init.flag)
    const worker = new Worker(new URL(import.meta.url), { workerData: init })
    const payload = Buffer.alloc(size, 7)
    const a = Buffer.from(init.a)
    const b = Buffer.from(init.b)
    const mine = Buffer.allocUnsafeSlow(size)
    const trip = (): void => {
      payload.copy(a)
      Atomics.store(flag, 0, 1)
      while (Atomics.load(flag, 0) !== 2) pause()
      b.copy(mine)
    }
    for (let i = 0; i < 2000; i++) trip()
    const n = size >= 1 << 20 ? 2000 : 20000
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < n; i++) trip()
    const us = Number(process.hrtime.bigint() - t0) / 1000 / n
    console.log(`${String(size).padStart(8)} B  ${us.toFixed(2).padStart(7)} µs per round trip  ${Math.round(1e6 / us).toLocaleString('en-US').padStart(9)} round trips/s`)
    Atomics.store(flag, 0, 3)
    await worker.terminate()
  }
} else {
  const { flag: f, a: sa, b: sb } = workerData as Init
  const flag = new Int32Array(f)
  const a = Buffer.from(sa)
  const b = Buffer.from(sb)
  for (;;) {
    let v: number
    while ((v = Atomics.load(flag, 0)) !== 1 && v !== 3) pause()
    if (v === 3) break
    a.copy(b)
    Atomics.store(flag, 0, 2)
  }
}
