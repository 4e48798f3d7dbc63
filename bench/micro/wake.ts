// What one cross-thread wake-up costs on this machine, apart from any ring or frame: a ping-pong
// of a counter in a SharedArrayBuffer between the main thread and one worker, each side waiting
// for the other's next value in one of these ways:
//
//   postMessage   MessagePort messages both ways (the baseline of bench/micro/ring.ts)
//   sleep+sleep   Atomics.wait on both sides (a futex each way: the thread blocks)
//   async+async   Atomics.waitAsync on both sides (what the rings do with poll: 0)
//   poll+async    the worker polls once per event-loop turn (setImmediate), main waitAsync
//   poll+poll     both poll (what the rings do with a poll budget, while it lasts)
//
// On a VM a sleeping vCPU takes tens of µs to wake, whatever the waiting primitive; a thread that
// is awake sees the store within a turn of its event loop. This is why src/shared/ring.ts polls
// before sleeping where there is a core to spare (the `poll` option), and why it does not
// elsewhere: a polling thread keeps its core busy.
// Usage: node bench/micro/wake.ts [--rounds 20000]

import { parseArgs } from 'node:util'
import { availableParallelism, cpus } from 'node:os'
import { MessageChannel, Worker } from 'node:worker_threads'

const MODES = ['postMessage', 'sleep+sleep', 'async+async', 'poll+async', 'poll+poll'] as const
type Mode = typeof MODES[number]

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '20000' } } })
const ROUNDS = Number(values.rounds)
if (!Number.isInteger(ROUNDS) || ROUNDS < 1) throw new Error(`--rounds must be a positive integer, got ${values.rounds}`)

// The worker: answers value i in slot 1 once it sees value i in slot 0, waiting as `mode` says.
const WORKER = `
const { workerData, parentPort } = require('node:worker_threads')
const { sab, port, mode, rounds } = workerData
const a = new Int32Array(sab)
const turn = () => new Promise(resolve => setImmediate(resolve))
async function main () {
  if (mode === 'postMessage') { port.on('message', m => port.postMessage(m)); return }
  for (let i = 1; i <= rounds; i++) {
    if (mode === 'sleep+sleep') { while (Atomics.load(a, 0) !== i) Atomics.wait(a, 0, i - 1) }
    else if (mode === 'async+async') { while (Atomics.load(a, 0) !== i) { const r = Atomics.waitAsync(a, 0, i - 1); if (r.async) await r.value } }
    else { while (Atomics.load(a, 0) !== i) await turn() }
    Atomics.store(a, 1, i)
    Atomics.notify(a, 1)
  }
}
// waitAsync keeps no thread alive; this port does until the main thread ends the worker.
parentPort.on('message', () => {})
parentPort.postMessage('ready')
main()
`

async function run (mode: Mode): Promise<number> {
  const sab = new SharedArrayBuffer(8)
  const a = new Int32Array(sab)
  const { port1, port2 } = new MessageChannel()
  const worker = new Worker(WORKER, { eval: true, workerData: { sab, port: port2, mode, rounds: ROUNDS }, transferList: [port2] })
  await new Promise(resolve => worker.once('message', resolve))
  const turn = (): Promise<void> => new Promise(resolve => setImmediate(resolve))
  const start = process.hrtime.bigint()
  if (mode === 'postMessage') {
    let n = 0
    await new Promise<void>(resolve => {
      port1.on('message', () => { if (++n === ROUNDS) resolve(); else port1.postMessage(n) })
      port1.postMessage(0)
    })
  } else {
    for (let i = 1; i <= ROUNDS; i++) {
      Atomics.store(a, 0, i)
      Atomics.notify(a, 0)
      if (mode === 'sleep+sleep') {
        while (Atomics.load(a, 1) !== i) Atomics.wait(a, 1, i - 1)
      } else if (mode === 'poll+poll') {
        while (Atomics.load(a, 1) !== i) await turn()
      } else {
        while (Atomics.load(a, 1) !== i) {
          const r = Atomics.waitAsync(a, 1, i - 1)
          if (r.async) await r.value
        }
      }
    }
  }
  const ns = Number(process.hrtime.bigint() - start) / ROUNDS
  port1.close()
  await worker.terminate()
  return ns
}

console.log(`wake-up cost: ${ROUNDS} round trips main ⇄ worker per mode; node ${process.version}, ${availableParallelism()} cpus (${cpus()[0]?.model ?? '?'})\n`)
console.log(`${'mode'.padEnd(12)}  ${'µs / round trip'.padStart(15)}  ${'round trips/s'.padStart(13)}`)
for (const mode of MODES) {
  const ns = await run(mode)
  console.log(`${mode.padEnd(12)}  ${(ns / 1000).toFixed(1).padStart(15)}  ${Math.round(1e9 / ns).toLocaleString('en-US').padStart(13)}`)
}
