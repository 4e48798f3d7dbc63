// Start-up, module state and shutdown.
import { describe, expect, it } from 'vitest'
import { execFile } from 'node:child_process'
import { createServer } from 'isopool'
import { fixtures, start } from './helpers.ts'
import { until } from './observe.ts'

/** Run the lifecycle script in its own process; it must end by itself within `ms`. */
function runScript (arg: string, ms = 20_000): Promise<{ out: any, code: number | null }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [fixtures + 'lifecycle-script.ts', arg], { timeout: ms, killSignal: 'SIGKILL' }, (err, stdout) => {
      if (err && (err as { killed?: boolean }).killed) reject(new Error(`the process did not exit by itself within ${ms} ms`))
      else resolve({ out: JSON.parse(stdout.trim().split('\n').at(-1)!), code: err ? (err as { code: number }).code : 0 })
    })
  })
}

describe('listen()', () => {
  it('serves, and after close() the process ends by itself', async () => {
    const { out, code } = await runScript('serve')
    expect(out).toEqual({ status: 200, body: { hello: 'world' } })
    expect(code).toBe(0)
  })

  it('rejects when a module cannot be found, naming it, and leaves nothing running', async () => {
    const { out } = await runScript('./no-such-module.ts#handler')
    expect(out.code).toBe('ISOPOOL_ERR_MODULE_IMPORT')
    expect(out.message).toContain('no-such-module.ts')
  })

  it('rejects when a module throws while it is imported', async () => {
    const { out } = await runScript('./throws-at-import.ts#never')
    expect(out.code).toBe('ISOPOOL_ERR_MODULE_IMPORT')
    expect(out.message).toContain('throws-at-import.ts')
    expect(out.message).toContain('cannot connect to the database at import time')
  })

  it('rejects when an export is missing, naming module and export', async () => {
    const { out } = await runScript('./basic.ts#doesNotExist')
    expect(out).toEqual({ code: 'ISOPOOL_ERR_EXPORT_MISSING', message: `Module ${fixtures}basic.ts has no export "doesNotExist"` })
  })

  it('rejects when an export is not a function', async () => {
    const { out } = await runScript('./not-a-function.ts#config')
    expect(out.code).toBe('ISOPOOL_ERR_EXPORT_NOT_FUNCTION')
    expect(out.message).toBe(`Export "config" of module ${fixtures}not-a-function.ts is a object, not a function`)
  })

  it('frees the port when it rejects', async () => {
    const first = createServer({ isolates: 1, root: fixtures }).route('GET', '/', './basic.ts#hello')
    const { port } = await first.listen()
    try {
      const second = createServer({ isolates: 1, root: fixtures }).route('GET', '/', './basic.ts#hello')
      await expect(second.listen({ port })).rejects.toMatchObject({ code: 'ISOPOOL_ERR_LISTEN', cause: { code: 'EADDRINUSE' } })
    } finally {
      await first.close()
    }
  })

  it('refuses bad options and routes with coded errors', () => {
    expect(() => createServer({ isolates: 0 })).toThrow(expect.objectContaining({ code: 'ISOPOOL_ERR_INVALID_OPTION' }))
    expect(() => createServer({ ringSize: 5000 })).toThrow(expect.objectContaining({ code: 'ISOPOOL_ERR_INVALID_OPTION' }))
    expect(() => createServer({ poll: -1 })).toThrow(expect.objectContaining({ code: 'ISOPOOL_ERR_INVALID_OPTION' }))
    expect(() => createServer({ poll: 20_000 })).toThrow(expect.objectContaining({ code: 'ISOPOOL_ERR_INVALID_OPTION' }))
    const s = createServer(1)
    expect(() => s.route('GET', 'no-slash', './x.ts')).toThrow(expect.objectContaining({ code: 'ISOPOOL_ERR_INVALID_ROUTE' }))
    expect(() => s.route('FETCH' as 'GET', '/', './x.ts')).toThrow(expect.objectContaining({ code: 'ISOPOOL_ERR_INVALID_ROUTE' }))
    expect(() => s.route('GET', '/a/:id/:id', './x.ts')).toThrow(expect.objectContaining({ code: 'ISOPOOL_ERR_INVALID_ROUTE' }))
    s.route('GET', '/a', './x.ts#a')
    expect(() => s.route('get', '/a', './x.ts#b')).toThrow(expect.objectContaining({ code: 'ISOPOOL_ERR_ROUTE_CONFLICT' }))
  })

  it('createServer(n) is createServer({ isolates: n }) and "auto" is one per core', () => {
    expect(createServer(3).options.isolates).toBe(3)
    expect(createServer({ isolates: 'auto' }).options.isolates).toBeGreaterThanOrEqual(1)
  })
})

describe('module state', () => {
  it('is per isolate: each isolate imports the module itself', async () => {
    const app = await start({ isolates: 2 }, [['GET', '/count', './state.ts#count'], ['GET', '/slow', './slow.ts#slow']])
    try {
      const replies = await Promise.all(Array.from({ length: 200 }, () => app.get('/count')))
      const byThread = new Map<number, number[]>()
      for (const r of replies) {
        const list = byThread.get(r.json.thread) ?? []
        list.push(r.json.count)
        byThread.set(r.json.thread, list)
      }
      expect(byThread.size).toBe(2)
      // Each isolate counted only its own requests, 1..n with no gaps: no state was shared.
      for (const counts of byThread.values()) {
        expect(counts.sort((a, b) => a - b)).toEqual(Array.from({ length: counts.length }, (_, i) => i + 1))
      }
    } finally {
      await app.close()
    }
  })
})

describe('close()', () => {
  it('lets requests in flight finish, losing none, then refuses connections', async () => {
    const app = await start({ isolates: 2 }, [['GET', '/slow', './slow.ts#slow'], ['POST', '/echo', './slow.ts#echo']])
    const inFlight = Array.from({ length: 40 }, (_, i) => app.get(`/slow?ms=${400 + i * 5}&id=${i}`))
    const upload = app.post('/echo', Buffer.alloc(500_000, 9))
    // All 41 are accepted (on an isolate, or waiting for one: the upload streams in) before close().
    await until('the 41 requests to be accepted', () => app.server.inFlight + app.server.waiting === 41)
    const closed = app.server.close()
    const replies = await Promise.all(inFlight)
    replies.forEach((r, i) => {
      expect(r.status).toBe(200)
      expect(r.json.id).toBe(String(i))
    })
    expect((await upload).body.byteLength).toBe(500_000)
    await closed
    await expect(fetch(app.url + '/slow')).rejects.toThrow()
    await app.agent.close()
  })
})
