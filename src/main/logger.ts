// The logger option: pino on the main thread, writing the access log (one JSON line per answer)
// and the isolates' lines (req.log and handler errors, src/isolate/log.ts).
//
//   an answer over ─▶ finished() ─▶ logger.info({ id, method, url, status, duration, bytes, route, isolate })
//   a refused head ─▶ refused()  ─▶ logger.info({ method, url: null, status, …, code })
//   isolate k      ─▶ message({ type: 'log', records }) ─▶ child { isolate: k } [level](fields, msg)
//
// The logger is built once per server from the option, by whichever asks first: the isolates'
// config (the level they drop below, isolateLogConfig) or the service (loggerService). A record
// from an isolate keeps its own time: the child each isolate writes through stamps its lines with
// the time of the record being written, in the format the logger's own timestamp uses.

import { pino, stdTimeFunctions, symbols } from 'pino'
import type { Logger, LoggerOptions } from 'pino'
import type { IsolateMessage, LogRecord } from '../shared/protocol.ts'
import type { Http1Request, Http1Response, Refusal } from './http1.ts'
import type { ResolvedOptions } from './options.ts'
import { badOption } from './services.ts'
import type { RequestService } from './services.ts'

/** Each server's logger, by its resolved options: built once, asked for twice. */
const built = new WeakMap<ResolvedOptions, Logger | null>()

/** The logger the options ask for, or null when the logger option is off; throws
 * ISOPOOL_ERR_INVALID_OPTION for a value that is not one. */
export function serverLogger (options: ResolvedOptions): Logger | null {
  let logger = built.get(options)
  if (logger === undefined) {
    logger = buildLogger(options.given.logger)
    built.set(options, logger)
  }
  return logger
}

/** What the isolates are told of the logger (IsolateInit.log): the level they drop below, or
 * null when there is none (req.log is silent then, handler errors go to stderr). */
export function isolateLogConfig (options: ResolvedOptions): { level: string } | null {
  const logger = serverLogger(options)
  return logger === null ? null : { level: isolateLevel(logger) }
}

/** The access log service, or null when the logger option is off. */
export function loggerService (options: ResolvedOptions): AccessLog | null {
  const logger = serverLogger(options)
  return logger === null ? null : new AccessLog(logger)
}

function buildLogger (given: unknown): Logger | null {
  if (given === undefined || given === false) return null
  // stdout through a 4 KiB buffer: one write per ~20 lines rather than per line (pino's
  // asynchronous logging); pino flushes it at exit, and close() flushes it too.
  if (given === true) return pino(pino.destination({ dest: 1, minLength: 4096 }))
  if (given === null || typeof given !== 'object' || Array.isArray(given)) {
    badOption('logger', `must be true, false, pino options or a pino logger, got ${given === null ? 'null' : Array.isArray(given) ? 'an array' : typeof given}`)
  }
  if (isLogger(given)) {
    if (typeof given.isLevelEnabled !== 'function' || typeof given.level !== 'string') badOption('logger', 'a logger given must be a pino logger (it has no level or isLevelEnabled())')
    return given
  }
  try {
    return pino(given as LoggerOptions)
  } catch (err) {
    badOption('logger', `pino refused these options: ${(err as Error)?.message ?? String(err)}`)
  }
}

/** A logger rather than pino options: it has level methods and child(). */
function isLogger (v: object): v is Logger {
  const l = v as Record<string, unknown>
  return typeof l.info === 'function' && typeof l.child === 'function'
}

const STANDARD_LEVELS: readonly [string, number][] = [['trace', 10], ['debug', 20], ['info', 30], ['warn', 40], ['error', 50], ['fatal', 60]]

/** The lowest of pino's standard levels the logger writes: what an isolate drops below. A custom
 * level between two standard ones rounds up; above fatal (silent) nothing is sent. */
export function isolateLevel (logger: Logger): string {
  const value = typeof logger.levelVal === 'number' ? logger.levelVal : 30
  for (const [name, v] of STANDARD_LEVELS) if (v >= value) return name
  return 'silent'
}

/** One line of the access log. */
interface AccessLine {
  id?: string
  method: string
  url: string
  status: number
  duration: number
  bytes: number
  route: string | null
  isolate: number | null
  aborted?: true
}

export class AccessLog implements RequestService {
  readonly logger: Logger
  /** Per isolate, the child its records are written through. */
  private readonly children = new Map<number, Logger>()
  /** How a record's own time is written, in the logger's format; null: by the logger, when the
   * line is written (its timestamp is off, or one of its own this cannot imitate). */
  private readonly stamp: ((time: number) => string) | null
  /** The time of the isolate record being written, for its child's timestamp. */
  private at = 0

  constructor (logger: Logger) {
    this.logger = logger
    this.stamp = recordStamp(logger)
  }

