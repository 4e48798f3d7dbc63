// reload() and the watch option: new isolates import changed modules, traffic moves to them
// with no failed request, and a module that fails to import leaves the old isolates serving.
import { afterEach, describe, expect, it } from 'vitest'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { start } from './helpers.ts'
import { until } from './observe.ts'
import type { Reply, Running } from './helpers.ts'

let app: Running | null = null
let dir = ''
afterEach(async () => {
  await app?.close()
  app = null
  rmSync(dir, { recursive: true, force: true })
})

function writeVersion (v: number | string): void {
  writeFileSync(join(dir, 'version.ts'), typeof v === 'number'
    ? `export async function version () {\n  await new Promise(resolve => setTimeout(resolve, 5))\n  return { v: ${v} }\n}\n`
    : v)
}

/** `loops` clients sending requests back to back until `stop()`; every reply is kept, in order. */
function traffic (a: Running, loops: number): { replies: Reply[], stop: () => Promise<Reply[]> } {
  let running = true
  const replies: Reply[] = []
  const all = Promise.all(Array.from({ length: loops }, async () => {
    while (running) replies.push(await a.get('/version'))
  }))
  return { replies, stop: async () => { running = false; await all; return replies } }
}

describe('reload()', () => {
  it('moves traffic to isolates with the new code, failing no request, and retires the old ones', async () => {
    dir = mkdtempSync(join(tmpdir(), 'isopool-reload-'))
    writeVersion(1)
    app = await start({ isolates: 2, root: dir }, [['GET', '/version', './version.ts#version']])
    const load = traffic(app, 16)
    // The old code answers for a while, then the reload runs under that load, then the new code
    // answers for a while: 100 replies each side (16 clients: at most 16 old ones in flight).
    await until('100 replies from the old isolates', () => load.replies.length >= 100)
    writeVersion(2)
    await app.server.reload()
    const reloaded = load.replies.length
    await until('100 replies after the reload', () => load.replies.length >= reloaded + 100)
    const replies = await load.stop()
    expect(replies.length).toBeGreaterThan(100)
    // Zero failed requests: every reply is a 200 from the old code or the new.
    expect(replies.filter(r => r.status !== 200)).toEqual([])
    const versions = replies.map(r => r.json.v)
    expect(versions).toContain(1)
    expect(versions.at(-1)).toBe(2)
    // Once reload() resolved, no client saw the old code again... after its in-flight request.
    const firstNew = versions.indexOf(2)
    expect(versions.slice(firstNew + 16).every(v => v === 2)).toBe(true)
    expect((await app.get('/readyz')).json.isolates).toBe(2)
    expect(app.server.restarts).toBe(0)
  })

  it('keeps the old isolates serving when the new code fails to import, and says why', async () => {
    dir = mkdtempSync(join(tmpdir(), 'isopool-reload-'))
    writeVersion(1)
    app = await start({ isolates: 2, root: dir }, [['GET', '/version', './version.ts#version']])
    writeVersion('export function version () { return { v: 2 }\n') // a syntax error
    await expect(app.server.reload()).rejects.toMatchObject({ code: 'ISOPOOL_ERR_MODULE_IMPORT', message: expect.stringContaining('version.ts') })
    const r = await app.get('/version')
    expect(r.status).toBe(200)
    expect(r.json.v).toBe(1)
    expect((await app.get('/readyz')).status).toBe(200)
    writeVersion(3)
    await app.server.reload()
    expect((await app.get('/version')).json.v).toBe(3)
  })
})

describe('the watch option', () => {
  it('reloads when a module under root changes', async () => {
    dir = mkdtempSync(join(tmpdir(), 'isopool-watch-'))
    writeVersion(1)
    app = await start({ isolates: 1, root: dir, watch: true }, [['GET', '/version', './version.ts#version']])
    expect((await app.get('/version')).json.v).toBe(1)
    writeVersion(2)
    // No event says the watcher reloaded: ask until the new code answers.
    await until('the new code to answer', async () => (await app!.get('/version')).json.v === 2, 10_000, 20)
  })
})
