// Streamed responses over real sockets: chunks reach the client as they are produced (a
// ReadableStream, an async generator, a Response with a stream body); a client that hangs up
// cancels the stream (its finally runs) and fires req.signal; a slow reader keeps memory bounded
// (credit flow control); sse() events, heartbeats and fan-out; close() ends an endless stream.
// Handlers and test talk through a BroadcastChannel (test/fixtures/streaming.ts): no timings.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { request } from 'undici'
import type { Dispatcher } from 'undici'
import { start } from './helpers.ts'
import type { Running } from './helpers.ts'

const NAMES = ['chunks', 'readable', 'response', 'endless', 'waits', 'big', 'events', 'ticks']
const routes = NAMES.map((name): [string, string, string] => ['GET', `/${name}`, `./streaming.ts#${name}`])

const channel = new BroadcastChannel('isopool-streaming-test')
const heard: string[] = []
const waiters = new Set<() => void>()
channel.onmessage = (e: MessageEvent) => {
  heard.push(String(e.data))
  for (const w of waiters) w()
}
const tell = (msg: string): void => channel.postMessage(msg)
/** Resolves once `count` messages matching have been heard (since the start). */
function hear (match: (m: string) => boolean, count = 1): Promise<void> {
  return new Promise(resolve => {
    const check = (): void => {
      if (heard.filter(match).length >= count) {
        waiters.delete(check)
        resolve()
      }
    }
    waiters.add(check)
    check()
  })
}

let app: Running
beforeAll(async () => {
  app = await start({ isolates: 2, routes: [{ method: 'GET', path: '/waits-briefly', handler: './streaming.ts#waits', timeout: 100 }] }, routes)
})
afterAll(async () => {
  await app?.close()
  channel.close()
})

/** Read the body chunk by chunk until `text` has all arrived; returns what has. */
async function readUntil (it: AsyncIterator<Buffer>, sofar: { text: string }, text: string): Promise<void> {
  while (!sofar.text.includes(text)) {
    const r = await it.next()
    if (r.done === true) throw new Error(`ended before ${JSON.stringify(text)}: ${JSON.stringify(sofar.text)}`)
    sofar.text += r.value.toString('utf8')
  }
}

async function open (path: string): Promise<{ res: Dispatcher.ResponseData, it: AsyncIterator<Buffer>, got: { text: string } }> {
  const res = await request(app.url + path, { dispatcher: app.agent })
  return { res, it: res.body[Symbol.asyncIterator](), got: { text: '' } }
}

