// Why the access log writes its held lines to a SonicBoom's file descriptor itself when it may
// (src/main/fd-write.ts): CPU per line of 250-character access lines, 8 lines a turn of the event
// loop, a write per 16 KiB, to /dev/null (or the file given), with each way of writing in a
// process of its own (a fresh heap: SonicBoom's cost is partly the GC of a buffer per write),
// the rounds interleaved, the median reported, less the cost of making the lines alone.
//   SonicBoom         pino.destination({ minLength: 4096 }), as `logger: true` and the bench use
//   SonicBoom, sync   the same with sync: true (fs.writeSync of the string)
//   FdWriter          fd-write.ts around that SonicBoom
// Usage: node bench/micro/log-write.ts [--rounds N] [file]
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { pino } from 'pino'
import { FdWriter } from '../../src/main/fd-write.ts'
import { median } from '../stats.ts'

const WAYS = ['lines only', 'SonicBoom', 'SonicBoom, sync', 'FdWriter'] as const
const LINES = 400_000
const PER_TURN = 8
const BATCH = 16_384

async function one (way: string, dest: string): Promise<number> {
  const sonic = pino.destination({ dest, minLength: 4096, sync: way === 'SonicBoom, sync' })
  await new Promise(resolve => sonic.once('ready', resolve))
  const around = FdWriter.around(sonic)
  if (around === null) throw new Error('not a SonicBoom FdWriter knows')
  let sink = 0
  const write = way === 'lines only' ? (s: string) => { sink += s.length } : way === 'FdWriter' ? (s: string) => around.write(s) : (s: string) => { sonic.write(s) }
  const line = '{"level":30,"time":1764654000000,"pid":12345,"hostname":"vm-abc","id":"f3b1c2d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d","method":"GET","url":"/","status":200,"duration":0.123,"bytes":17,"route":"/","isolate":0,"msg":"request completed","n":'
  let held = ''
  let i = 0
  const t0 = process.cpuUsage()
  for (let n = 0; n < LINES; n += PER_TURN) {
    for (let k = 0; k < PER_TURN; k++) held += line + (i++ & 7) + '}\n'
    if (held.length >= BATCH) { write(held); held = '' }
    await new Promise(resolve => setImmediate(resolve))
  }
  await new Promise(resolve => sonic.flush(resolve))
  if (way === 'FdWriter' && !around.wroteAround) throw new Error('FdWriter did not write around: ' + dest + ' is not a file or /dev/null')
  const c = process.cpuUsage(t0)
  if (sink < 0) console.log(sink)
  return (c.user + c.system) / LINES * 1000
}

const args = process.argv.slice(2)
if (args[0] === '--one') {
  console.log(JSON.stringify(await one(args[1], args[2])))
} else {
  const r = args.indexOf('--rounds')
  const rounds = r < 0 ? 5 : Number(args.splice(r, 2)[1])
  const dest = args[0] ?? '/dev/null'
  const runs: Record<string, number[]> = Object.fromEntries(WAYS.map(w => [w, []]))
  const self = fileURLToPath(import.meta.url)
  for (let k = 0; k < rounds; k++) {
    for (const way of WAYS) {
      const out = spawnSync(process.execPath, [self, '--one', way, dest], { encoding: 'utf8' })
      if (out.status !== 0) throw new Error(out.stderr)
      runs[way].push(JSON.parse(out.stdout) as number)
    }
  }
  const base = median(runs['lines only'])
  console.log(`CPU per line to ${dest}, median of ${rounds} processes each (the lines alone: ${base.toFixed(0)} ns, taken off)`)
  for (const way of WAYS.slice(1)) console.log(`  ${way.padEnd(16)} ${(median(runs[way]) - base).toFixed(0).padStart(6)} ns`)
}
