// req.log, and the log lines of a handler's errors: what an isolate writes through the main
// thread's logger (the logger option, src/main/logger.ts).
//
//   req.log.info({ a: 1 }, 'msg')  ─▶ LogRecord { level, time, msg, fields }  ─postMessage─▶  main: pino
//
// pino's calling conventions, kept here so that a handler's line reads as a pino line does: a
// message (printf-style: %s %d %i %f %j %o %O %%), a merging object then a message, an Error
// alone (an `err` field, serialized as pino's err serializer does, and its message). Levels below
// the main logger's are dropped here, before a record is made.
//
// Each record is posted as it is logged, never batched: a line logged right before the isolate
// dies must reach the log, and only what was posted does. Node delivers every message a worker
// posted before its 'exit' event, whether it called process.exit(), died of an uncaught
// exception or was terminated in the middle of synchronous code; a batch waiting for a
// microtask would be lost in the last two cases. The cost is one postMessage per line, paid only
// by handlers that log.

import type { IsolateMessage, LogRecord } from '../shared/protocol.ts'
import { describeThrown } from './describe.ts'

/** One level's method, as pino's: `(msg, ...args)`, `(obj, msg?, ...args)`, `(err, msg?)`. */
export interface LogFn {
  (msg: string, ...args: unknown[]): void
  (obj: object, msg?: string, ...args: unknown[]): void
}

/** req.log: a child of the server's logger for one request (its lines carry the request id). */
export interface RequestLog {
  trace: LogFn
  debug: LogFn
  info: LogFn
  warn: LogFn
  error: LogFn
  fatal: LogFn
  /** A logger whose lines carry these fields too. */
  child (bindings: Record<string, unknown>): RequestLog
  /** The lowest level written: the server's logger's ('silent' when it is off). */
  readonly level: string
  isLevelEnabled (level: string): boolean
}

/** pino's level values. */
const LEVELS: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity }

/** Where an isolate's records go: the main thread, at `level` or above. */
export class LogSink {
  readonly level: string
  readonly threshold: number
  private readonly post: (msg: IsolateMessage) => void

  constructor (level: string, post: (msg: IsolateMessage) => void) {
    this.level = Object.hasOwn(LEVELS, level) ? level : 'info'
    this.threshold = LEVELS[this.level]
    this.post = post
  }

  /** Post one record now. Fields structured clone cannot copy (a function, a symbol, a value
   * with a throwing getter) go as JSON would write them instead; logging never throws. */
  send (record: LogRecord): void {
    try {
      this.post({ type: 'log', records: [record] })
    } catch {
      try {
        this.post({ type: 'log', records: [{ ...record, fields: jsonSafe(record.fields) }] })
      } catch {}
    }
  }
}

/** The isolate's sink; null while the logger option is off (req.log is silent then). */
let sink: LogSink | null = null

/** Set once by the worker at start-up (src/isolate/worker.ts). */
export function setLogSink (s: LogSink | null): void {
  sink = s
}

class IsolateLog implements RequestLog {
  readonly #sink: LogSink
  readonly #bindings: Record<string, unknown>

  constructor (s: LogSink, bindings: Record<string, unknown>) {
    this.#sink = s
    this.#bindings = bindings
  }

