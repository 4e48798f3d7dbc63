// The main thread's side of the logger option (src/main/logger.ts), without sockets: the option's
// forms, the level the isolates are told, the access line of an answer, a refusal and a cut-short
// answer, an isolate's records written through pino with their own time and err field; and the
// access line the service writes itself, byte for byte what logger.info writes, or left to it.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { tracingChannel } from 'node:diagnostics_channel'
import os from 'node:os'
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs'
import path from 'node:path'
import { pino } from 'pino'
import type { LoggerOptions } from 'pino'
import { AccessLog, asDuration, HOLD_MS, isolateLevel, isolateLogConfig, loggerService, serverLogger } from '../../src/main/logger.ts'
import { resolveOptions } from '../../src/main/options.ts'
import { memoryLogger } from '../memory-logger.ts'
import type { Http1Request, Http1Response } from '../../src/main/http1.ts'
import type { ServerOptions } from '../../src/main/options.ts'
import type { LogRecord } from '../../src/shared/protocol.ts'


const resolved = (logger: ServerOptions['logger']) => resolveOptions({ isolates: 1, logger })

/** What finished() reads of a request and its response. */
function answered (req: Partial<Http1Request>, res: Partial<Http1Response>): [Http1Request, Http1Response] {
  return [
    { id: '', method: 'GET', url: '/', route: null, isolate: -1, startedAt: performance.now(), ...req } as Http1Request,
    { statusCode: 200, bytes: 0, writableEnded: true, ...res } as Http1Response
  ]
}

const record = (r: Partial<LogRecord>): LogRecord => ({ level: 'info', time: Date.now(), msg: 'm', fields: {}, ...r })

describe('the logger option', () => {
  it('is off by default and with false', () => {
    expect(serverLogger(resolved(undefined))).toBeNull()
    expect(serverLogger(resolved(false))).toBeNull()
    expect(isolateLogConfig(resolved(false))).toBeNull()
    expect(loggerService(resolved(false))).toBeNull()
  })

  it('takes a pino logger as it is, builds one from options, once per server', () => {
    const { logger } = memoryLogger()
    expect(serverLogger(resolved(logger))).toBe(logger)
    const options = resolved({ level: 'error', base: null })
    const built = serverLogger(options)!
    expect(built.level).toBe('error')
    expect(serverLogger(options)).toBe(built)
    expect(loggerService(options)!.logger).toBe(built)
    expect(isolateLogConfig(options)).toEqual({ level: 'error' })
    expect(serverLogger(resolved(true))!.level).toBe('info')
  })

  it('refuses what is neither, and options pino refuses', () => {
    for (const bad of [1, 'info', null, [], { level: 'loudest' }, { info () {}, child () {} }]) {
      expect(() => serverLogger(resolved(bad as never)), JSON.stringify(bad)).toThrow(expect.objectContaining({ code: 'ISOPOOL_ERR_INVALID_OPTION' }))
    }
  })

  it('tells the isolates the lowest standard level written', () => {
    const level = (options: LoggerOptions): string => isolateLevel(pino(options))
    expect(level({})).toBe('info')
    expect(level({ level: 'trace' })).toBe('trace')
    expect(level({ level: 'fatal' })).toBe('fatal')
    expect(level({ level: 'silent' })).toBe('silent')
    // A custom level between debug (20) and info (30) rounds up to info.
    expect(level({ customLevels: { notice: 25 }, level: 'notice' })).toBe('info')
  })
})