  finished (req: Http1Request, res: Http1Response): void {
    const logger = this.logger
    if (!logger.isLevelEnabled('info')) return
    const duration = Math.round((performance.now() - req.startedAt) * 1000) / 1000
    const isolate = req.isolate < 0 ? null : req.isolate
    const line: AccessLine = req.id === ''
      ? { method: req.method, url: req.url, status: res.statusCode, duration, bytes: res.bytes, route: req.route, isolate }
      : { id: req.id, method: req.method, url: req.url, status: res.statusCode, duration, bytes: res.bytes, route: req.route, isolate }
    if (res.writableEnded) {
      logger.info(line, 'request completed')
    } else {
      // Its connection closed first: status is what was sent (0 for nothing, or what the HTTP
      // layer answered instead: a 408, a 400 for a broken body).
      line.aborted = true
      logger.info(line, 'request aborted')
    }
  }

  refused (r: Refusal): void {
    this.logger.info({
      method: r.method === '' ? null : r.method,
      url: null, // a head refused is not read as a request
      status: r.status,
      duration: r.since === 0 ? null : Date.now() - r.since,
      bytes: r.bytes,
      route: null,
      isolate: null,
      code: r.code
    }, 'request refused')
  }

  message (isolate: number, msg: IsolateMessage): void {
    if (msg.type !== 'log') return
    const child = this.child(isolate)
    for (const r of msg.records) {
      // A record is user code's to shape (a handler can post to the port itself): one that
      // breaks pino costs its line, never the main thread.
      try { this.write(child, r) } catch (err) { console.error('isopool: a log record from isolate', isolate, 'could not be written:', err) }
    }
  }

  private child (isolate: number): Logger {
    let child = this.children.get(isolate)
    if (child === undefined) {
      // A replacement isolate gets a new number: those of dead ones are let go now and then.
      if (this.children.size >= 256) this.children.clear()
      child = this.logger.child({ isolate })
      const stamp = this.stamp
      // pino asks its instance for the time of each line (symbols.timeSym): the child answers
      // with the record's, and only the child, an object of its own over the logger's.
      if (stamp !== null) (child as unknown as Record<symbol, unknown>)[symbols.timeSym] = () => stamp(this.at)
      this.children.set(isolate, child)
    }
    return child
  }

  private write (child: Logger, r: LogRecord): void {
    // A level this logger does not have (custom levels only) is dropped.
    const levels = (child.levels as Logger['levels'] | undefined)?.values
    if (levels !== undefined && !Object.hasOwn(levels, r.level)) return
    const method = (child as unknown as Record<string, unknown>)[r.level]
    if (typeof method !== 'function') return
    const fields = r.fields !== null && typeof r.fields === 'object' ? r.fields : {}
    if (isSerializedError(fields.err)) fields.err = revive(fields.err)
    this.at = r.time
    method.call(child, fields, r.msg === '' ? undefined : r.msg)
  }

  /** After the isolates stopped (their last lines are in): write out what the logger buffers. */
  close (): Promise<void> {
    const logger = this.logger
    return new Promise(resolve => {
      if (typeof logger.flush !== 'function') return resolve()
      // A stream that never answers must not hold close() for ever.
      const timer = setTimeout(resolve, 2000)
      const done = (): void => { clearTimeout(timer); resolve() }
      try { logger.flush(done) } catch { done() }
    })
  }
}

/** How to write a record's time as `logger` writes its own: pino's standard timestamps known by
 * identity, another copy's (or a function of the user's) by what it writes. */
function recordStamp (logger: Logger): ((time: number) => string) | null {
  const time = (logger as unknown as Record<symbol, unknown>)[symbols.timeSym]
  if (typeof time !== 'function') return null
  if (time === stdTimeFunctions.epochTime) return epoch
  if (time === stdTimeFunctions.isoTime) return iso
  if (time === stdTimeFunctions.unixTime) return t => `,"time":${Math.round(t / 1000)}`
  if (time === stdTimeFunctions.nullTime) return null
  let sample: string
  try { sample = String(time()) } catch { return null }
  if (/^,"time":\d{12,}$/.test(sample)) return epoch
  if (/^,"time":"\d{4}-\d\d-\d\dT[\d:.]+Z"$/.test(sample)) return iso
  return null
}

const epoch = (t: number): string => `,"time":${t}`
const iso = (t: number): string => `,"time":"${new Date(t).toISOString()}"`

function isSerializedError (v: unknown): v is Record<string, unknown> & { type: string, message: string } {
  return v !== null && typeof v === 'object' && typeof (v as { type?: unknown }).type === 'string' && typeof (v as { message?: unknown }).message === 'string'
}

/**
 * An `err` field as the isolate serialized it (src/isolate/log.ts: type, message and stack with
 * its causes', the other fields), made into what the logger's err serializer turns back into the
 * same: it names an error by its constructor, and a plain object's is Object. So the object gets
 * a constructor of its own, named for the type, that no walk of its fields sees.
 */
function revive (e: Record<string, unknown> & { type: string }): object {
  const out: Record<string, unknown> = { ...e }
  const ctor = function () {}
  Object.defineProperty(ctor, 'name', { value: e.type })
  Object.defineProperty(out, 'constructor', { value: ctor, enumerable: false })
  return out
}