  get level (): string { return this.#sink.level }
  isLevelEnabled (level: string): boolean { return level !== 'silent' && Object.hasOwn(LEVELS, level) && LEVELS[level] >= this.#sink.threshold }
  child (bindings: Record<string, unknown>): RequestLog {
    return new IsolateLog(this.#sink, { ...this.#bindings, ...bindings })
  }

  trace (...args: unknown[]): void { if (this.#sink.threshold <= 10) this.#sink.send(makeRecord('trace', this.#bindings, args)) }
  debug (...args: unknown[]): void { if (this.#sink.threshold <= 20) this.#sink.send(makeRecord('debug', this.#bindings, args)) }
  info (...args: unknown[]): void { if (this.#sink.threshold <= 30) this.#sink.send(makeRecord('info', this.#bindings, args)) }
  warn (...args: unknown[]): void { if (this.#sink.threshold <= 40) this.#sink.send(makeRecord('warn', this.#bindings, args)) }
  error (...args: unknown[]): void { if (this.#sink.threshold <= 50) this.#sink.send(makeRecord('error', this.#bindings, args)) }
  fatal (...args: unknown[]): void { if (this.#sink.threshold <= 60) this.#sink.send(makeRecord('fatal', this.#bindings, args)) }
}

const noop = (): void => {}
/** req.log while the logger option is off: every call does nothing. */
export const SILENT_LOG: RequestLog = {
  trace: noop, debug: noop, info: noop, warn: noop, error: noop, fatal: noop,
  child: () => SILENT_LOG,
  level: 'silent',
  isLevelEnabled: () => false
}

/** req.log of a request whose id is `id` ('' for none): a logger bound to it, or SILENT_LOG. */
export function requestLog (id: string): RequestLog {
  if (sink === null) return SILENT_LOG
  return new IsolateLog(sink, id === '' ? {} : { id })
}

/** A logger writing to `s` with `bindings` (for tests, and for the isolate's own lines). */
export function createLog (s: LogSink, bindings: Record<string, unknown> = {}): RequestLog {
  return new IsolateLog(s, bindings)
}

/** The record of one call: pino's reading of its arguments. Never throws. */
export function makeRecord (level: string, bindings: Record<string, unknown>, args: unknown[]): LogRecord {
  const time = Date.now()
  try {
    const first = args[0]
    if (first !== null && typeof first === 'object') {
      if (first instanceof Error) {
        return { level, time, msg: message(args, 1, first.message), fields: { ...bindings, err: serializeThrown(first) } }
      }
      const fields: Record<string, unknown> = { ...bindings, ...first }
      const err = fields.err
      if (isErrorLike(err)) fields.err = serializeThrown(err)
      return { level, time, msg: message(args, 1, isErrorLike(err) && !('msg' in fields) ? String(err.message) : ''), fields }
    }
    // A message first (or null, a number: pino writes them as the message too).
    return { level, time, msg: first === undefined || first === null ? message(args, 1, '') : message(args, 0, ''), fields: { ...bindings } }
  } catch (failed) {
    // A merging object whose getters throw, a message whose toString does.
    return { level, time, msg: 'isopool: a log line could not be read', fields: { ...bindings, err: serializeThrown(failed) } }
  }
}

/** args[at] formatted with the arguments after it; `fallback` when there is none. */
function message (args: unknown[], at: number, fallback: string): string {
  if (args.length <= at || args[at] === undefined) return fallback
  const m = args[at]
  return typeof m === 'string' ? format(m, args, at + 1) : String(m)
}

/**
 * `f` with its printf-style placeholders replaced by `args[from]`, `args[from + 1]`, …, as pino
 * does (quick-format-unescaped): %s String, %d %f Number, %i an integer, %j %o %O JSON (a string
 * quoted, a function by its name), %% a percent sign. A placeholder with no argument left stays
 * as it is; with no arguments at all the message is taken as it is, %% included.
 */
export function format (f: string, args: readonly unknown[], from = 0): string {
  if (args.length <= from || f.indexOf('%') < 0) return f
  let out = ''
  let last = 0
  let a = from
  for (let i = 0; i < f.length - 1; i++) {
    if (f.charCodeAt(i) !== 37) continue
    const c = f[i + 1]
    let piece: string | null = null
    if (c === '%') piece = '%'
    else if (a < args.length) {
      const v = args[a]
      switch (c) {
        case 's': piece = String(v); break
        case 'd': case 'f': piece = v === null || v === undefined ? null : String(Number(v)); break
        case 'i': piece = v === null || v === undefined ? null : String(Math.floor(Number(v))); break
        case 'j': case 'o': case 'O':
          piece = v === undefined ? null
            : typeof v === 'string' ? `'${v}'`
              : typeof v === 'function' ? (v.name === '' ? '<anonymous>' : v.name)
                : stringify(v)
          break
      }
      if (piece !== null) a++
    }
    if (piece === null) continue
    out += f.slice(last, i) + piece
    last = i + 2
    i++
  }
  return last === 0 ? f : out + f.slice(last)
}

function stringify (v: unknown): string {
  try { return JSON.stringify(v) ?? String(v) } catch { return '"[Circular]"' }
}

/** What pino's err serializer takes for an error: anything with a string message. */
function isErrorLike (v: unknown): v is { message: string } {
  return v !== null && typeof v === 'object' && typeof (v as { message?: unknown }).message === 'string'
}

/** An error as pino's err serializer writes it: type, message and stack (with its causes'),
 * an AggregateError's errors, its other enumerable fields. */
export interface SerializedError {
  type: string
  message: string
  stack?: string
  aggregateErrors?: SerializedError[]
  [field: string]: unknown
}

/** What was thrown, as an `err` field: an error as pino writes one, anything else by its type
 * and a bounded description of it. Never throws. */
export function serializeThrown (v: unknown): SerializedError {
  try {
    if (isErrorLike(v)) return serializeError(v, new Set())
    return { type: v === null ? 'null' : typeof v, message: describeThrown(v) }
  } catch {
    return { type: 'unknown', message: describeThrown(v) }
  }
}

function serializeError (err: object, seen: Set<object>): SerializedError {
  seen.add(err)
  const e = err as Record<string, unknown> & { message: string }
  const ctor = e.constructor
  const out: SerializedError = {
    type: typeof ctor === 'function' && typeof ctor.name === 'string' ? ctor.name : String(e.name),
    message: withCauses(e, 'message', ': ', new Set()),
    stack: withCauses(e, 'stack', '\ncaused by: ', new Set())
  }
  if (Array.isArray(e.errors)) out.aggregateErrors = e.errors.map(x => isErrorLike(x) ? serializeError(x, seen) : serializeThrown(x))
  for (const key in e) {
    if (out[key] !== undefined) continue
    const val = e[key]
    if (isErrorLike(val)) {
      // A cause is in the message and stack already.
      if (key !== 'cause' && !seen.has(val)) out[key] = serializeError(val, seen)
    } else {
      out[key] = val
    }
  }
  return out
}

/** The message (or stack) of `err` followed by those of its causes, as pino-std-serializers
 * joins them; a cycle is cut. */
function withCauses (err: Record<string, unknown>, field: 'message' | 'stack', join: string, seen: Set<object>): string {
  const own = typeof err[field] === 'string' ? err[field] as string : ''
  if (seen.has(err)) return own + (field === 'message' ? ': ...' : '\ncauses have become circular...')
  let cause = err.cause
  if (typeof cause === 'function') cause = (cause as () => unknown).call(err) // VError-style
  if (!isErrorLike(cause)) return own
  seen.add(err)
  return own + join + withCauses(cause as unknown as Record<string, unknown>, field, join, seen)
}

/** `fields` as JSON would write them: a function or symbol dropped, a BigInt as its digits, a
 * value seen before as '[Circular]', a value whose reading throws as '[Unreadable]'. */
export function jsonSafe (fields: Record<string, unknown>): Record<string, unknown> {
  const seen = new WeakSet<object>()
  try {
    return JSON.parse(JSON.stringify(fields, (_key, v: unknown) => {
      if (typeof v === 'bigint') return v.toString()
      if (v !== null && typeof v === 'object') {
        if (seen.has(v)) return '[Circular]'
        seen.add(v)
      }
      return v
    }) ?? '{}') as Record<string, unknown>
  } catch {
    const out: Record<string, unknown> = {}
    for (const key of Object.keys(fields)) {
      try { out[key] = JSON.parse(JSON.stringify(fields[key]) ?? 'null') } catch { out[key] = '[Unreadable]' }
    }
    return out
  }
}

// ── a handler's errors ──────────────────────────────────────────────────────────────────────

/** The request a handler's error belongs to, and its route: the context of its log line. */
export interface HandlerContext {
  method: string
  url: string
  /** `METHOD /pattern` */
  route: string
  /** `/app/posts.ts#getPost` */
  handler: string
  /** The request id ('' for none). */
  id: string
}

/** `GET /posts/7?x=1 (route GET /posts/:id, /app/posts.ts#getPost)`, the URL cut at 1 000
 * characters: the context as a line of stderr shows it. */
export function contextText (c: HandlerContext): string {
  return `${c.method} ${cut(c.url)} (route ${c.route}, ${c.handler})`
}

function cut (url: string): string {
  return url.length <= 1000 ? url : `${url.slice(0, 1000)}…`
}

/**
 * Log an error of a request's path as an error record, with its context (the request id, the
 * request, its route) and `err`; `thrown` is what the handler threw when `err` is a failure to
 * answer it. False when the logger option is off: the caller writes to stderr then.
 */
export function logError (msg: string, err: unknown, context?: HandlerContext, thrown?: unknown): boolean {
  const s = sink
  if (s === null) return false
  if (s.threshold > 50) return true
  const fields: Record<string, unknown> = context === undefined
    ? {}
    : { ...(context.id === '' ? {} : { id: context.id }), method: context.method, url: cut(context.url), route: context.route, handler: context.handler }
  fields.err = serializeThrown(err)
  if (thrown !== undefined) fields.thrown = describeThrown(thrown)
  s.send({ level: 'error', time: Date.now(), msg, fields })
  return true
}
