// req.log's reading of its arguments (pino's calling conventions), its levels, its children, the
// `err` field, and what it posts when a field cannot be cloned: src/isolate/log.ts, without a
// worker (the sink's post is a function of the test's).
import { afterEach, describe, expect, it } from 'vitest'
import { pino } from 'pino'
import { createLog, format, jsonSafe, logError, LogSink, makeRecord, requestLog, serializeThrown, setLogSink, SILENT_LOG } from '../../src/isolate/log.ts'
import type { IsolateMessage, LogRecord } from '../../src/shared/protocol.ts'

/** A sink at `level` whose posts are structured-cloned, as postMessage clones them. */
function sink (level = 'info'): { sink: LogSink, records: LogRecord[] } {
  const records: LogRecord[] = []
  const s = new LogSink(level, (msg: IsolateMessage) => {
    const copy = structuredClone(msg)
    if (copy.type === 'log') records.push(...copy.records)
  })
  return { sink: s, records }
}

afterEach(() => setLogSink(null))

describe('makeRecord', () => {
  it('reads a message, with printf-style arguments', () => {
    expect(makeRecord('info', {}, ['plain'])).toMatchObject({ level: 'info', msg: 'plain', fields: {} })
    expect(makeRecord('info', {}, ['%s has %d items (%i), %j %o %%', 'cart', '3', 4.7, { a: 1 }, 'q'])).toMatchObject({ msg: 'cart has 3 items (4), {"a":1} \'q\' %' })
    expect(makeRecord('warn', { id: 'r1' }, ['x'])).toMatchObject({ level: 'warn', msg: 'x', fields: { id: 'r1' } })
  })

  it('reads a merging object, then a message', () => {
    expect(makeRecord('info', { id: 'r1' }, [{ a: 1, b: 'two' }, 'with %s', 'args'])).toMatchObject({ msg: 'with args', fields: { id: 'r1', a: 1, b: 'two' } })
    // No message: none (the main logger writes none); an object's own msg field stays a field.
    expect(makeRecord('info', {}, [{ a: 1 }])).toMatchObject({ msg: '', fields: { a: 1 } })
    expect(makeRecord('info', {}, [{ msg: 'mine' }])).toMatchObject({ msg: '', fields: { msg: 'mine' } })
    // The merging object's fields win over the bindings, as pino's do.
    expect(makeRecord('info', { a: 0, id: 'r' }, [{ a: 1 }]).fields).toEqual({ a: 1, id: 'r' })
  })

  it('reads an Error alone as an err field, its message the line\'s', () => {
    const r = makeRecord('error', { id: 'r' }, [new RangeError('out of range')])
    expect(r.msg).toBe('out of range')
    expect(r.fields).toMatchObject({ id: 'r', err: { type: 'RangeError', message: 'out of range' } })
    expect((r.fields.err as { stack: string }).stack).toMatch(/^RangeError: out of range\n\s+at /)
    expect(makeRecord('error', {}, [new Error('e'), 'said %s', 'otherwise']).msg).toBe('said otherwise')
  })

  it('serializes an err field of a merging object, and takes its message when there is none', () => {
    const r = makeRecord('error', {}, [{ err: new Error('inner'), at: 3 }])
    expect(r).toMatchObject({ msg: 'inner', fields: { at: 3, err: { type: 'Error', message: 'inner' } } })
    expect(makeRecord('error', {}, [{ err: new Error('inner') }, 'outer']).msg).toBe('outer')
    // Not error-like: left as it is.
    expect(makeRecord('error', {}, [{ err: 'a string' }]).fields.err).toBe('a string')
  })

  it('reads null, undefined and numbers first as pino does', () => {
    expect(makeRecord('info', {}, [null, 'after null']).msg).toBe('after null')
    expect(makeRecord('info', {}, [undefined, 'after undefined']).msg).toBe('after undefined')
    expect(makeRecord('info', {}, [null]).msg).toBe('')
    expect(makeRecord('info', {}, [42]).msg).toBe('42')
    expect(makeRecord('info', {}, []).msg).toBe('')
  })

  it('never throws, whatever it is given', () => {
    const hostile = new Proxy({}, { ownKeys () { throw new Error('no keys') } })
    const r = makeRecord('info', { id: 'r' }, [hostile, 'msg'])
    expect(r.msg).toBe('isopool: a log line could not be read')
    expect(r.fields).toMatchObject({ id: 'r', err: { message: 'no keys' } })
  })

  it('stamps each record with the time it was made', () => {
    const before = Date.now()
    const t = makeRecord('info', {}, ['x']).time
    expect(t).toBeGreaterThanOrEqual(before)
    expect(t).toBeLessThanOrEqual(Date.now())
  })
})