describe('AccessLog', () => {
  it('writes an answer\'s line: id, method, url, status, duration, bytes, route, isolate', () => {
    const { logger, lines } = memoryLogger()
    const log = new AccessLog(logger)
    log.finished(...answered({ id: 'r1', method: 'POST', url: '/users/7?x=1', route: '/users/:id', isolate: 2, startedAt: performance.now() - 5 }, { statusCode: 201, bytes: 17 }))
    log.finished(...answered({}, { statusCode: 404, bytes: 90 }))
    expect(lines[0]).toMatchObject({ level: 30, msg: 'request completed', id: 'r1', method: 'POST', url: '/users/7?x=1', status: 201, bytes: 17, route: '/users/:id', isolate: 2 })
    expect(lines[0].duration).toBeGreaterThanOrEqual(5)
    expect(lines[0].duration).toBe(Math.round(lines[0].duration * 1000) / 1000)
    expect(lines[1]).toMatchObject({ status: 404, route: null, isolate: null })
    expect(lines[1]).not.toHaveProperty('id')
    expect(lines[1]).not.toHaveProperty('aborted')
  })

  it('marks an answer whose connection closed first', () => {
    const { logger, lines } = memoryLogger()
    new AccessLog(logger).finished(...answered({ route: '/slow', isolate: 0 }, { statusCode: 0, writableEnded: false }))
    expect(lines[0]).toMatchObject({ msg: 'request aborted', aborted: true, status: 0 })
  })

  it('writes nothing below its level', () => {
    const { logger, lines } = memoryLogger({ level: 'warn' })
    const log = new AccessLog(logger)
    log.finished(...answered({}, {}))
    log.message(0, { type: 'log', records: [record({ level: 'info' }), record({ level: 'warn', msg: 'kept' })] })
    expect(lines.map(l => l.msg)).toEqual(['kept'])
  })

  it('writes a refused request\'s line', () => {
    const { logger, lines } = memoryLogger()
    const log = new AccessLog(logger)
    log.refused({ method: 'GET', status: 431, bytes: 120, code: 'ISOPOOL_ERR_HEADERS_TOO_LARGE', since: Date.now() - 3 })
    log.refused({ method: '', status: 400, bytes: 100, code: 'ISOPOOL_ERR_BAD_REQUEST', since: 0 })
    expect(lines[0]).toMatchObject({ msg: 'request refused', method: 'GET', url: null, status: 431, bytes: 120, route: null, isolate: null, code: 'ISOPOOL_ERR_HEADERS_TOO_LARGE' })
    expect(lines[0].duration).toBeGreaterThanOrEqual(3)
    expect(lines[1]).toMatchObject({ method: null, duration: null })
  })

  it('writes an isolate\'s records at their level, with their fields, the isolate and their own time', () => {
    const { logger, lines } = memoryLogger()
    const log = new AccessLog(logger)
    log.message(3, { type: 'log', records: [record({ level: 'warn', time: 1_000_000_000_123, msg: 'w', fields: { id: 'r', a: 1 } }), record({ level: 'debug' })] })
    log.message(3, { type: 'metrics', id: 1, metrics: { cpu: { user: 0, system: 0 }, handler: [] } })
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatchObject({ level: 40, time: 1_000_000_000_123, msg: 'w', id: 'r', a: 1, isolate: 3 })
    // The logger's own lines keep their own time.
    log.finished(...answered({}, {}))
    expect(lines[1].time).toBeGreaterThan(1_000_000_000_123)
  })

  it('writes a record\'s time in the logger\'s format, or leaves it to the logger', () => {
    const at = Date.UTC(2020, 0, 2, 3, 4, 5, 678)
    const iso = memoryLogger({ timestamp: pino.stdTimeFunctions.isoTime })
    new AccessLog(iso.logger).message(0, { type: 'log', records: [record({ time: at })] })
    expect(iso.lines[0].time).toBe('2020-01-02T03:04:05.678Z')
    const unix = memoryLogger({ timestamp: pino.stdTimeFunctions.unixTime })
    new AccessLog(unix.logger).message(0, { type: 'log', records: [record({ time: at })] })
    expect(unix.lines[0].time).toBe(Math.round(at / 1000))
    const none = memoryLogger({ timestamp: false })
    new AccessLog(none.logger).message(0, { type: 'log', records: [record({ time: at })] })
    expect(none.lines[0]).not.toHaveProperty('time')
    // A timestamp of the user's that writes epoch ms (another copy of pino's, say): imitated.
    const own = memoryLogger({ timestamp: () => `,"time":${Date.now()}` })
    new AccessLog(own.logger).message(0, { type: 'log', records: [record({ time: at })] })
    expect(own.lines[0].time).toBe(at)
    // One it cannot imitate: the logger's, when the line is written.
    const odd = memoryLogger({ timestamp: () => ',"time":"tea time"' })
    new AccessLog(odd.logger).message(0, { type: 'log', records: [record({ time: at })] })
    expect(odd.lines[0].time).toBe('tea time')
  })

  it('writes an isolate\'s err field through pino\'s serializer as the error it was', () => {
    const { logger, lines } = memoryLogger()
    const err = { type: 'TypeError', message: 'bad: root', stack: 'TypeError: bad\n    at x', code: 'E_BAD' }
    new AccessLog(logger).message(0, { type: 'log', records: [record({ level: 'error', msg: 'bad', fields: { err } })] })
    expect(lines[0]).toMatchObject({ level: 50, msg: 'bad', err })
    expect(Object.keys(lines[0].err).sort()).toEqual(['code', 'message', 'stack', 'type'])
  })

  it('skips a level the logger does not have', () => {
    const { logger, lines } = memoryLogger({ customLevels: { notice: 35 }, useOnlyCustomLevels: true, level: 'notice' })
    new AccessLog(logger).message(0, { type: 'log', records: [record({ level: 'warn' })] })
    expect(lines).toEqual([])
  })

  it('writes what it can of a record user code shaped, and never throws', () => {
    const { logger, lines } = memoryLogger()
    const log = new AccessLog(logger)
    const odd = [
      record({ level: 'constructor' }),
      record({ level: 'toString' }),
      record({ msg: 'no fields', fields: null as never }),
      record({ msg: 'a throwing field', fields: { get boom () { throw new Error('getter') } } })
    ]
    expect(() => log.message(0, { type: 'log', records: odd })).not.toThrow()
    expect(lines.map(l => l.msg)).toEqual(['no fields'])
  })

  it('flushes the logger on close, and closes without a flush()', async () => {
    const { logger } = memoryLogger()
    let flushed = 0
    const real = logger.flush.bind(logger)
    logger.flush = ((cb?: (err?: Error) => void) => { flushed++; real(cb) }) as typeof logger.flush
    await new AccessLog(logger).close()
    expect(flushed).toBe(1)
    const bare = Object.assign(Object.create(logger), { flush: undefined }) as pino.Logger
    await new AccessLog(bare).close()
  })
})

