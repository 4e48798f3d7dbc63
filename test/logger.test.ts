// The logger option over real sockets: an access line for every answer (whoever wrote it, the
// HTTP layer's own refusals too), req.log's lines with the request id and a child's bindings,
// handler errors with their context, lines logged right before an isolate dies, and the level
// of the logger holding in the isolates too.
import { afterEach, describe, expect, it } from 'vitest'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createServer } from 'isopool'
import { fixtures, start } from './helpers.ts'
import type { Running } from './helpers.ts'
import { memoryLogger } from './memory-logger.ts'
import type { Line } from './memory-logger.ts'
import { until } from './observe.ts'
import { withConn } from './raw-http.ts'


const at = (name: string): string => `${fixtures}logging.ts#${name}`

let app: Running | null = null
let dir = ''
afterEach(async () => {
  await app?.close()
  app = null
  if (dir !== '') rmSync(dir, { recursive: true, force: true })
  dir = ''
})

/** The access line of the request whose answer carried `id`. */
async function accessLine (lines: Line[], id: string): Promise<Line> {
  let found: Line | undefined
  await until(`the access line of ${id}`, () => (found = lines.find(l => l.id === id && l.status !== undefined)) !== undefined)
  return found!
}

describe('the access log', () => {
  it('writes one line per answer, whoever wrote it, with what the answer was', async () => {
    const { logger, lines } = memoryLogger()
    app = await start({
      isolates: 1,
      logger,
      maxBodySize: 16,
      modules: ['./logging-typed'],
      routes: [{ method: 'GET', path: '/stall', handler: './logging.ts#stall', timeout: 100 }]
    }, [
      ['GET', '/hello', './logging.ts#hello'],
      ['POST', '/echo', './logging.ts#echo'],
      ['GET', '/throws', './logging.ts#throws'],
      ['GET', '/refuses', './logging.ts#refuses']
    ])
    const cases: [string, () => ReturnType<Running['get']>, number, string | null, boolean][] = [
      // what, request, status, route, reached an isolate
      ['a handler\'s answer', () => app!.get('/hello?x=1'), 200, '/hello', true],
      ['no route', () => app!.get('/nowhere'), 404, null, false],
      ['another method', () => app!.post('/hello', ''), 405, null, false],
      ['a body too large', () => app!.post('/echo', 'x'.repeat(100)), 413, '/echo', false],
      ['a validation error', () => app!.get('/items/0'), 422, '/items/:id', true],
      ['a handler that throws', () => app!.get('/throws'), 500, '/throws', true],
      ['an HttpError 503', () => app!.get('/refuses'), 503, '/refuses', true],
      ['a timeout', () => app!.get('/stall'), 504, '/stall', true]
    ]
    for (const [what, send, status, route, isolated] of cases) {
      const r = await send()
      expect(r.status, what).toBe(status)
      const id = r.headers['x-request-id'] as string
      expect(typeof id, what).toBe('string')
      const line = await accessLine(lines, id)
      expect(line, what).toMatchObject({ level: 30, msg: 'request completed', status, route })
      expect(typeof line.time, what).toBe('number')
      expect(typeof line.duration, what).toBe('number')
      expect(line.duration, what).toBeGreaterThanOrEqual(0)
      expect(line.bytes, what).toBe(r.body.byteLength)
      if (isolated) expect(line.isolate, what).toBe(0)
      else expect(line.isolate, what).toBeNull()
      expect(line.aborted, what).toBeUndefined()
    }
    const first = lines.find(l => l.status === 200)!
    expect(first).toMatchObject({ method: 'GET', url: '/hello?x=1' })
    expect(lines.find(l => l.status === 405)).toMatchObject({ method: 'POST', url: '/hello' })
  })

  it('writes a line for a request the HTTP layer refused before routing, and for one it cut short', async () => {
    const { logger, lines } = memoryLogger()
    app = await start({ isolates: 1, logger }, [['POST', '/echo', './logging.ts#echo']])
    const port = Number(new URL(app.url).port)
    await withConn(port, async (c) => {
      c.write('GET /x HTTP/1.1\r\nhost: a\r\nbad header line\r\n\r\n')
      const [res] = await c.responses(['GET'])
      expect(res.status).toBe(400)
    })
    await until('the refusal line', () => lines.some(l => l.msg === 'request refused'))
    expect(lines.find(l => l.msg === 'request refused')).toMatchObject({
      level: 30, method: 'GET', url: null, status: 400, route: null, isolate: null, code: 'ISOPOOL_ERR_BAD_REQUEST'
    })
    // A request routed, whose chunked body turns out broken: the layer answers 400 itself, and the
    // request's own line says so.
    await withConn(port, async (c) => {
      c.write('POST /echo HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhelloXX')
      const [res] = await c.responses(['POST'])
      expect(res.status).toBe(400)
    })
    await until('the line of the cut request', () => lines.some(l => l.url === '/echo'))
    expect(lines.find(l => l.url === '/echo')).toMatchObject({ msg: 'request aborted', aborted: true, status: 400, route: '/echo', method: 'POST' })
  })

  it('writes 503 (queue full) and 504 lines of the main thread\'s own answers', async () => {
    const { logger, lines } = memoryLogger()
    app = await start({
      isolates: 1,
      maxInFlight: 1,
      maxQueue: 0,
      logger,
      routes: [{ method: 'GET', path: '/stall', handler: './logging.ts#stall', timeout: 300 }]
    }, [['GET', '/hello', './logging.ts#hello']])
    const stalled = app.get('/stall')
    await until('the stalled request in flight', () => app!.server.inFlight === 1)
    const shed = await app.get('/hello')
    expect(shed.status).toBe(503)
    expect(await accessLine(lines, shed.headers['x-request-id'] as string)).toMatchObject({ status: 503, route: '/hello', isolate: null })
    const timedOut = await stalled
    expect(timedOut.status).toBe(504)
    expect(await accessLine(lines, timedOut.headers['x-request-id'] as string)).toMatchObject({ status: 504, route: '/stall', isolate: 0 })
  })

  it('writes nothing with logger: false, and req.log is silent', async () => {
    const writes: string[] = []
    const write = process.stdout.write
    process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      writes.push(String(chunk))
      return (write as (...a: unknown[]) => boolean).call(process.stdout, chunk, ...rest)
    }) as typeof process.stdout.write
    try {
      app = await start({ isolates: 1, logger: false }, [['GET', '/logs', './logging.ts#logs']])
      const r = await app.get('/logs')
      expect(r.json).toEqual({ level: 'silent', info: false })
      await app.close()
      app = null
    } finally {
      process.stdout.write = write
    }
    expect(writes.filter(w => w.includes('"msg"'))).toEqual([])
  })

  it('builds pino from an options object: its level holds on the main thread and in the isolates', async () => {
    dir = mkdtempSync(join(tmpdir(), 'isopool-logger-'))
    const file = join(dir, 'log')
    app = await start({
      isolates: 1,
      logger: { level: 'warn', transport: { target: 'pino/file', options: { destination: file } } }
    }, [['GET', '/logs', './logging.ts#logs'], ['GET', '/throws', './logging.ts#throws']])
    const r = await app.get('/logs')
    expect(r.json).toEqual({ level: 'warn', info: false })
    expect((await app.get('/throws')).status).toBe(500)
    // close() flushes the logger (here a transport on a thread of its own) after the isolates stopped.
    await app.close()
    app = null
    const lines = readFileSync(file, 'utf8').trim().split('\n').map(l => JSON.parse(l) as Line)
    expect(lines.map(l => l.msg)).toEqual(['from a child', 'handler failed'])
    expect(lines.every(l => l.level >= 40)).toBe(true)
  })

  it('refuses a logger option that is none', () => {
    for (const logger of [42, 'yes', null, [], { level: 'loudest' }]) {
      expect(() => createServer({ logger: logger as never }), JSON.stringify(logger)).toThrow(expect.objectContaining({ code: 'ISOPOOL_ERR_INVALID_OPTION' }))
    }
  })
})