describe('a streamed response', () => {
  it('from an async generator: each chunk reaches the client before the next is produced', async () => {
    const { res, it, got } = await open('/chunks?key=c1')
    expect(res.statusCode).toBe(200)
    expect(res.headers['transfer-encoding']).toBe('chunked')
    expect(res.headers['content-length']).toBeUndefined()
    await readUntil(it, got, 'one;')
    // The handler waits for go2 before it produces chunk two: the client has chunk one first.
    expect(heard).not.toContain('produced2:c1')
    expect(got.text).toBe('one;')
    tell('go2:c1')
    await readUntil(it, got, 'two;')
    tell('go3:c1')
    await readUntil(it, got, 'three;')
    expect((await it.next()).done).toBe(true)
    expect(got.text).toBe('one;two;three;')
  })

  it('from a ReadableStream, and a Response with a stream body (its status and headers kept)', async () => {
    for (const path of ['readable', 'response']) {
      const { res, it, got } = await open(`/${path}?key=${path}`)
      expect(res.statusCode).toBe(path === 'response' ? 201 : 200)
      if (path === 'response') {
        expect(res.headers['x-kind']).toBe('stream')
        expect(res.headers['content-type']).toBe('text/plain; charset=utf-8')
      }
      await readUntil(it, got, 'first;')
      expect(got.text).toBe('first;')
      tell(`go:${path}`)
      await readUntil(it, got, 'second;')
      expect((await it.next()).done).toBe(true)
      expect(got.text).toBe('first;second;')
    }
  })

  it('is cancelled when the client hangs up: the generator\'s finally runs and req.signal fires', async () => {
    const { it, got } = await open('/endless?key=h1')
    await readUntil(it, got, 'tick 1;')
    await it.return?.() // destroys the body: the connection closes
    await Promise.all([hear(m => m === 'finally:h1'), hear(m => m === 'aborted:h1')])
  })

  it('answers HEAD with the head alone, and cancels the stream', async () => {
    const res = await request(app.url + '/endless?key=head1', { method: 'HEAD', dispatcher: app.agent })
    expect(res.statusCode).toBe(200)
    expect(await res.body.text()).toBe('')
    await hear(m => m === 'finally:head1')
  })

  it('req.signal fires on a handler still running when its client disconnects', async () => {
    const ac = new AbortController()
    const pending = request(app.url + '/waits?key=w1', { dispatcher: app.agent, signal: ac.signal }).catch(err => err as Error)
    await hear(m => m === 'started:w1')
    ac.abort()
    expect(await pending).toBeInstanceOf(Error)
    await hear(m => m === 'signal:w1')
  })

  it('req.signal fires when the route\'s timeout passes before the head (the client gets 504)', async () => {
    const r = await app.get('/waits-briefly?key=t1')
    expect(r.status).toBe(504)
    await hear(m => m === 'signal:t1')
  })

  it('a slow reader of a 200 MB stream keeps the server\'s memory bounded', async () => {
    const { res, it } = await open('/big')
    expect(res.statusCode).toBe(200)
    let bytes = 0
    // The first 16 MiB warm the heaps up (both threads' young generations, undici's buffers):
    // what is measured is growth with the stream's length, which without flow control is the
    // whole 200 MB the producer would run ahead.
    while (bytes < 16 * 1024 * 1024) bytes += (await it.next()).value!.byteLength
    const before = process.memoryUsage().rss
    let peak = before
    let sincePause = 0
    for (;;) {
      const r = await it.next()
      if (r.done === true) break
      bytes += r.value.byteLength
      sincePause += r.value.byteLength
      // Slow: a pause every 8 MiB, long enough for an unpaced producer to run far ahead.
      if (sincePause >= 8 * 1024 * 1024) {
        sincePause = 0
        peak = Math.max(peak, process.memoryUsage().rss)
        await new Promise(resolve => setTimeout(resolve, 50))
        peak = Math.max(peak, process.memoryUsage().rss)
      }
    }
    expect(bytes).toBe(200 * 1024 * 1024)
    expect(peak - before).toBeLessThan(64 * 1024 * 1024)
  }, 60_000)
})

describe('sse()', () => {
  it('sends events as text/event-stream, multi-line data as several data lines, and heartbeats while idle', async () => {
    const { res, it, got } = await open('/events?key=e1')
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toBe('text/event-stream')
    expect(res.headers['cache-control']).toBe('no-cache')
    expect(res.headers['content-encoding']).toBeUndefined()
    await readUntil(it, got, 'data: line\n\n')
    expect(got.text).toBe('data: hello\n\n' +
      'event: obj\nid: 7\nretry: 1000\ndata: {"a":1}\n\n' +
      'data: multi\ndata: line\n\n')
    await readUntil(it, got, ': heartbeat\n\n')
    tell('go:e1')
    await readUntil(it, got, 'data: after\n\n')
    expect((await it.next()).done).toBe(true)
    expect(got.text.endsWith('data: after\n\n')).toBe(true)
  })

  it('reaches 100 concurrent clients with every event', async () => {
    const before = heard.filter(m => m === 'subscribed').length
    const clients = await Promise.all(Array.from({ length: 100 }, () => open('/ticks')))
    await hear(m => m === 'subscribed', before + 100)
    for (let i = 1; i <= 5; i++) tell(`tick:${i}`)
    tell('tick:end')
    const texts = await Promise.all(clients.map(async ({ it, got }) => {
      for (let r = await it.next(); r.done !== true; r = await it.next()) got.text += r.value.toString('utf8')
      return got.text
    }))
    const expected = [1, 2, 3, 4, 5].map(i => `event: tick\ndata: ${i}\n\n`).join('')
    for (const text of texts) expect(text.replaceAll(': heartbeat\n\n', '')).toBe(expected)
  }, 30_000)
})

describe('shutdown', () => {
  it('ends an endless stream (its finally runs) instead of waiting for it', async () => {
    const own = await start({ isolates: 1, shutdownTimeout: 120_000 }, routes)
    const res = await request(own.url + '/endless?key=s1', { dispatcher: own.agent })
    const it = res.body[Symbol.asyncIterator]()
    await readUntil(it, { text: '' }, 'tick 0;')
    await own.close() // would wait the whole shutdownTimeout for the stream, past this test's
    // The body ends (cleanly or cut), and the isolate's generator ran its finally.
    await (async () => { try { while ((await it.next()).done !== true); } catch {} })()
    await hear(m => m === 'finally:s1')
  }, 20_000)
})