describe('format', () => {
  it('leaves a message with no arguments as it is, %% included', () => {
    expect(format('100%% sure %s', [])).toBe('100%% sure %s')
  })

  it('leaves placeholders with no argument left, and unknown ones', () => {
    expect(format('%s and %s', ['one'])).toBe('one and %s')
    expect(format('%x %s', ['y'])).toBe('%x y')
    expect(format('%d', [null])).toBe('%d')
    expect(format('%j', [undefined])).toBe('%j')
  })

  it('writes functions by name, cycles as [Circular]', () => {
    const cycle: Record<string, unknown> = {}
    cycle.self = cycle
    function named () {}
    expect(format('%o %O %j', [named, () => {}, cycle])).toBe('named <anonymous> "[Circular]"')
  })

  it('reads arguments from an offset', () => {
    expect(format('%s-%s', ['skip', 'a', 'b'], 1)).toBe('a-b')
  })
})

describe('serializeThrown', () => {
  it('writes an error as pino-std-serializers does: its causes in the message and stack', () => {
    const err = new Error('top', { cause: new TypeError('middle', { cause: new Error('bottom') }) })
    const s = serializeThrown(err)
    expect(s.type).toBe('Error')
    expect(s.message).toBe('top: middle: bottom')
    expect(s.stack).toMatch(/^Error: top\n[\s\S]*\ncaused by: TypeError: middle\n[\s\S]*\ncaused by: Error: bottom/)
    expect(s).not.toHaveProperty('cause')
  })

  it('keeps other fields, serializes errors among them, keeps a cause that is not an error', () => {
    const err = Object.assign(new Error('with fields'), { code: 'E_X', status: 418, other: new Error('another'), cause: 'a reason' })
    const s = serializeThrown(err)
    expect(s).toMatchObject({ code: 'E_X', status: 418, other: { type: 'Error', message: 'another' }, cause: 'a reason' })
    expect(s.message).toBe('with fields')
  })

  it('lists an AggregateError\'s errors', () => {
    const s = serializeThrown(new AggregateError([new Error('a'), new RangeError('b')], 'both'))
    expect(s.type).toBe('AggregateError')
    expect(s.aggregateErrors?.map(e => [e.type, e.message])).toEqual([['Error', 'a'], ['RangeError', 'b']])
  })

  it('cuts a cycle of causes where pino does', () => {
    const a = new Error('a')
    const b = new Error('b', { cause: a })
    ;(a as { cause?: unknown }).cause = b
    expect(serializeThrown(a).message).toBe('a: b: a: ...')
    expect(serializeThrown(a).stack).toMatch(/causes have become circular\.\.\.$/)
  })

  it('writes what pino\'s own err serializer writes', () => {
    const cycle = new Error('a')
    cycle.cause = new Error('b', { cause: cycle })
    const cases = [
      new Error('top', { cause: new TypeError('middle', { cause: new Error('bottom') }) }),
      Object.assign(new Error('with fields'), { code: 'E_X', other: new Error('another'), cause: 'a reason' }),
      new AggregateError([new Error('a'), new RangeError('b')], 'both'),
      cycle,
      { message: 'like one', extra: true }
    ]
    for (const err of cases) {
      const theirs = JSON.parse(JSON.stringify(pino.stdSerializers.err(err as Error)))
      expect(JSON.parse(JSON.stringify(serializeThrown(err))), err.message).toEqual(theirs)
    }
  })

  it('reads a VError-style cause function', () => {
    const err = Object.assign(new Error('outer'), { cause: () => new Error('inner') })
    expect(serializeThrown(err).message).toBe('outer: inner')
  })

  it('names what is not an error by its type and a bounded description', () => {
    expect(serializeThrown('boom')).toEqual({ type: 'string', message: "a string: 'boom'" })
    expect(serializeThrown(undefined)).toEqual({ type: 'undefined', message: 'undefined' })
    expect(serializeThrown(null)).toMatchObject({ type: 'null' })
    // Error-like, as pino takes it: anything with a string message; named by its constructor.
    expect(serializeThrown({ message: 'like one' })).toMatchObject({ type: 'Object', message: 'like one', stack: '' })
  })
})

