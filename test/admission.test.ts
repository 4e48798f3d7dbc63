// Admission by expected wait, over sockets, with the load generator in a process of its own: a
// burst the isolates clear in time is taken whole, whatever its size; sustained overload is shed
// at the door with 503 and a Retry-After, and what is admitted is answered in time.
import { afterEach, describe, expect, it } from 'vitest'
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { start } from './helpers.ts'
import type { Running } from './helpers.ts'

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
    app = await start({ isolates: 2 }, [['GET', '/hello', './basic.ts#hello']])
    await app.get('/hello') // the route's cost is known
    const r = await client('burst', app.url, '8000', '/hello')
    expect(r.errors).toBe(0)
    expect(r.statuses).toEqual({ 200: 8000 })
  })

  it('sheds sustained overload of a 10 ms handler with 503 and Retry-After, and answers the rest in time', async () => {
    app = await start({ isolates: 2 }, [['GET', '/ten', './slow.ts#tenMs'], ['GET', '/readyz-probe', './basic.ts#hello']])
    for (let i = 0; i < 4; i++) await app.get('/ten') // the route's cost is known
    // 500 closed-loop clients on 2 isolates: an expected wait of ~2.5 s, over the default 1 s.
    const [r, ready] = await Promise.all([
      client('overload', app.url, '500', '5', '/ten'),
      new Promise(resolve => setTimeout(resolve, 2500)).then(() => app!.get('/readyz'))
    ])
    expect(r.errors).toBe(0)
    expect(Object.keys(r.statuses).sort()).toEqual(['200', '503'])
    expect(r.statuses['503']).toBeGreaterThan(0)
    expect(r.noRetryAfter).toBe(0)
    expect(r.p99).toBeLessThan(1500)
    // While it sheds, /readyz tells a load balancer to send its traffic elsewhere.
    expect(ready.status).toBe(503)
    expect(ready.json.error.message).toBe('Not ready: shedding load')
  })
})