describe('req.log', () => {
  it('writes pino lines carrying the request id, a child\'s bindings, the isolate', async () => {
    const { logger, lines } = memoryLogger()
    app = await start({ isolates: 1, logger }, [['GET', '/logs', './logging.ts#logs'], ['GET', '/error', './logging.ts#logsError']])
    const r = await app.get('/logs')
    expect(r.json).toEqual({ level: 'info', info: true })
    const id = r.headers['x-request-id'] as string
    await until('both lines', () => lines.filter(l => l.id === id && l.status === undefined).length === 2)
    const [hello, child] = lines.filter(l => l.id === id && l.status === undefined)
    expect(hello).toMatchObject({ level: 30, msg: 'hello world, 3 times', id, isolate: 0 })
    expect(child).toMatchObject({ level: 40, msg: 'from a child', id, user: 7, a: 1, isolate: 0 })
    expect(typeof hello.time).toBe('number')
    expect(hello.time).toBeLessThanOrEqual((await accessLine(lines, id)).time)
    // debug is below the logger's level: dropped in the isolate.
    expect(lines.some(l => l.msg?.startsWith('below info'))).toBe(false)

    const e = await app.get('/error')
    const eid = e.headers['x-request-id'] as string
    await until('the error line', () => lines.some(l => l.id === eid && l.level === 50))
    const line = lines.find(l => l.id === eid && l.level === 50)!
    expect(line.msg).toBe('bad thing')
    expect(line.err).toMatchObject({ type: 'TypeError', message: 'bad thing: the root of it' })
    expect(line.err.stack).toMatch(/^TypeError: bad thing\n\s+at (?:\S+\.)?logsError [\s\S]*\ncaused by: Error: the root of it/)
  })

  it('sends a handler\'s error as an error line with its request and route', async () => {
    const { logger, lines } = memoryLogger()
    app = await start({ isolates: 1, logger }, [['GET', '/throws', './logging.ts#throws']])
    const r = await app.get('/throws?q=1')
    expect(r.status).toBe(500)
    const id = r.headers['x-request-id'] as string
    await until('the error line', () => lines.some(l => l.id === id && l.level === 50))
    expect(lines.find(l => l.id === id && l.level === 50)).toMatchObject({
      msg: 'handler failed',
      method: 'GET',
      url: '/throws?q=1',
      route: 'GET /throws',
      handler: at('throws'),
      isolate: 0,
      err: { type: 'Error', message: 'kaput', stack: expect.stringMatching(/^Error: kaput\n\s+at (?:\S+\.)?throws /) }
    })
  })

  it('loses no line of an isolate that exits, or is terminated, right after logging it', async () => {
    const { logger, lines } = memoryLogger()
    app = await start({ isolates: 1, logger, timeout: 200, hardTimeout: 500 }, [
      ['GET', '/exits', './logging.ts#exits'],
      ['GET', '/spins', './logging.ts#spins']
    ])
    const exited = await app.get('/exits')
    expect(exited.status).toBe(502)
    const id = exited.headers['x-request-id'] as string
    await until('the line and the 502', () => lines.some(l => l.id === id && l.msg === 'about to exit') && lines.some(l => l.id === id && l.status === 502))
    expect(lines.find(l => l.id === id && l.status === 502)).toMatchObject({ route: '/exits', isolate: 0 })
    // Delivered before the isolate's exit, which is when its requests are answered 502.
    expect(lines.findIndex(l => l.msg === 'about to exit')).toBeLessThan(lines.findIndex(l => l.status === 502))

    await until('a new isolate', () => app!.server.isolateCount === 1)
    const spun = await app.get('/spins')
    expect(spun.status).toBe(504)
    const sid = spun.headers['x-request-id'] as string
    await until('the replacement of the spinning isolate', () => app!.server.restarts === 2)
    expect(lines.find(l => l.id === sid && l.msg === 'about to spin')).toMatchObject({ level: 40 })
  })

  it('writes the lines of requests that finish while the server closes', async () => {
    const { logger, lines } = memoryLogger()
    app = await start({ isolates: 1, logger }, [['GET', '/late', './logging.ts#late']])
    const late = app.get('/late?ms=100')
    await until('the request in flight', () => app!.server.inFlight === 1)
    const closed = app.server.close()
    expect((await late).status).toBe(200)
    await closed
    expect(lines.some(l => l.msg === 'late line')).toBe(true)
    expect(lines.some(l => l.url === '/late?ms=100' && l.status === 200)).toBe(true)
  })
})
