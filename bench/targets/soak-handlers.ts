// Handler modules of the soak target (bench/targets/soak-app.ts names them `./soak-handlers.ts#…`).
// The bench's own copy, on purpose: the test fixtures may change under the test suites.
//
// Normal routes answer 200 with something the load generator can check; fault routes break their
// isolate in the three ways a soak exercises: an uncaught exception, process.exit(), and
// synchronous code that never returns.

import { threadId } from 'node:worker_threads'
import type { Request } from 'isopool/handler'

let served = 0
const never = new Promise(() => {})

/** GET /light → a small JSON object. */
export function light () {
  return { ok: true, thread: threadId, n: ++served }
}

/** GET /cpu → about 1 ms of synchronous work on the isolate, then a small JSON object. */
export function cpu () {
  const until = performance.now() + 1
  let x = 1
  let rounds = 0
  while (performance.now() < until) {
    for (let i = 0; i < 1000; i++) x = (x * 1103515245 + 12345) % 2147483648
    rounds++
  }
  return { ok: true, thread: threadId, rounds, x, n: ++served }
}

/** GET /async?ms=N → answers after N ms (default 3, at most 50) of timer wait: the isolate idles meanwhile. */
export async function async (req: Request) {
  const ms = Math.min(50, Math.max(0, Number(req.query.ms ?? 3) || 0))
  await new Promise(resolve => setTimeout(resolve, ms))
  return { ok: true, thread: threadId, ms, n: ++served }
}

/** POST /echo → the request body, byte for byte (application/octet-stream). */
export function echo (req: Request) {
  served++
  return req.body
}

/** GET /crash → an exception thrown from a timer, outside the handler machinery: the isolate dies. */
export function crash () {
  setTimeout(() => { throw new Error('soak: uncaught, from a timer') }, 5)
  return never
}

/** GET /exit → process.exit() inside the isolate (ends the worker thread, not the process). */
export function exit () {
  process.exit(3)
}

/** GET /hang → synchronous code that never returns: only hardTimeout can end it. */
export function hang () {
  for (;;);
}
