// The main thread's side of the logger option (src/main/logger.ts), without sockets: the option's
// forms, the level the isolates are told, the access line of an answer, a refusal and a cut-short
// answer, and an isolate's records written through pino with their own time and err field.
import { describe, expect, it } from 'vitest'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import type { LoggerOptions } from 'pino'
import { AccessLog, isolateLevel, isolateLogConfig, loggerService, serverLogger } from '../../src/main/logger.ts'
import { resolveOptions } from '../../src/main/options.ts'
import type { Http1Request, Http1Response } from '../../src/main/http1.ts'
import type { ServerOptions } from '../../src/main/options.ts'
import type { LogRecord } from '../../src/shared/protocol.ts'

type Line = Record<string, any>

function memoryLogger (options: LoggerOptions = {}): { logger: pino.Logger, lines: Line[] } {
  const lines: Line[] = []
  const stream = new Writable({
    write (chunk: Buffer, _encoding, done) {
      for (const text of chunk.toString('utf8').split('\n')) if (text !== '') lines.push(JSON.parse(text))
      done()
    }
  })
  return { logger: pino(options, stream), lines }
}

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