describe('AccessLog, writing its line itself', () => {
  /** A pino destination that keeps each write as it was given: a string, before any encoding. */
  function captured (): { write (s: string): void, writes: string[] } {
    const writes: string[] = []
    return { writes, write (s: string) { writes.push(s) } }
  }

  /** The access line finished() gives logger.info (what it did before writing it itself). */
  function infoLine (req: Http1Request, res: Http1Response): [Record<string, unknown>, string] {
    const duration = Math.round((performance.now() - req.startedAt) * 1000) / 1000
    const isolate = req.isolate < 0 ? null : req.isolate
    const line: Record<string, unknown> = req.id === '' ? {} : { id: req.id }
    Object.assign(line, { method: req.method, url: req.url, status: res.statusCode, duration, bytes: res.bytes, route: req.route, isolate })
    if (res.writableEnded) return [line, 'request completed']
    line.aborted = true
    return [line, 'request aborted']
  }

  /** Answers whose lines are to come out the same: strings pino escapes (quotes, backslashes,
   * control characters, a lone surrogate, over 100 characters and under), nulls, aborted. */
  const cases = (): [Http1Request, Http1Response][] => {
    const now = performance.now()
    return [
      answered({ id: 'r"1\\', method: 'POST', url: '/a"b\\c?d=\u0001&e=\n\t', route: '/a/:b', isolate: 2, startedAt: now - 5.1234567 }, { statusCode: 201, bytes: 17 }),
      answered({ url: '/caf\u00e9/\u65e5\u672c/\u{1F600}?q=\u2028\u007f', startedAt: now - 0.0004 }, { statusCode: 404, bytes: 0 }),
      answered({ url: '/lone\ud800surrogate"', route: '/lone"', isolate: 0, startedAt: now - 1000 }, {}),
      answered({ id: 'x'.repeat(120), url: '/' + 'a"\\'.repeat(40) + '\ud800', startedAt: now - 12.5 }, {}),
      answered({ url: '/' + '\u00e9'.repeat(101), startedAt: 0 }, {}),
      answered({ url: '/slow', route: '/slow', isolate: 1, startedAt: now - 30_000.01 }, { statusCode: 0, writableEnded: false }),
      answered({ id: 'a\u0000b', url: '/', startedAt: now - 0.01 }, { statusCode: 408, bytes: 0, writableEnded: false }),
      answered({ startedAt: Number.NaN }, {}),
      // The parts a line keeps from the one before (Segments): each changes alone here, so a
      // part kept on less than all it is made of would show the last line's value.
      answered({ url: '/p', route: '/p', isolate: 1, startedAt: now - 1 }, { statusCode: 200, bytes: 3 }),
      answered({ url: '/p', route: '/p', isolate: 1, startedAt: now - 2 }, { statusCode: 200, bytes: 3 }),
      answered({ method: 'PUT', url: '/p', route: '/p', isolate: 1, startedAt: now - 1 }, { statusCode: 200, bytes: 3 }),
      answered({ method: 'PUT', url: '/q', route: '/p', isolate: 1, startedAt: now - 1 }, { statusCode: 200, bytes: 3 }),
      answered({ method: 'PUT', url: '/q', route: '/p', isolate: 2, startedAt: now - 1 }, { statusCode: 200, bytes: 3 }),
      answered({ method: 'PUT', url: '/q', route: '/q', isolate: 2, startedAt: now - 1 }, { statusCode: 200, bytes: 3 }),
      answered({ method: 'PUT', url: '/q', route: null, isolate: 2, startedAt: now - 1 }, { statusCode: 200, bytes: 3 }),
      answered({ method: 'PUT', url: '/q', route: null, isolate: -1, startedAt: now - 1 }, { statusCode: 200, bytes: 3 }),
      answered({ method: 'PUT', url: '/q', route: null, isolate: -1, startedAt: now - 1 }, { statusCode: 503, bytes: 3 })
    ]
  }

  /** finished()'s bytes against logger.info's, for each case; and whether it wrote them itself. */
  function compare (make: (dest: ReturnType<typeof captured>) => pino.Logger): boolean {
    const dest = captured()
    const logger = make(dest)
    const log = new AccessLog(logger)
    for (const [req, res] of cases()) {
      log.finished(req, res)
      const [line, msg] = infoLine(req, res)
      logger.info(line, msg)
      expect(dest.writes, msg).toHaveLength(2)
      const [mine, pinos] = dest.writes.splice(0)
      expect(mine).toBe(pinos)
    }
    return log.writesDirectly
  }

  beforeEach(() => { vi.useFakeTimers({ toFake: ['Date', 'performance'], now: Date.UTC(2024, 4, 6, 7, 8, 9, 123) }) })
  afterEach(() => { vi.useRealTimers() })

  it('writes what logger.info writes, for a plain logger and options pino puts in its line', () => {
    const plain: [string, (dest: ReturnType<typeof captured>) => pino.Logger][] = [
      ['default', dest => pino({}, dest)],
      ['child bindings', dest => pino({}, dest).child({ svc: 'a"b\u00e9', n: 1, url: 'dup' })],
      ['a child of a child, with options of its own', dest => pino({ level: 'warn' }, dest).child({ a: 1 }).child({ b: [1, { c: null }] }, { level: 'info', serializers: { other: String } })],
      ['base: null', dest => pino({ base: null }, dest)],
      ['name', dest => pino({ name: 'app"x' }, dest)],
      ['isoTime', dest => pino({ timestamp: pino.stdTimeFunctions.isoTime }, dest)],
      ['unixTime', dest => pino({ timestamp: pino.stdTimeFunctions.unixTime }, dest)],
      ['no timestamp', dest => pino({ timestamp: false }, dest)],
      ['a timestamp of the user\'s', dest => pino({ timestamp: () => `,"at":"${Date.now()}ms"` }, dest)],
      ['crlf', dest => pino({ crlf: true }, dest)],
      ['level label formatter', dest => pino({ formatters: { level: label => ({ severity: label.toUpperCase() }) } }, dest)],
      ['bindings formatter', dest => pino({ formatters: { bindings: b => ({ host: b.hostname }) } }, dest)],
      ['level debug', dest => pino({ level: 'debug' }, dest)],
      ['an err serializer', dest => pino({ serializers: { err: () => 'e' } }, dest)]
    ]
    for (const [name, make] of plain) expect(compare(make), name).toBe(true)
  })

  it('leaves the line to logger.info when the logger could make it otherwise', () => {
    const logMethod = function (this: pino.Logger, args: unknown[], method: (...a: unknown[]) => void): void { method.apply(this, args) }
    const others: [string, (dest: ReturnType<typeof captured>) => pino.Logger][] = [
      ['log formatter', dest => pino({ formatters: { log: o => ({ ...o, extra: 1 }) } }, dest)],
      ['redact a key of the line', dest => pino({ redact: ['url'] }, dest)],
      ['redact another key', dest => pino({ redact: { paths: ['other'], censor: '?' } }, dest)],
      ['a child\'s redact', dest => pino({}, dest).child({}, { redact: ['id'] })],
      ['a serializer of a key', dest => pino({ serializers: { url: (u: string) => u.toUpperCase() } }, dest)],
      ['a child\'s serializer of msg', dest => pino({}, dest).child({}, { serializers: { msg: (m: string) => m + '!' } })],
      ['mixin', dest => pino({ mixin: () => ({ m: 1 }) }, dest)],
      ['messageKey', dest => pino({ messageKey: 'message' }, dest)],
      ['nestedKey', dest => pino({ nestedKey: 'data' }, dest)],
      ['msgPrefix', dest => pino({ msgPrefix: '[http] ' }, dest)],
      ['a child\'s msgPrefix', dest => pino({}, dest).child({}, { msgPrefix: '[c] ' })],
      ['errorKey one of the line\'s', dest => pino({ errorKey: 'url' }, dest)],
      ['logMethod hook', dest => pino({ hooks: { logMethod } }, dest)],
      ['streamWrite hook', dest => pino({ hooks: { streamWrite: s => s.replace('GET', 'get') } }, dest)],
      ['info is not 30', dest => pino({ customLevels: { info: 35 }, useOnlyCustomLevels: true, level: 'info' }, dest) as unknown as pino.Logger],
      ['multistream', dest => pino({}, pino.multistream([{ stream: dest }]))]
    ]
    for (const [name, make] of others) expect(compare(make), name).toBe(false)
  })

  it('writes one line a write, to pino\'s stream, and follows the level, the bindings and info() as they change', () => {
    const dest = captured()
    const logger = pino({}, dest)
    const log = new AccessLog(logger)
    const [req, res] = answered({ url: '/a' }, {})
    log.finished(req, res)
    expect(dest.writes).toHaveLength(1)
    expect(dest.writes[0]).toBe(`{"level":30,"time":${Date.now()},"pid":${process.pid},"hostname":${JSON.stringify(os.hostname())},"method":"GET","url":"/a","status":200,"duration":0,"bytes":0,"route":null,"isolate":null,"msg":"request completed"}\n`)
    logger.level = 'warn'
    log.finished(req, res)
    expect(dest.writes).toHaveLength(1)
    logger.level = 'trace'
    logger.setBindings({ tenant: 't"1' })
    log.finished(req, res)
    expect(dest.writes[1]).toContain(',"tenant":"t\\"1","method":"GET"')
    // A spy (or a wrapper) put on info() afterwards sees the lines; once it is gone, no more.
    const spy = vi.spyOn(logger, 'info')
    log.finished(req, res)
    expect(spy).toHaveBeenCalledTimes(1)
    spy.mockRestore()
    const info = logger.info
    let wrapped = 0
    logger.info = function (this: pino.Logger, ...args: Parameters<pino.LogFn>) { wrapped++; info.apply(this, args) } as pino.LogFn
    log.finished(req, res)
    logger.info = info
    log.finished(req, res)
    expect(wrapped).toBe(1)
    expect(dest.writes).toHaveLength(5)
    expect(new Set(dest.writes.slice(1)).size).toBe(1)
  })

  it('leaves the line to pino while its asJson is traced', () => {
    const dest = captured()
    const logger = pino({}, dest)
    const log = new AccessLog(logger)
    let traced = 0
    const handlers = { start () { traced++ }, end () {}, asyncStart () {}, asyncEnd () {}, error () {} }
    tracingChannel('pino_asJson').subscribe(handlers)
    try { log.finished(...answered({}, {})) } finally { tracingChannel('pino_asJson').unsubscribe(handlers) }
    log.finished(...answered({}, {}))
    expect(traced).toBe(1)
    expect(dest.writes).toHaveLength(2)
    expect(dest.writes[0]).toBe(dest.writes[1])
  })

  it('writes a duration as its number would be written', () => {
    const check = (micros: number): void => { if (asDuration(micros, micros / 1000) !== String(micros / 1000)) expect(asDuration(micros, micros / 1000), String(micros)).toBe(String(micros / 1000)) }
    for (let m = 0; m <= 2_000_000; m++) check(m)
    for (let k = 0; k < 200_000; k++) check(Math.floor(Math.random() * 2 ** 31))
    for (const m of [2 ** 31 - 1, 2 ** 31, 2 ** 40 + 7, 2 ** 53 - 1, -1, -0, -1234]) check(m)
    expect(asDuration(Number.NaN, Number.NaN)).toBe('null')
  })
})