describe('LogSink and the loggers', () => {
  it('drops levels below its own before making a record', () => {
    const { sink: s, records } = sink('warn')
    const log = createLog(s, { id: 'r' })
    log.trace('t'); log.debug('d'); log.info('i'); log.warn('w'); log.error('e'); log.fatal('f')
    expect(records.map(r => r.level)).toEqual(['warn', 'error', 'fatal'])
    expect(log.level).toBe('warn')
    expect(log.isLevelEnabled('info')).toBe(false)
    expect(log.isLevelEnabled('error')).toBe(true)
    expect(log.isLevelEnabled('silent')).toBe(false)
    expect(log.isLevelEnabled('toString')).toBe(false)
  })

  it('posts every level at trace, nothing at silent; an unknown level is info', () => {
    const all = sink('trace')
    const log = createLog(all.sink)
    log.trace('t'); log.debug('d'); log.info('i'); log.warn('w'); log.error('e'); log.fatal('f')
    expect(all.records.map(r => r.level)).toEqual(['trace', 'debug', 'info', 'warn', 'error', 'fatal'])
    const none = sink('silent')
    createLog(none.sink).fatal('f')
    expect(none.records).toEqual([])
    expect(new LogSink('loud', () => {}).level).toBe('info')
  })

  it('gives a child its parent\'s bindings and its own', () => {
    const { sink: s, records } = sink()
    const child = createLog(s, { id: 'r' }).child({ user: 7 }).child({ step: 'b' })
    child.info({ n: 1 }, 'deep')
    expect(records[0]).toMatchObject({ msg: 'deep', fields: { id: 'r', user: 7, step: 'b', n: 1 } })
  })

  it('posts fields structured clone refuses as JSON would write them', () => {
    const { sink: s, records } = sink()
    const cycle: Record<string, unknown> = { name: 'c' }
    cycle.self = cycle
    createLog(s).info({ fn () {}, big: 10n, cycle, sym: Symbol('s'), ok: 1 }, 'odd fields')
    expect(records).toHaveLength(1)
    expect(records[0].msg).toBe('odd fields')
    expect(records[0].fields).toEqual({ big: '10', cycle: { name: 'c', self: '[Circular]' }, ok: 1 })
  })

  it('never throws when posting fails', () => {
    const log = createLog(new LogSink('info', () => { throw new Error('port closed') }))
    expect(() => log.info('x')).not.toThrow()
  })

  it('jsonSafe keeps what it can of fields whose reading throws', () => {
    const fields = { ok: 1, bad: { get boom () { throw new Error('getter') } } }
    expect(jsonSafe(fields)).toEqual({ ok: 1, bad: '[Unreadable]' })
  })

  it('req.log is silent without a sink, bound to the request id with one', () => {
    expect(requestLog('r1')).toBe(SILENT_LOG)
    expect(SILENT_LOG.child({ a: 1 })).toBe(SILENT_LOG)
    expect(SILENT_LOG.isLevelEnabled('fatal')).toBe(false)
    const { sink: s, records } = sink()
    setLogSink(s)
    requestLog('r1').info('with id')
    requestLog('').info('without')
    expect(records.map(r => r.fields)).toEqual([{ id: 'r1' }, {}])
  })
})

describe('logError', () => {
  const context = { method: 'GET', url: `/x?${'q'.repeat(1200)}`, route: 'GET /x', handler: '/app/x.ts#x', id: 'r9' }

  it('is false without a sink: the caller writes to stderr', () => {
    expect(logError('handler failed', new Error('e'), context)).toBe(false)
  })

  it('sends an error record with the request, its route and what was thrown', () => {
    const { sink: s, records } = sink()
    setLogSink(s)
    expect(logError('handler failed', new Error('kaput'), context)).toBe(true)
    expect(records[0]).toMatchObject({
      level: 'error',
      msg: 'handler failed',
      fields: { id: 'r9', method: 'GET', route: 'GET /x', handler: '/app/x.ts#x', err: { type: 'Error', message: 'kaput' } }
    })
    // The URL is cut at 1 000 characters, as the stderr line cuts it.
    expect((records[0].fields.url as string).length).toBe(1001)
    logError('an error response could not be built', new Error('failed'), { ...context, id: '' }, 'the thrown value')
    expect(records[1].fields).not.toHaveProperty('id')
    expect(records[1].fields.thrown).toBe("a string: 'the thrown value'")
    logError('no context', 'str')
    expect(records[2].fields).toEqual({ err: { type: 'string', message: "a string: 'str'" } })
  })

  it('is true and sends nothing when the logger is silent', () => {
    const { sink: s, records } = sink('silent')
    setLogSink(s)
    expect(logError('handler failed', new Error('e'), context)).toBe(true)
    expect(records).toEqual([])
  })
})
