// How long the pool takes to be whole again after an isolate dies, with and without a spare, and
// what a spare costs in memory. Not part of CI. Run: node bench/recovery.ts [--kills 10] [--isolates 2]
//
// For each configuration, a fresh process (so RSS is comparable) starts a server serving one of
// two apps — `plain`, the soak's handlers (plain functions), and `typed`, the example app
// (handlers/: typed routes with TypeBox, forms, msgpack) — plus one route that calls
// process.exit() in its isolate. Once idle it records its RSS, then `kills` times: sends the
// exit request (after a few others, so that the isolate it kills has answered some: one that
// dies before its first answer counts as a crash loop and is replaced after a back-off), and
// measures from the 502 (the main thread saw the isolate exit) until
// server.isolateCount is back to `isolates` (checked every millisecond). Between kills it waits
// for the spare to be started again. Prints a table and writes bench/results/recovery.json.

import { execFileSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { availableParallelism, cpus } from 'node:os'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { setTimeout as sleep } from 'node:timers/promises'
import { failWith, integerOption, printTable } from './cli.ts'
import { median } from './stats.ts'

const { values } = parseArgs({
  options: {
    kills: { type: 'string', default: '10' },
    isolates: { type: 'string', default: '2' },
    child: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false }
  }
})
if (values.help) {
  console.log('Usage: node bench/recovery.ts [--kills n] [--isolates n]\n\nTime until the pool is whole again after an isolate dies, spares 0 and 1, and the RSS a spare costs.')
  process.exit(0)
}
const fail = failWith(1)
const kills = integerOption(fail, 'kills', values.kills)
const isolates = integerOption(fail, 'isolates', values.isolates)

interface ChildResult { app: string, spares: number, rssIdleMiB: number, wholeMs: number[] }

if (values.child !== undefined) {
  const [app, s] = values.child.split(':')
  const spares = Number(s)
  const { createServer } = await import('isopool')
  const exit = { method: 'GET' as const, path: '/exit', handler: fileURLToPath(new URL('./targets/soak-handlers.ts', import.meta.url)) + '#exit' }
  const server = createServer(app === 'typed'
    ? { isolates, spares, root: fileURLToPath(new URL('../handlers/', import.meta.url)), modules: ['./routes'], routes: [exit] }
    : { isolates, spares, root: fileURLToPath(new URL('./targets/', import.meta.url)), routes: [{ method: 'GET', path: '/', handler: './soak-handlers.ts#light' }, exit] })
  const { url } = await server.listen()
  // Spares start behind listen(): let them, and the heap, settle.
  await sleep(2000)
  const rssIdleMiB = process.memoryUsage().rss / 2 ** 20
  const wholeMs: number[] = []
  for (let i = 0; i < kills; i++) {
    // Every isolate answers something first: one that dies before its first answer counts as a
    // crash loop, and its replacement is started only after a back-off.
    await Promise.all(Array.from({ length: 20 }, () => fetch(url + '/').then(r => r.arrayBuffer())))
    const res = await fetch(url + '/exit')
    await res.arrayBuffer()
    const t0 = performance.now()
    if (res.status !== 502) throw new Error(`/exit answered ${res.status}`)
    while (server.isolateCount < isolates) await sleep(1)
    wholeMs.push(performance.now() - t0)
    await sleep(1500) // the replacement spare starts
  }
  await server.close()
  process.stdout.write(JSON.stringify({ app, spares, rssIdleMiB, wholeMs } satisfies ChildResult) + '\n')
  process.exit(0)
}

const results: ChildResult[] = []
for (const app of ['plain', 'typed']) {
  for (const spares of [0, 1]) {
    const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--child', `${app}:${spares}`, '--kills', String(kills), '--isolates', String(isolates)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
    results.push(JSON.parse(out.trim().split('\n').at(-1)!) as ChildResult)
  }
}

console.log(`time until the pool is whole again after an isolate exits: ${isolates} isolates, ${kills} kills each; node ${process.version}, ${availableParallelism()} cpus\n`)
printTable(['app', 'spares', 'median ms', 'min ms', 'max ms', 'idle RSS MiB'], results.map(r => [
  r.app, String(r.spares), median(r.wholeMs).toFixed(1), Math.min(...r.wholeMs).toFixed(1), Math.max(...r.wholeMs).toFixed(1), r.rssIdleMiB.toFixed(1)
]))
for (const app of ['plain', 'typed']) {
  const [none, one] = [0, 1].map(n => results.find(r => r.app === app && r.spares === n)!)
  console.log(`${app}: a spare costs ${(one.rssIdleMiB - none.rssIdleMiB).toFixed(1)} MiB of RSS idle (the whole process, ${isolates} isolates: ${none.rssIdleMiB.toFixed(1)} MiB without)`)
}
mkdirSync(new URL('results/', import.meta.url), { recursive: true })
writeFileSync(new URL('results/recovery.json', import.meta.url), JSON.stringify({ bench: 'recovery', date: new Date().toISOString(), node: process.version, cpus: availableParallelism(), cpuModel: cpus()[0]?.model, isolates, kills, results }, null, 2) + '\n')