describe('AccessLog, into a SonicBoom', () => {
  /** What the access log knows a SonicBoom by (pino.destination), recording its writes. */
  function sonicLike (minLength = 4096): { write (s: string): void, flushSync (): void, minLength: number, maxWrite: number, writes: string[], flushed: number } {
    const s = { writes: [] as string[], flushed: 0, minLength, maxWrite: 16384, write (t: string) { s.writes.push(t) }, flushSync () { s.flushed++ } }
    return s
  }
  const turn = (): Promise<void> => new Promise(resolve => setImmediate(resolve))
  const parse = (writes: string[]): Record<string, unknown>[] => writes.join('').split('\n').filter(t => t !== '').map(t => JSON.parse(t))

  it('hands one that writes each line out (minLength 0) the lines of a turn in one write, each as logger.info writes it', async () => {
    const dest = sonicLike(0)
    const log = new AccessLog(pino({}, dest))
    expect(log.writesDirectly).toBe(true)
    log.finished(...answered({ id: 'a', url: '/1' }, {}))
    log.finished(...answered({ id: 'b', url: '/2' }, { statusCode: 0, writableEnded: false }))
    expect(dest.writes).toHaveLength(0)
    await turn()
    expect(dest.writes).toHaveLength(1)
    expect(parse(dest.writes)).toMatchObject([{ id: 'a', url: '/1', msg: 'request completed' }, { id: 'b', aborted: true, msg: 'request aborted' }])
  })

  it('holds lines for one that buffers (minLength > 0) across turns, for HOLD_MS at most', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    try {
      const dest = sonicLike(4096)
      const log = new AccessLog(pino({}, dest))
      log.finished(...answered({ id: 'a', url: '/1' }, {}))
      await turn()
      log.finished(...answered({ id: 'b', url: '/2' }, {}))
      await turn()
      expect(dest.writes).toHaveLength(0)
      vi.advanceTimersByTime(HOLD_MS - 1)
      expect(dest.writes).toHaveLength(0)
      vi.advanceTimersByTime(1)
      expect(dest.writes).toHaveLength(1)
      expect(parse(dest.writes).map(l => l.id)).toEqual(['a', 'b'])
      // The next batch's first line starts its own HOLD_MS.
      log.finished(...answered({ id: 'c', url: '/3' }, {}))
      vi.advanceTimersByTime(HOLD_MS)
      expect(parse(dest.writes).map(l => l.id)).toEqual(['a', 'b', 'c'])
    } finally {
      vi.useRealTimers()
    }
  })

  it('keeps the order of lines: held ones go before an isolate\'s record, a refusal, and at close()', async () => {
    const dest = sonicLike()
    const log = new AccessLog(pino({}, dest))
    log.finished(...answered({ url: '/first' }, {}))
    log.message(1, { type: 'log', records: [record({ msg: 'from the isolate' })] })
    log.finished(...answered({ url: '/second' }, {}))
    log.refused({ method: 'GET', status: 431, bytes: 1, code: 'ISOPOOL_ERR_HEADERS_TOO_LARGE', since: 0 })
    log.finished(...answered({ url: '/third' }, {}))
    await log.close()
    expect(parse(dest.writes).map(l => l.url ?? l.msg)).toEqual(['/first', 'from the isolate', '/second', 'request refused', '/third'])
    await turn()
    expect(parse(dest.writes)).toHaveLength(5)
  })

  it('writes out what it holds once it is large, within the turn, and at exit synchronously', () => {
    const dest = sonicLike()
    const log = new AccessLog(pino({}, dest))
    for (let i = 0; i < 200; i++) log.finished(...answered({ url: '/' + i }, {}))
    expect(dest.writes.length).toBeGreaterThan(0)
    expect(dest.writes.length).toBeLessThan(20)
    log.exitFlush()
    expect(dest.flushed).toBe(1)
    expect(parse(dest.writes).map(l => l.url)).toEqual(Array.from({ length: 200 }, (_, i) => '/' + i))
  })

  it('writes its batches to a real SonicBoom\'s file itself, after whatever pino wrote through it first', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'isopool-access-log-'))
    try {
      const file = path.join(dir, 'log')
      const dest = pino.destination({ dest: openSync(file, 'a'), minLength: 4096 })
      const log = new AccessLog(pino({}, dest))
      // A refusal goes through pino: the SonicBoom holds it (below minLength).
      log.refused({ method: 'GET', status: 431, bytes: 1, code: 'ISOPOOL_ERR_HEADERS_TOO_LARGE', since: 0 })
      for (let i = 0; i < 200; i++) log.finished(...answered({ url: '/a' + i }, {}))
      // The first batch went to the SonicBoom, behind the refusal it held.
      expect(log.wroteAround).toBe(false)
      await new Promise(resolve => dest.flush(resolve))
      for (let i = 0; i < 200; i++) log.finished(...answered({ url: '/b' + i }, {}))
      // Now it held nothing: the next batch went to the file itself.
      expect(log.wroteAround).toBe(true)
      log.message(1, { type: 'log', records: [record({ msg: 'from the isolate' })] })
      log.finished(...answered({ url: '/last' }, {}))
      await log.close()
      const urls = readFileSync(file, 'utf8').split('\n').filter(t => t !== '').map(t => JSON.parse(t)).map(l => l.url ?? l.msg)
      expect(urls).toEqual(['request refused', ...Array.from({ length: 200 }, (_, i) => '/a' + i), ...Array.from({ length: 200 }, (_, i) => '/b' + i), 'from the isolate', '/last'])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('leaves any other stream a write per line', () => {
    const { logger, lines } = memoryLogger()
    new AccessLog(logger).finished(...answered({}, {}))
    expect(lines).toHaveLength(1)
  })
})
