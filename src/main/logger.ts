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

import { tracingChannel } from 'node:diagnostics_channel'
import { pino, stdTimeFunctions, symbols } from 'pino'
import type { Logger, LoggerOptions } from 'pino'
import type { IsolateMessage, LogRecord } from '../shared/protocol.ts'
import type { Http1Request, Http1Response, Refusal } from './http1.ts'
import type { ResolvedOptions } from './options.ts'
import { FdWriter } from './fd-write.ts'
import { flat } from './flat-string.ts'
import { badOption, elapsedMs } from './services.ts'
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
  /** How the access line is written without pino's generic serializer; null: by logger.info. */
  private readonly direct: Direct | null
  /** The logger's info() last seen, and whether it was pino's own (see finished()). */
  private info: unknown = null
  private infoOn = false
  private infoIsPino = false
  /** The repeating parts of the direct line, as last made. */
  private readonly seg = new Segments()
  /** Access lines held for the stream (batch()): until the end of this turn, or for a stream
   * that buffers until BATCH_CHARS or HOLD_MS; a flush is scheduled when set. */
  private lines = ''
  private flushing = false
  private holdTimer: NodeJS.Timeout | null = null

  constructor (logger: Logger) {
    this.logger = logger
    this.stamp = recordStamp(logger)
    this.direct = directLine(logger)
    // In the set for its whole life, not per batch held: a Set that gains and loses an entry per
    // batch rehashes all the time, and its dead tables keep one another alive (id-table.ts).
    if (this.direct?.batches === true) pendingLogs.add(this)
  }

  /** Whether the access line is written by this rather than logger.info (for tests). */
  get writesDirectly (): boolean {
    return this.direct !== null
  }

  /** Whether the last lines held went to the stream's file descriptor, around it (for tests). */
  get wroteAround (): boolean {
    return this.direct?.around?.wroteAround === true
  }

  finished (req: Http1Request, res: Http1Response): void {
    const logger = this.logger
    // logger.info is a new function whenever the level turns it on or off (pino's setLevel():
    // noop below the level), so whether info is written is looked at again only then (~40 ns a
    // line, isLevelEnabled()).
    if (logger.info !== this.info) this.learnInfo(logger)
    if (!this.infoOn) return
    const micros = Math.round(elapsedMs(req) * 1000)
    const duration = micros / 1000
    const isolate = req.isolate < 0 ? null : req.isolate
    const direct = this.direct
    if (direct !== null && this.infoIsPino && !asJsonTrace.hasSubscribers) {
      // The line pino would write (lib/proto.js write(), lib/tools.js _asJson()), in one write to
      // its stream: the level's cached head, the instance's time function (called as pino calls
      // it, so any format it has), the bindings pino keeps serialized (read per line:
      // setBindings() changes them), the keys in the order of the object logger.info would get,
      // then msg and the end of line. bench/micro/access-log.ts (Node 24.21, this 2-core VM, the
      // whole of finished(), tinybench's ~35 ns included): into a stream that drops the line,
      // logger.info 1.85 µs a line, this 0.50 µs; with a 36-character id and a 55-character URL
      // 2.09 µs → 0.70 µs; into pino.destination('/dev/null', 4 KiB buffer, sync) 3.37 → 1.83 µs.
      // Of what was left then, ~0.1 µs was performance.now() (now read once at the answer's end
      // for the metrics too, req.finishedAt), ~0.08 µs the time function. (Not measured here:
      // req/s of a route, left to the benchmarks.)
      //
      // The parts that repeat from line to line (the method and URL, the status, the route and
      // isolate) are kept as the last one made of each (Segments): a line is then ~12 strings
      // joined rather than ~30, and the batch's rope, flattened for its write, has that many
      // fewer pieces (~0.3 µs a line went to that flattening, the main thread's profile under
      // the `all` services set). bench/micro/access-log.ts, the same three runs against the last
      // checkout, in turns: into /dev/null 971–1120 → 572–688 ns a line (with the level looked
      // at once per change of logger.info, learnInfo()). Lines of one route repeat all three
      // parts; a URL that changes each line costs its part's making, as before.
      const l = logger as unknown as PinoInternals
      const seg = this.seg
      let s = direct.head + l[timeSym]() + l[chindingsSym]
      if (req.id !== '') s += ',"id":' + quoted(req.id)
      s += seg.methodUrl(req.method, req.url) + seg.status(res.statusCode) + asDuration(micros, duration) +
        ',"bytes":' + asNumber(res.bytes) + seg.routeIsolate(req.route, isolate) +
        (res.writableEnded ? direct.completed : direct.aborted)
      if (direct.batches) this.batch(direct, s)
      else direct.stream.write(s)
      return
    }
    this.flushLines()
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

  /**
   * Keep a line to write with others. A SonicBoom (pino.destination, what `logger: true` writes
   * through) costs ~1.2 µs a write() whatever its size — it takes the byte length of its
   * buffer's last chunk, a string it flattens, on each — against ~0.25 µs a line when many lines
   * reach it as one string (bench/micro/sonic-boom.ts). One that buffers anyway (minLength > 0,
   * as `logger: true`'s does) writes nothing out before it holds minLength bytes, so its lines
   * wait here until they make BATCH_CHARS or HOLD_MS passed (a turn holds only a few lines under
   * load: flushing each turn was still a write() per ~5 lines, ~1 µs a request). One that writes
   * each line out (minLength 0) gets the lines of a turn at the end of it. Every other write
   * through the logger (an isolate's record, a refusal, logger.info's line) flushes these first,
   * so the order of lines is kept; so do close() and the process's exit. A batch for a SonicBoom
   * that writes to a file or /dev/null goes to its file descriptor itself while the SonicBoom holds
   * nothing (fd-write.ts: ~0.2 µs of CPU a line rather than ~1.4, bench/micro/log-write.ts).
   */
  private batch (direct: Direct, line: string): void {
    const held = this.lines
    const lines = this.lines = held + line
    if (held === '') {
      // One timer per server, re-armed by the first line of each batch: the first line held
      // waits HOLD_MS at most.
      if (direct.holds) (this.holdTimer ??= setTimeout(this.flushTurn, HOLD_MS).unref()).refresh()
    }
    if (lines.length >= BATCH_CHARS) {
      this.flushLines()
    } else if (!direct.holds && !this.flushing) {
      this.flushing = true
      setImmediate(this.flushTurn)
    }
  }

  /** The lines batch() holds, written to the stream now. */
  private flushLines (): void {
    const lines = this.lines
    if (lines === '') return
    this.lines = ''
    const direct = this.direct!
    if (direct.around !== null) direct.around.write(lines)
    else direct.stream.write(lines)
  }

  private readonly flushTurn = (): void => {
    this.flushing = false
    this.flushLines()
  }

  /** At exit, with no turn left to come: the lines held, written and flushed synchronously. */
  exitFlush (): void {
    this.flushLines()
    if (this.holdTimer !== null) clearTimeout(this.holdTimer)
    const stream = this.direct?.stream as { flushSync?: () => void } | undefined
    try { stream?.flushSync?.() } catch {}
  }

  /** logger.info changed (or is first seen): whether info lines are written at all, and whether
   * info is still pino's own (lib/tools.js genLog's LOG, by its source: each level change makes a
   * new one), not a wrapper or a spy put on the logger after it was given, which must see each
   * line (a spy keeps the name LOG, so the name will not do). */
  private learnInfo (logger: Logger): void {
    const info = logger.info
    this.info = info
    this.infoOn = logger.isLevelEnabled('info')
    this.infoIsPino = typeof info === 'function' && Function.prototype.toString.call(info) === pino$().info
  }

  refused (r: Refusal): void {
    this.flushLines()
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
    this.flushLines()
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
    this.flushLines()
    if (this.holdTimer !== null) clearTimeout(this.holdTimer)
    pendingLogs.delete(this)
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

/** Held lines are written out once they reach this many characters, within a turn too. */
const BATCH_CHARS = 16_384
/** The longest a line waits in batch() for a stream that buffers (minLength > 0), ms: on a
 * server too quiet to fill a batch soon (at 50,000 requests a second it fills in ~1.3 ms). */
export const HOLD_MS = 100

/** The access logs that may hold lines (batch()): the process's exit writes them out. */
const pendingLogs = new Set<AccessLog>()
let exitHooked = false
function hookExit (): void {
  if (exitHooked) return
  exitHooked = true
  process.on('exit', () => { for (const log of pendingLogs) log.exitFlush() })
}

/** What the access line is written with when logger.info's output for it can be reproduced. */
interface Direct {
  /** pino's stream for the logger (symbols.streamSym), written once a line as pino does, or
   * the lines of a turn at once (batches). */
  stream: { write (s: string): unknown }
  /** The stream is a SonicBoom: lines go to it joined (batch()). */
  batches: boolean
  /** A SonicBoom that buffers (minLength > 0): lines wait for a batch, up to HOLD_MS; one that
   * does not gets the lines of a turn at its end. */
  holds: boolean
  /** For a SonicBoom, what writes the held lines to its file descriptor when it may (fd-write.ts);
   * null: the stream writes them. */
  around: FdWriter | null
  /** The level's start of a line, as pino caches it: `{"level":30` (a level formatter's own). */
  head: string
  /** The message and the end of the line (`}\n`, or `}\r\n` with crlf). */
  completed: string
  aborted: string
}

type PinoInternals = Record<symbol, any> & Logger

const {
  asJsonSym, chindingsSym, endSym, errorKeySym, formattersSym, hooksSym, lsCacheSym, messageKeySym, mixinSym,
  needsMetadataGsym, nestedKeySym, serializersSym, streamSym, stringifiersSym, timeSym, writeSym
} = symbols
/** In pino's symbols, not in its types. */
const msgPrefixSym = (symbols as unknown as { msgPrefixSym: symbol }).msgPrefixSym

/** The keys of an access line, and pino's message key. */
const LINE_KEYS = ['id', 'method', 'url', 'status', 'duration', 'bytes', 'route', 'isolate', 'aborted', 'msg']

/** pino's asJson traces through this channel (lib/tools.js): a subscriber must see each line. */
const asJsonTrace = tracingChannel('pino_asJson')

/** pino's write() and asJson(), from the prototype every logger of this copy of pino shares,
 * and the source of its info(). */
let pinoOwn: { write: unknown, asJson: unknown, info: string } | undefined
function pino$ (): { write: unknown, asJson: unknown, info: string } {
  if (pinoOwn === undefined) {
    const p = pino({}, { write () {} }) as unknown as PinoInternals
    pinoOwn = { write: p[writeSym], asJson: p[asJsonSym], info: Function.prototype.toString.call(p.info) }
  }
  return pinoOwn
}

/**
 * How to write the access line of `logger` as logger.info would, or null when something of
 * the logger's could make pino's line differ, or make pino do more than write it: then
 * logger.info writes it. Looked at once, when the service is built (the options are fixed then;
 * the level, the bindings and info() itself are looked at per line).
 */
function directLine (logger: Logger): Direct | null {
  const l = logger as unknown as PinoInternals
  const own = pino$()
  // This copy of pino's, unchanged: another copy has symbols of its own (none of these is
  // found), and one whose write or asJson was replaced writes otherwise.
  if (l[writeSym] !== own.write || l[asJsonSym] !== own.asJson) return null
  // info is pino's 30, and its head cached (genLsCache: a level formatter's output included).
  if (l.levels?.values?.info !== 30) return null
  const head = l[lsCacheSym]?.[30]
  const end = l[endSym]
  if (typeof head !== 'string' || (end !== '}\n' && end !== '}\r\n')) return null
  if (typeof l[timeSym] !== 'function' || typeof l[chindingsSym] !== 'string') return null
  // What changes the object or the message on its way: mixin, a prefix, a nested key, another
  // message key, an error key that is one of the line's (its value would go through the err
  // serializer), a log formatter, serializers of the line's keys, any redaction. (A level or
  // bindings formatter, a timestamp function, child bindings need no such care: pino's line has
  // their output cached, or calls them per line, and so does this.)
  if (l[mixinSym] || typeof l[msgPrefixSym] === 'string' || l[nestedKeySym] || l[messageKeySym] !== 'msg') return null
  if (LINE_KEYS.includes(l[errorKeySym])) return null
  if (l[formattersSym]?.log) return null
  const serializers = l[serializersSym]
  if (serializers == null || LINE_KEYS.some(k => serializers[k])) return null
  const stringifiers = l[stringifiersSym]
  if (stringifiers == null || Reflect.ownKeys(stringifiers).length > 0) return null
  // Hooks around the call or the write.
  const hooks = l[hooksSym]
  if (hooks?.logMethod || hooks?.streamWrite) return null
  // A stream that reads the line's metadata off the stream (multistream, pino.metadata). Any
  // other (SonicBoom, a transport's ThreadStream, a Writable) gets the same string in one write.
  const stream = l[streamSym]
  if (stream == null || typeof stream.write !== 'function' || stream[needsMetadataGsym] === true) return null
  // A SonicBoom (pino.destination) by what only one has: its lines may wait for the end of the
  // turn. Any other stream gets each line when it is made, as logger.info would write it.
  const batches = typeof stream.flushSync === 'function' && typeof stream.minLength === 'number' && typeof stream.maxWrite === 'number'
  if (batches) hookExit()
  const holds = batches && stream.minLength > 0
  return { stream, batches, holds, around: batches ? FdWriter.around(stream) : null, head, completed: ',"msg":"request completed"' + end, aborted: ',"aborted":true,"msg":"request aborted"' + end }
}

/** pino's string escaping (lib/tools.js asString), the same on each Node: JSON.stringify from
 * Node 25, before that its own, which leaves a lone surrogate as it is under 101 characters. */
const asString: (s: string) => string = Number(process.versions.node.split('.')[0]) >= 25
  ? s => JSON.stringify(s)
  : pinoAsString

function pinoAsString (str: string): string {
  const l = str.length
  if (l > 100) return JSON.stringify(str)
  let result = ''
  let last = 0
  let found = false
  let point = 255
  for (let i = 0; i < l && point >= 32; i++) {
    point = str.charCodeAt(i)
    if (point === 34 || point === 92) {
      result += str.slice(last, i) + '\\'
      last = i
      found = true
    }
  }
  result = found ? result + str.slice(last) : str
  return point < 32 ? JSON.stringify(str) : '"' + result + '"'
}

/** A character asString() writes otherwise than as itself: not printable ASCII, `"` or `\`. */
const ESCAPED = /[^\x20\x21\x23-\x5b\x5d-\x7e]/

/** asString(s), for the strings of an access line: an id, a method, a URL and a route are
 * printable ASCII (the parser and the id's check see to it) and rarely hold a quote or a
 * backslash, and such a string is itself in quotes, which one native scan tells (~0.03 µs, against
 * ~0.1 for pino's loop over a 36-character id). Anything else goes to asString(). */
function quoted (s: string): string {
  return ESCAPED.test(s) ? asString(s) : '"' + s + '"'
}

/**
 * The parts of an access line that most lines share with the one before (the same route, method
 * and status, mostly), each kept as last made, as asString() and asNumber() write them: a line
 * built from a few kept strings is a shorter rope to flatten than one built from its ~30 pieces.
 * A part is made again when anything in it differs; strings compare by content (=== on the
 * route's pattern is mostly the same string).
 */
export class Segments {
  private method = ''
  private url = ''
  private mu = ''
  private code = -1
  private st = ''
  private route: string | null | undefined = undefined
  private isolate: number | null | undefined = undefined
  private ri = ''

  /** `,"method":"GET","url":"/x"` */
  methodUrl (method: string, url: string): string {
    if (method !== this.method || url !== this.url) {
      this.method = method
      this.url = url
      this.mu = flat(',"method":' + quoted(method) + ',"url":' + quoted(url))
    }
    return this.mu
  }

  /** `,"status":200,"duration":` */
  status (code: number): string {
    if (code !== this.code) {
      this.code = code
      this.st = flat(',"status":' + asNumber(code) + ',"duration":')
    }
    return this.st
  }

  /** `,"route":"/x","isolate":1` */
  routeIsolate (route: string | null, isolate: number | null): string {
    if (route !== this.route || isolate !== this.isolate) {
      this.route = route
      this.isolate = isolate
      this.ri = flat(',"route":' + (route === null ? 'null' : quoted(route)) + ',"isolate":' + (isolate === null ? 'null' : asNumber(isolate)))
    }
    return this.ri
  }
}

/** A number as pino writes one: not finite is null. */
const asNumber = (n: number): string => Number.isFinite(n) ? '' + n : 'null'

/**
 * `duration` (= micros / 1000) as pino writes it, '' + duration, without the shortest-digits
 * conversion of a fraction (~0.3 µs, most of what is left of a line): the division is correctly
 * rounded, so the double is the nearest to micros / 1000, whose decimal of at most 3 places is
 * then the shortest that reads back as it (below 2^31 µs doubles that far apart are distinct),
 * which is what Number's toString writes, in fixed notation from 1e-7 up. Beyond: toString.
 */
export function asDuration (micros: number, duration: number): string {
  if (!(micros >= 0 && micros < 2147483648)) return asNumber(duration)
  const whole = Math.floor(micros / 1000)
  const frac = micros - whole * 1000
  if (frac === 0) return '' + whole
  if (frac % 100 === 0) return whole + '.' + frac / 100
  if (frac % 10 === 0) return whole + (frac < 100 ? '.0' : '.') + frac / 10
  return whole + (frac < 10 ? '.00' : frac < 100 ? '.0' : '.') + frac
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
