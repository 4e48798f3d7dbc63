// Light requests pass held heavy ones, and heavy ones still get their share (issue #12), through
// real sockets: heavy handlers that run until the suite creates a file, so every claim here is
// about order and completion, never about time.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { start } from './helpers.ts'
import type { Reply, Running } from './helpers.ts'
import { until } from './observe.ts'

const ROUTES: [string, string, string][] = [
  ['GET', '/light', './fair-share.ts#light'],
  ['GET', '/heavy', './fair-share.ts#heavy']
]

let app: Running | undefined
let dir: string | undefined
afterEach(async () => {
  await app?.close()
  app = undefined
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  dir = undefined
})

/** A flag file a heavy request runs until, and the call that creates it. */
function flag (name: string): { path: string, release: () => void } {
  dir ??= mkdtempSync(join(tmpdir(), 'isopool-fair-'))
  const path = join(dir, name)
  return { path, release: () => writeFileSync(path, '') }
}

/** Track when a request answers, in the order answers come. */
function track (order: string[], name: string, reply: Promise<Reply>): Promise<Reply> {
  return reply.then((r) => {
    order.push(name)
    return r
  })
}

describe('light and heavy requests on one isolate', () => {
  it('a light request passes a held heavy one, and the heavy one runs next', async () => {
    // The claims are about order, never time; but a loaded machine may take a second between two
    // steps, and a request that waits in the main thread that long would get its 503 (maxQueueWait).
    app = await start({ isolates: 1, maxQueueWait: 10_000 }, ROUTES)
    // The heavy route's cost is learned long (500 ms: a held one is overdue only after 2 s,
    // heldFor, far longer than this test needs), the light one's short; a light request just now
    // means heavy ones go one at a time to the isolate.
    expect((await app.get('/heavy?ms=500')).status).toBe(200)
    expect((await app.get('/light')).status).toBe(200)
    const a = flag('a')
    const b = flag('b')
    const order: string[] = []
    const h1 = track(order, 'h1', app.get(`/heavy?name=h1&until=${encodeURIComponent(a.path)}`))
    await until('the first heavy one to be placed', () => app!.server.inFlight === 1)
    const h2 = track(order, 'h2', app.get(`/heavy?name=h2&until=${encodeURIComponent(b.path)}`))
    await until('the second heavy one to be held', () => app!.server.waiting === 1)
    const l = track(order, 'light', app.get('/light'))
    // The light one passes the held heavy one: it goes to the isolate, behind the running one —
    // or, once h1 has run past STALL_MS and the isolate counts as stalled, waits in the main
    // thread for it, ahead of h2 all the same. Either way all three are in.
    await until('the light one to be taken in', () => app!.server.inFlight + app!.server.waiting === 3)
    a.release()
    expect((await l).json).toEqual({ light: true })
    // h2 runs until b exists: the light one was answered before it.
    expect(order).not.toContain('h2')
    b.release()
    expect((await h2).json).toEqual({ heavy: 'h2' })
    expect((await h1).json).toEqual({ heavy: 'h1' })
    expect(order.at(-1)).toBe('h2')
  })

  it('heavy ones are not starved by a steady stream of light ones: each is answered while it goes on', async () => {
    app = await start({ isolates: 1 }, ROUTES)
    expect((await app.get('/heavy?ms=20')).status).toBe(200)
    let lights = 0
    let stop = false
    const statuses = new Set<number>()
    const streams = Array.from({ length: 8 }, async () => {
      while (!stop) {
        statuses.add((await app!.get('/light')).status)
        lights++
      }
    })
    await until('light requests to flow', () => lights >= 20)
    const order: string[] = []
    const heavies = [1, 2, 3, 4].map(i => track(order, `h${i}`, app!.get(`/heavy?ms=20&name=h${i}`)))
    for (const h of heavies) expect((await h).status).toBe(200)
    const during = lights
    await until('light requests to flow after them too', () => lights >= during + 20)
    stop = true
    await Promise.all(streams)
    expect([...statuses]).toEqual([200])
    // Held heavy ones keep their order.
    expect(order).toEqual(['h1', 'h2', 'h3', 'h4'])
  })
})
