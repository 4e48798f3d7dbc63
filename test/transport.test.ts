// The transport over real sockets: spreading load over isolates, bodies far larger than a ring,
// the body limit and the bounded queue.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { randomBytes, createHash } from 'node:crypto'
import { connect } from 'node:net'
import { Readable } from 'node:stream'
import { request } from 'undici'
import { start } from './helpers.ts'
import { Signals, until } from './observe.ts'
import { parseAll } from './raw-http.ts'
import type { Running } from './helpers.ts'

describe('four isolates under 1,000 concurrent requests', () => {
  let app: Running
  beforeAll(async () => {
    app = await start({ isolates: 4 }, [['GET', '/slow', './slow.ts#slow']])
  })
  afterAll(() => app.close())

  it('answers every request correctly and spreads them over all four', async () => {
    const replies = await Promise.all(Array.from({ length: 1000 }, (_, i) => app.get(`/slow?ms=20&id=${i}`)))
    const threads = new Map<number, number>()
    replies.forEach((r, i) => {
      expect(r.status).toBe(200)
      expect(r.json.id).toBe(String(i))
      threads.set(r.json.thread, (threads.get(r.json.thread) ?? 0) + 1)
    })
    expect(threads.size).toBe(4)
    // Placement by work in flight (one route: by requests) keeps the split even; none gets < a tenth.
    for (const n of threads.values()) expect(n).toBeGreaterThan(100)
  })
})

// An isolate waiting for requests by sleeping at once (poll: 0) and by polling first (it looks for
// frames between event-loop turns before it sleeps): the same traffic must come through whole.
describe.each([0, 2000])('the rings with poll: %i', (poll) => {
  let app: Running
  beforeAll(async () => {
    app = await start({ isolates: 2, poll, ringSize: 64 * 1024, maxBodySize: 4 * 1024 * 1024 }, [
      ['GET', '/slow', './slow.ts#slow'], ['POST', '/echo', './slow.ts#echo']
    ])
  })
  afterAll(() => app.close())

  it('answers small and large requests in flight together, in order and byte for byte', async () => {
    const bodies = Array.from({ length: 20 }, (_, i) => randomBytes(1 + i * 50_000))
    const [small, large] = await Promise.all([
      Promise.all(Array.from({ length: 200 }, (_, i) => app.get(`/slow?ms=${i % 3}&id=${i}`))),
      Promise.all(bodies.map(b => app.post('/echo', b)))
    ])
    small.forEach((r, i) => expect(r.json.id).toBe(String(i)))
    large.forEach((r, i) => expect(Buffer.compare(r.body, bodies[i])).toBe(0))
    // One at a time too: each request then meets a thread that ran dry (polling or asleep).
    for (let i = 0; i < 20; i++) expect((await app.get(`/slow?ms=0&id=${i}`)).json.id).toBe(String(i))
  })
})

describe('placement by expected work', () => {
  let app: Running
  beforeAll(async () => {
    app = await start({ isolates: 2 }, [['GET', '/spin', './slow.ts#spin'], ['GET', '/thread', './slow.ts#thread']])
  })
  afterAll(() => app.close())

  it('sends light requests past an isolate busy with a long synchronous job', async () => {
    // Let the server learn what each route costs: one long job, a few light requests.
    await app.get('/spin?ms=150')
    for (let i = 0; i < 5; i++) await app.get('/thread')
    const job = app.get('/spin?ms=400')
    // The job is placed first.
    await until('the job to be placed', () => app.server.inFlight === 1)
    // Fewest-in-flight would put every other one of these behind the job (1 vs 1 in flight).
    const light = await Promise.all(Array.from({ length: 6 }, () => app.get('/thread')))
    const busy = (await job).json.thread
    for (const r of light) {
      expect(r.status).toBe(200)
      expect(r.json.thread).not.toBe(busy)
    }
  })
})

/** Four long requests, then (once they are in) a light one: the order the answers come in. */
async function race (app: Running): Promise<string[]> {
  const order: string[] = []
  const jobs = [1, 2, 3, 4].map(i => app.get(`/spin?ms=100&id=${i}`).then(() => order.push(`long ${i}`)))
  // The four long requests arrive first: each is on the isolate or held in the main thread.
  await until('the four long requests to arrive', () => app.server.inFlight + app.server.waiting === 4)
  await Promise.all([...jobs, app.get('/thread').then(() => order.push('light'))])
  return order
}

