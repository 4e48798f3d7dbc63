// Soak target: isopool through its public API, serving the routes of ./soak-handlers.ts with
// short time limits so that hung isolates are found and replaced quickly.
//
// Usage: node bench/targets/soak-app.ts [--isolates 2] [--spares 0] [--timeout 500] [--hard-timeout 1500]
//
// Keeps the bench target contract (bench/targets/lifecycle.ts): its first stdout line is
// {"port":N,"pid":P}; SIGTERM closes it. After that it prints one JSON line of stats per second,
// and one more at once on SIGUSR2, for bench/soak.ts:
//
//   {"type":"stats","t":ms since listen,"restarts":server.restarts,"isolates":alive now,
//    "rss":bytes (the whole process, isolates included),"heapUsed":main thread's bytes,
//    "degradedMs":time with fewer isolates than configured,"emptyMs":time with none,
//    "longestEmptyMs":longest stretch with none}
//
// The isolate counts come from polling server.isolateCount every 10 ms (the public API has no
// event for it), so stretches shorter than that are missed.

import { parseArgs } from 'node:util'
import { createServer } from 'isopool'
import { ready } from './lifecycle.ts'

const { values } = parseArgs({
  options: {
    isolates: { type: 'string', default: '2' },
    spares: { type: 'string', default: '0' },
    timeout: { type: 'string', default: '500' },
    'hard-timeout': { type: 'string', default: '1500' }
  }
})

const isolates = Number(values.isolates)
const server = createServer({
  isolates,
  spares: Number(values.spares),
  root: import.meta.dirname,
  timeout: Number(values.timeout),
  hardTimeout: Number(values['hard-timeout']),
  routes: [
    { method: 'GET', path: '/light', handler: './soak-handlers.ts#light' },
    { method: 'GET', path: '/cpu', handler: './soak-handlers.ts#cpu' },
    { method: 'GET', path: '/async', handler: './soak-handlers.ts#async' },
    { method: 'POST', path: '/echo', handler: './soak-handlers.ts#echo' },
    { method: 'GET', path: '/crash', handler: './soak-handlers.ts#crash' },
    { method: 'GET', path: '/exit', handler: './soak-handlers.ts#exit' },
    { method: 'GET', path: '/hang', handler: './soak-handlers.ts#hang' }
  ]
})
const { port } = await server.listen({ port: 0, host: '127.0.0.1' })
const t0 = Date.now()

// How long the pool ran short of isolates, sampled.
let degradedMs = 0
let emptyMs = 0
let emptySince: number | null = null
let longestEmptyMs = 0
let last = Date.now()
const poll = setInterval(() => {
  const now = Date.now()
  const dt = now - last
  last = now
  const alive = server.isolateCount
  if (alive < isolates) degradedMs += dt
  if (alive === 0) {
    emptyMs += dt
    emptySince ??= now - dt
    longestEmptyMs = Math.max(longestEmptyMs, now - emptySince)
  } else {
    emptySince = null
  }
}, 10)
poll.unref()

function stats (): void {
  const m = process.memoryUsage()
  process.stdout.write(JSON.stringify({
    type: 'stats',
    t: Date.now() - t0,
    restarts: server.restarts,
    isolates: server.isolateCount,
    rss: m.rss,
    heapUsed: m.heapUsed,
    degradedMs,
    emptyMs,
    longestEmptyMs
  }) + '\n')
}

ready(port, () => {
  clearInterval(timer)
  return server.close()
})
const timer = setInterval(stats, 1000)
process.on('SIGUSR2', stats)
