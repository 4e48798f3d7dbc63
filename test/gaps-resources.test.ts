// Gaps the mutation run of issue 19 found where the behaviour is a resource, measured here rather
// than inferred from a status: an upload nobody can take is not read (the client gets no more in
// than the sockets' buffers hold, and nothing more while it waits); reload() leaves no old isolate
// running (threads counted in the process report); a crash loop backs off (failed starts counted
// and the gaps between them measured). Bounds are generous; where time is the behaviour, only
// lower bounds, which load can only lengthen, are asserted tightly.
import { afterEach, describe, expect, it } from 'vitest'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import type { Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { start } from './helpers.ts'
import type { Running } from './helpers.ts'
import { parseAll } from './raw-http.ts'

let app: Running | null = null
let dir = ''
afterEach(async () => {
  await app?.close()
  app = null
  if (dir !== '') rmSync(dir, { recursive: true, force: true })
  dir = ''
})

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

/** Poll `pred` every 20 ms until it holds; fail after `ms` (a generous bound, not a timing claim). */
async function until (pred: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}

// ── 4. upload backpressure ────────────────────────────────────────────────────────────────────

const MiB = 1 << 20
/** Far more than loopback's socket buffers hold (a few MiB here) and than the server may keep. */
const UPLOAD = 32 * MiB

interface Upload {
  sock: Socket
  /** Body bytes the client's kernel has taken so far (each piece is written once the last one
   * was): what the server has read, plus what sits in the two sockets' buffers. */
  accepted (): number
  /** The response, once the body has all been sent and answered. */
  response (): Promise<{ status: number, body: string }>
}

/** POST `UPLOAD` bytes to /upload, each 64 KiB piece as soon as the kernel took the one before:
 * the client sends as fast as the server reads, and stops when the server stops. */
async function upload (port: number): Promise<Upload> {
  const sock = connect(port, '127.0.0.1')
  await new Promise(resolve => sock.once('connect', resolve))
  sock.on('error', () => {})
  let data = Buffer.alloc(0)
  sock.on('data', (d: Buffer) => { data = Buffer.concat([data, d]) })
  sock.write(`POST /upload HTTP/1.1\r\nhost: x\r\ncontent-length: ${UPLOAD}\r\n\r\n`)
  const piece = Buffer.alloc(64 * 1024, 0x61)
  let accepted = 0
  void (async () => {
    while (accepted < UPLOAD && !sock.destroyed) {
      await new Promise<unknown>(resolve => sock.write(piece, resolve))
      accepted += piece.byteLength
    }
  })()
  return {
    sock,
    accepted: () => accepted,
    response: async () => {
      await until(() => parseAll(data, ['POST'], false).finals === 1, 'the upload\'s response', 30_000)
      const [r] = parseAll(data, ['POST'], false).responses
      return { status: r.status, body: r.body.toString() }
    }
  }
}

/** What the client got the server to take once the sockets' buffers have filled (no change for
 * 200 ms, however long filling them took), and again `more` ms later. A server that stopped
 * reading takes nothing more in between. */
async function acceptedOverTime (accepted: () => number, more: number): Promise<[number, number]> {
  let first = accepted()
  for (let still = 0, end = Date.now() + 5000; still < 200 && Date.now() < end;) {
    await sleep(50)
    const now = accepted()
    still = now === first ? still + 50 : 0
    first = now
  }
  await sleep(more)
  return [first, accepted()]
}

describe('an upload the isolate cannot take', () => {
  const routes: [string, string, string][] = [
    ['GET', '/block', './gaps/backpressure.ts#block'],
    ['GET', '/block-soon', './gaps/backpressure.ts#blockSoon'],
    ['POST', '/upload', './gaps/backpressure.ts#upload']
  ]
  // One isolate, no shedding by time (the upload waits as long as the isolate is held), and room
  // for the whole body once it can be taken.
  const options = { isolates: 1, maxQueueWait: 0, maxBodySize: 64 * MiB }

  it('while it waits for a busy isolate: the server stops reading it (the client can send no more than the sockets hold), then serves it whole', async () => {
    dir = mkdtempSync(join(tmpdir(), 'isopool-gaps-'))
    const marker = join(dir, 'blocking')
    app = await start(options, routes)
    const port = Number(new URL(app.url).port)
    const blocked = app.get(`/block?ms=5000&marker=${encodeURIComponent(marker)}`)
    await until(() => existsSync(marker), 'the isolate to be held')
    const up = await upload(port)
    const [first, later] = await acceptedOverTime(up.accepted, 2000)
    // The server read what one socket read brings and stopped: the rest stays with the client,
    // and nothing more goes in while the isolate is held.
    expect(later).toBeLessThan(UPLOAD / 2)
    expect(later - first).toBeLessThan(MiB)
    expect((await blocked).text).toBe('unblocked')
    // Once the isolate is free the body flows again, every byte of it.
    expect(await up.response()).toEqual({ status: 200, body: JSON.stringify({ length: UPLOAD, sum: (UPLOAD / 4096 * 0x61) % 65521 }) })
    up.sock.destroy()
  })

  it('while its isolate has it and stops reading its ring: the server pauses the socket instead of queueing the body', async () => {
    dir = mkdtempSync(join(tmpdir(), 'isopool-gaps-'))
    const marker = join(dir, 'blocking')
    app = await start(options, routes)
    const port = Number(new URL(app.url).port)
    // The isolate answers, then holds itself from a timer: no handler runs, so it still takes the
    // upload into its ring, which fills; the rest must wait for room, with the socket paused.
    expect((await app.get(`/block-soon?ms=5000&marker=${encodeURIComponent(marker)}`)).text).toBe('armed')
    await until(() => existsSync(marker), 'the isolate to be held')
    const up = await upload(port)
    const [first, later] = await acceptedOverTime(up.accepted, 2000)
    expect(later).toBeLessThan(UPLOAD / 2)
    expect(later - first).toBeLessThan(MiB)
    expect(await up.response()).toEqual({ status: 200, body: JSON.stringify({ length: UPLOAD, sum: (UPLOAD / 4096 * 0x61) % 65521 }) })
    up.sock.destroy()
  })
})

// ── 5. reload() retires the old isolates ──────────────────────────────────────────────────────

/** The threads of this process's worker_threads that are alive now, by threadId (the process
 * report lists every live worker). */
function liveThreads (): Set<number> {
  const report = process.report.getReport() as unknown as { workers: { header: { threadId: number } }[] }
  return new Set(report.workers.map(w => w.header.threadId))
}

describe('reload()', () => {
  it('leaves no old isolate running: the live threads after it are the new generation\'s alone', async () => {
    const before = liveThreads() // whatever else this process runs
    const isolates = (): number[] => [...liveThreads()].filter(t => !before.has(t))
    app = await start({ isolates: 2, spares: 1 }, [['GET', '/whoami', './gaps/handlers.ts#whoami']])
    await until(() => app!.server.spareCount === 1, 'the spare to be ready')
    const old = isolates()
    expect(old).toHaveLength(3) // two serving, one spare
    const served = new Set((await Promise.all(Array.from({ length: 20 }, () => app!.get('/whoami')))).map(r => r.json.thread as number))
    for (const t of served) expect(old).toContain(t)

    await app.server.reload()
    await until(() => app!.server.spareCount === 1, 'the new spare to be ready')
    // reload() resolves once the old isolates have finished and stopped: their threads are gone,
    // and exactly a generation's worth (two and a spare) is running.
    await until(() => isolates().every(t => !old.includes(t)) && isolates().length === 3, 'the old isolates to stop', 10_000)
    expect(app.server.isolateCount).toBe(2)
    const now = isolates()
    const after = (await Promise.all(Array.from({ length: 20 }, () => app!.get('/whoami')))).map(r => r.json.thread as number)
    for (const t of after) {
      expect(now).toContain(t)
      expect(old).not.toContain(t)
    }
  })
})

// ── 6. crash-loop back-off ────────────────────────────────────────────────────────────────────

describe('a crash loop', () => {
  it('waits longer before each failed start: counted and timed, the gaps double from 100 ms', async () => {
    dir = mkdtempSync(join(tmpdir(), 'isopool-gaps-'))
    const broken = join(dir, 'broken')
    const startsLog = join(dir, 'starts')
    process.env.ISOPOOL_GAPS_BROKEN = broken
    process.env.ISOPOOL_GAPS_STARTS = startsLog
    const starts = (): number[] => existsSync(startsLog) ? readFileSync(startsLog, 'utf8').trim().split('\n').map(Number) : []
    try {
      app = await start({ isolates: 1 }, [['GET', '/whoami', './gaps/crash-loop.ts#whoami'], ['GET', '/exit', './gaps/crash-loop.ts#exit']])
      // It served: its death is a crash, replaced at once; every start after it fails at import.
      expect((await app.get('/whoami')).status).toBe(200)
      writeFileSync(broken, '')
      const died = Date.now()
      expect((await app.get('/exit')).status).toBe(502)
      await until(() => starts().length >= 5, 'five failed starts', 20_000)
      const at = starts()
      // Between failed start k and the next, at least 100 · 2^(k-1) ms: the back-off is a timer
      // started after the failure, so load can only make the gaps longer.
      const gaps = at.slice(1).map((t, i) => t - at[i])
      gaps.slice(0, 4).forEach((gap, k) => expect(gap, `gap ${k + 1} of ${JSON.stringify(gaps)}`).toBeGreaterThanOrEqual(100 * 2 ** k - 5))
      // So two seconds of a crash loop are a handful of tries (0, 100, 300, 700, 1500 ms plus
      // start-ups), where starting again at once would be dozens.
      await sleep(Math.max(0, died + 2000 - Date.now()))
      expect(starts().filter(t => t < died + 2000).length).toBeLessThanOrEqual(5)
      // Failed starts are not restarts (nothing that had served died again), and the pool says
      // it is not whole.
      expect(app.server.restarts).toBe(1)
      expect((await app.get('/readyz')).status).toBe(503)
      // Mended: the next try starts an isolate that serves.
      rmSync(broken)
      await until(() => app!.server.isolateCount === 1, 'the isolate to be replaced', 20_000)
      expect((await app.get('/whoami')).status).toBe(200)
    } finally {
      delete process.env.ISOPOOL_GAPS_BROKEN
      delete process.env.ISOPOOL_GAPS_STARTS
    }
  })
})
