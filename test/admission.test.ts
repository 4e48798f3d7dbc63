// Admission by expected wait, over sockets, with the load generator in a process of its own: a
// burst the isolates clear in time is taken whole, whatever its size; sustained overload is shed
// at the door with 503 and a Retry-After, and what is admitted is answered in time.
import { afterEach, describe, expect, it } from 'vitest'
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { start } from './helpers.ts'
import type { Reply, Running } from './helpers.ts'
import { until } from './observe.ts'

let app: Running | null = null
afterEach(async () => {
  await app?.close()
  app = null
})

const CLIENT = fileURLToPath(new URL('./fixtures/load-client.ts', import.meta.url))

function client (...args: string[]): Promise<Record<string, any>> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CLIENT, ...args], { timeout: 60_000, maxBuffer: 1 << 20 }, (err, stdout) => {
      if (err !== null) reject(err)
      else resolve(JSON.parse(stdout.trim().split('\n').at(-1)!))
    })
  })
}

describe('admission by expected wait', () => {
  it('answers a burst of 8,000 requests on 8,000 connections with 200, every one', async () => {
    // Admitted by expected wait, not by count: 8,000 requests of a route that costs next to
    // nothing are well within maxQueueWait. (5 s rather than the default 1 s: on a machine busy
    // elsewhere, accepting 8,000 connections can keep the main thread longer than 1 s, and a
    // request that has waited that long is shed, as it should be, with QUEUE_EXPIRED.)
    app = await start({ isolates: 2, maxQueueWait: 5000 }, [['GET', '/hello', './basic.ts#hello']])
    await app.get('/hello') // the route's cost is known
    const r = await client('burst', app.url, '8000', '/hello')
    expect(r.errors).toBe(0)
    expect(r.statuses, `${JSON.stringify(r.codes)} in ${r.ms} ms`).toEqual({ 200: 8000 })
  })

  it('sheds sustained overload of a 10 ms handler with 503 and Retry-After, and answers the rest in time', async () => {
    app = await start({ isolates: 2 }, [['GET', '/ten', './slow.ts#tenMs'], ['GET', '/readyz-probe', './basic.ts#hello']])
    for (let i = 0; i < 4; i++) await app.get('/ten') // the route's cost is known
    // 500 closed-loop clients on 2 isolates: an expected wait of ~2.5 s, over the default 1 s.
    let over = false
    const overload = client('overload', app.url, '500', '5', '/ten').finally(() => { over = true })
    // While it sheds, /readyz tells a load balancer to send its traffic elsewhere: ask until it
    // says so, or the overload is over.
    let ready: Reply | undefined
    await until('/readyz to say it sheds load', async () => {
      if (over) return true
      const r = await app!.get('/readyz')
      if (r.status === 503 && r.json.error.message === 'Not ready: shedding load') ready = r
      return ready !== undefined
    }, 60_000, 50)
    const r = await overload
    expect(r.errors).toBe(0)
    expect(Object.keys(r.statuses).sort(), JSON.stringify(r.codes)).toEqual(['200', '503'])
    expect(r.statuses['503']).toBeGreaterThan(0)
    expect(r.noRetryAfter).toBe(0)
    // In time: an answered request waited at most maxQueueWait (1 s) in the main thread, then
    // behind at most that much work in its isolate's ring: 2 s, and a margin for the client, a
    // process of its own on a machine that may be busy. Without admission, each of the 500
    // clients would wait its turn behind all the others: 500 × 10 ms / 2 isolates = 2.5 s at best.
    expect(r.p99).toBeLessThan(2500)
    expect(ready?.json.error).toMatchObject({ code: 'ISOPOOL_ERR_NOT_READY', message: 'Not ready: shedding load' })
  })
})