describe('long requests held in the main thread', () => {
  let app: Running
  beforeEach(async () => {
    app = await start({ isolates: 1 }, [
      ['GET', '/spin', './slow.ts#spin'], ['GET', '/thread', './slow.ts#thread'], ['GET', '/overlap', './slow.ts#overlap']
    ])
    // Let the server learn what each route costs: one long job, a few light requests.
    await app.get('/spin?ms=100')
    for (let i = 0; i < 5; i++) await app.get('/thread')
  })
  afterEach(() => app.close())

  it('lets a light request overtake all but one long one while light requests come', async () => {
    expect(await race(app)).toEqual(['long 1', 'light', 'long 2', 'long 3', 'long 4'])
  })

  it('does not hold back requests that wait on I/O rather than compute', async () => {
    // Answered after 100 ms, one at a time: slow, but its isolate was free all along.
    await app.get('/overlap?ms=100')
    const replies = await Promise.all(Array.from({ length: 6 }, () => app.get('/overlap?ms=100')))
    expect(Math.max(...replies.map(r => r.json.most))).toBe(6)
  })

  // Two long ones on an isolate once no light request came for a while: test/unit/dispatch.test.ts,
  // with a clock it moves instead of a sleep past the window.
})

describe('long requests of a route that was light a moment ago', () => {
  let app: Running
  beforeAll(async () => {
    app = await start({ isolates: 1 }, [['GET', '/spin', './slow.ts#spin'], ['GET', '/thread', './slow.ts#thread']])
  })
  afterAll(() => app.close())

  it('counts only other routes as light requests to protect', async () => {
    // /spin is light first (its own light request is the last one placed), then long.
    await app.get('/spin?ms=0')
    await app.get('/spin?ms=100')
    // No other route's light request came before them: two went to the isolate, as with none.
    expect(await race(app)).toEqual(['long 1', 'long 2', 'light', 'long 3', 'long 4'])
  })
})

describe('bodies larger than the ring', () => {
  let app: Running
  beforeAll(async () => {
    app = await start({ isolates: 2, ringSize: 64 * 1024, maxBodySize: 16 * 1024 * 1024 }, [['POST', '/echo', './slow.ts#echo']])
  })
  afterAll(() => app.close())

  it('echoes 8 MiB byte for byte through a 64 KiB ring', async () => {
    const body = randomBytes(8 * 1024 * 1024)
    const r = await app.post('/echo', body)
    expect(r.status).toBe(200)
    expect(r.body.byteLength).toBe(body.byteLength)
    expect(createHash('sha256').update(r.body).digest('hex')).toBe(createHash('sha256').update(body).digest('hex'))
  })

  it('echoes several large bodies at once without mixing them up', async () => {
    const bodies = Array.from({ length: 6 }, (_, i) => randomBytes(300_000 + i * 77_777))
    const replies = await Promise.all(bodies.map(b => app.post('/echo', b)))
    replies.forEach((r, i) => expect(Buffer.compare(r.body, bodies[i])).toBe(0))
  })

  it('echoes a large chunked body of unknown length', async () => {
    const parts = Array.from({ length: 40 }, () => randomBytes(50_000))
    const res = await request(app.url + '/echo', {
      method: 'POST',
      body: Readable.from((function * () { for (const p of parts) yield p })()),
      dispatcher: app.agent
    })
    const got = Buffer.from(await res.body.arrayBuffer())
    expect(res.statusCode).toBe(200)
    expect(Buffer.compare(got, Buffer.concat(parts))).toBe(0)
  })
})

describe('the body limit', () => {
  let app: Running
  beforeAll(async () => {
    app = await start({ isolates: 1, maxBodySize: 1000 }, [['POST', '/echo', './slow.ts#echo'], ['GET', '/slow', './slow.ts#slow']])
  })
  afterAll(() => app.close())

  it('refuses a Content-Length over the limit with a coded 413', async () => {
    const r = await app.post('/echo', Buffer.alloc(1001))
    expect(r.status).toBe(413)
    expect(r.json.error).toEqual({ code: 'ISOPOOL_ERR_BODY_TOO_LARGE', message: 'Request body exceeds the limit of 1000 bytes', status: 413 })
  })

  it('accepts a body of exactly the limit', async () => {
    const r = await app.post('/echo', Buffer.alloc(1000, 7))
    expect(r.status).toBe(200)
    expect(r.body.byteLength).toBe(1000)
  })

  it('stops a chunked body once it passes the limit', async () => {
    const res = await request(app.url + '/echo', {
      method: 'POST',
      body: Readable.from((function * () { for (let i = 0; i < 10; i++) yield Buffer.alloc(300) })()),
      dispatcher: app.agent
    })
    expect(res.statusCode).toBe(413)
    expect((await res.body.json() as any).error.code).toBe('ISOPOOL_ERR_BODY_TOO_LARGE')
  })

  it('keeps serving afterwards', async () => {
    expect((await app.get('/slow?ms=1')).status).toBe(200)
  })
})

