// Why the access log hands a SonicBoom the lines of a turn at once (src/main/logger.ts
// AccessLog.batch()): a SonicBoom's write() costs about the same whatever it is given (it takes
// the byte length of its buffer's last chunk, a string it flattens), so a line per write costs
// several times a line of a batch. pino.destination to /dev/null with the 4 KiB buffer of
// `logger: true`, written synchronously (this loop never lets an asynchronous write finish).
// Usage: node bench/micro/sonic-boom.ts
import { Bench } from 'tinybench'
import { pino } from 'pino'

const line = '{"level":30,"time":1764654000000,"pid":12345,"hostname":"vm-abc","id":"f3b1c2d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d","method":"GET","url":"/","status":200,"duration":0.123,"bytes":17,"route":"/","isolate":0,"msg":"request completed"}\n'
const perLine = pino.destination({ dest: '/dev/null', minLength: 4096, sync: true })
const batched = pino.destination({ dest: '/dev/null', minLength: 4096, sync: true })
let held = ''
let i = 0

const bench = new Bench({ time: 500, warmup: true })
bench
  .add('a write() per line', () => { perLine.write(line + (i++ & 7)) })
  .add('lines joined, a write() per 16 KiB', () => {
    held += line + (i++ & 7)
    if (held.length >= 16_384) { batched.write(held); held = '' }
  })
await bench.run()
for (const t of bench.tasks) {
  const r = t.result as { latency?: { mean: number } } | undefined
  console.log(`${t.name.padEnd(38)} ${((r?.latency?.mean ?? NaN) * 1e6).toFixed(0).padStart(7)} ns a line`)
}
perLine.flushSync()
batched.flushSync()