describe('the bounded queue', () => {
  let app: Running
  beforeAll(async () => {
    app = await start({ isolates: 1, maxInFlight: 2, maxQueue: 3, retryAfter: 7 }, [['GET', '/slow', './slow.ts#slow']])
  })
  afterAll(() => app.close())

  it('queues past the in-flight bound and answers 503 with Retry-After past the queue bound', async () => {
    const replies = await Promise.all(Array.from({ length: 10 }, (_, i) => app.get(`/slow?ms=300&id=${i}`)))
    const ok = replies.filter(r => r.status === 200)
    const refused = replies.filter(r => r.status === 503)
    // 2 in flight + 3 queued are served, the other 5 are refused at once — none is dropped.
    expect(ok).toHaveLength(5)
    expect(refused).toHaveLength(5)
    for (const r of refused) {
      expect(r.headers['retry-after']).toBe('7')
      expect(r.json.error.code).toBe('ISOPOOL_ERR_OVERLOADED')
    }
  })

  it('gives the queue place of a client that went away to the next request', async () => {
    const hold = Array.from({ length: 2 }, () => app.get('/slow?ms=400'))
    await until('two requests to fill the isolate', () => app.server.inFlight === 2)
    // Three raw clients queue a request each (filling the queue of 3), then hang up.
    const port = Number(new URL(app.url).port)
    const socks = await Promise.all(Array.from({ length: 3 }, () => new Promise<ReturnType<typeof connect>>(resolve => {
      const sock = connect(port, '127.0.0.1', () => resolve(sock))
    })))
    for (const sock of socks) sock.write('GET /slow?ms=400&id=gone HTTP/1.1\r\nhost: x\r\n\r\n')
    await until('three requests to queue', () => app.server.waiting === 3)
    for (const sock of socks) sock.destroy()
    await until('the queue to drop them', () => app.server.waiting === 0)
    expect(app.server.inFlight).toBe(2)
    // Had they kept their places, these three would be refused with 503.
    const after = await Promise.all(Array.from({ length: 3 }, (_, i) => app.get(`/slow?ms=1&id=after${i}`)))
    for (const [i, r] of after.entries()) {
      expect(r.status).toBe(200)
      expect(r.json.id).toBe(`after${i}`)
    }
    for (const r of await Promise.all(hold)) expect(r.status).toBe(200)
  })
})

describe('responses a slow reader has not taken yet', () => {
  let app: Running
  beforeAll(async () => {
    app = await start({ isolates: 2 }, [['GET', '/numbered', './big.ts#numbered']])
  })
  afterAll(() => app.close())

  // The main thread builds each response in one reused buffer while the kernel takes every write
  // whole; a write it cannot finish keeps that memory, and the responses built meanwhile for
  // other clients must not land in it.
  it('reach it intact while other clients are answered', async () => {
    const port = Number(new URL(app.url).port)
    const sock = connect(port, '127.0.0.1')
    await new Promise(resolve => sock.once('connect', resolve))
    const chunks: Buffer[] = []
    sock.on('data', (chunk: Buffer) => chunks.push(chunk))
    sock.pause()
    const count = 60
    const signals = new Signals()
    // 60 × 100 KiB pipelined on one connection nobody reads: more than the socket buffers hold.
    sock.write(Array.from({ length: count }, (_, i) => `GET /numbered?n=${i}&kib=100&signal=${signals.name} HTTP/1.1\r\nhost: x\r\n\r\n`).join(''))
    // Its answers are under way (ten of them, 1 MiB, fit in any socket buffers) when the others come.
    await signals.wait('ten answers to the slow reader', seen => seen.length >= 10)
    signals.close()
    const others = await Promise.all(Array.from({ length: 40 }, (_, i) => app.get(`/numbered?n=${1000 + i}&kib=100`)))
    others.forEach((r, i) => expect(r.text).toBe(`${1000 + i};`.repeat(Math.ceil(102400 / 5)).slice(0, 102400)))
    sock.resume()
    let parsed = parseAll(Buffer.alloc(0), [], false)
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${parsed.finals} of ${count} answers after 10 s`)), 10_000)
      const check = (): void => {
        parsed = parseAll(Buffer.concat(chunks), Array.from({ length: count }, () => 'GET'), false)
        if (parsed.finals < count) return
        clearTimeout(timer)
        sock.off('data', check)
        resolve()
      }
      sock.on('data', check)
      check()
    })
    sock.destroy()
    parsed.responses.forEach((r, i) => {
      expect(r.status).toBe(200)
      const n = String(i)
      expect(r.body.toString('latin1') === `${n};`.repeat(Math.ceil(102400 / (n.length + 1))).slice(0, 102400), `response ${i}`).toBe(true)
    })
  })
})
