// Streamed responses in the isolate: a ReadableStream, an async iterable, or a Response whose
// body is a stream, pulled chunk by chunk into BODY frames behind a RES_HEAD of unknown length.
//
//   collect: pull while chunks come within one event-loop turn ──done──▶ one whole answer
//      │ a chunk is late (or more than COLLECT_MAX came)
//      ▼
//   RES_HEAD (UNKNOWN_LENGTH) · the chunks so far · then pull ─▶ BODY … ─▶ BODY+END
//      pull only while fewer than STREAM_WINDOW bytes are unacknowledged (CREDIT frames, frame.ts)
//      abort (req.signal: client gone, timeout, shutdown) ─▶ source cancelled ─▶ BODY+END
//      a chunk that is not bytes, or the source throws ─▶ ABORT (the main thread cuts the connection)
//
// Collecting first keeps a Response built from a string, bytes or a Blob (whose body is a stream
// too, read in microtasks) answered whole with its length and compressible, and lets a bad first
// chunk still be a coded 500. A stream that waits goes out at once, head first.

import { IsopoolError } from '../shared/errors.ts'
import { KIND_ABORT, KIND_BODY, KIND_RES_HEAD, STREAM_WINDOW, UNKNOWN_LENGTH, writeBody, writeHead } from '../shared/frame.ts'
import type { FrameBacklog, PendingFrame } from '../shared/frame-backlog.ts'
import type { RingProducer } from '../shared/ring.ts'
import { logError } from './log.ts'

/** What of a stream is collected before the answer is decided as a stream rather than whole. */
const COLLECT_MAX = 4 * 1024 * 1024

/** A stream's chunks, pulled one at a time; cancel() ends it early (runs a generator's finally). */
export interface ChunkSource {
  next (): Promise<IteratorResult<unknown>>
  cancel (reason: unknown): void
  /** What it is, for errors: 'an async generator', 'a ReadableStream'. */
  readonly kind: string
}

export function isStreamSource (value: object): value is ReadableStream | AsyncIterable<unknown> {
  return value instanceof ReadableStream || typeof (value as Record<PropertyKey, unknown>)[Symbol.asyncIterator] === 'function'
}

export function sourceOf (value: ReadableStream | AsyncIterable<unknown>): ChunkSource {
  if (value instanceof ReadableStream) return readerSource(value.getReader(), 'a ReadableStream')
  const it = value[Symbol.asyncIterator]()
  const tag = Object.prototype.toString.call(value).slice(8, -1)
  return {
    kind: tag === 'AsyncGenerator' ? 'an async generator' : 'an async iterable',
    next: () => it.next(),
    cancel: () => {
      try {
        // An async generator suspended at a yield runs its finally now; one awaiting inside
        // runs it once that await is over (req.signal tells it sooner).
        void Promise.resolve(it.return?.()).catch(() => {})
      } catch {}
    }
  }
}

export function readerSource (reader: ReadableStreamDefaultReader<unknown>, kind: string): ChunkSource {
  return {
    kind,
    next: () => reader.read() as Promise<IteratorResult<unknown>>,
    cancel: (reason) => { reader.cancel(reason).catch(() => {}) }
  }
}

/** A chunk as bytes; null when it is not a string or bytes. */
export function chunkBytes (value: unknown): Uint8Array | null {
  if (value instanceof Uint8Array) return value
  if (typeof value === 'string') return Buffer.from(value, 'utf8')
  if (value instanceof ArrayBuffer) return new Uint8Array(value)
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
  return null
}

function badChunk (handler: string, source: ChunkSource, value: unknown): IsopoolError {
  const type = value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value === 'object' ? 'an object' : `a ${typeof value}`
  return new IsopoolError('ISOPOOL_ERR_INVALID_RESULT', { handler, type: `${source.kind} yielding ${type} (a stream's chunks are strings or bytes)` })
}

const LATER: unique symbol = Symbol('later')
const nextTurn = (): Promise<typeof LATER> => new Promise(resolve => setImmediate(resolve, LATER))

/** What collect() found: the whole body (`done`), or the start of a stream still going, with the
 * pull still under way (`pending`) if there is one. */
export interface Collected {
  parts: Uint8Array[]
  bytes: number
  done: boolean
  pending: Promise<IteratorResult<unknown>> | null
}

/** Pull what the source gives at once (see the diagram above). Throws on a chunk that is not bytes. */
export async function collect (source: ChunkSource, handler: string, signal: AbortSignal | undefined): Promise<Collected> {
  const parts: Uint8Array[] = []
  let bytes = 0
  for (;;) {
    const pending = source.next()
    const r = await Promise.race([pending, nextTurn()])
    if (r === LATER || signal?.aborted === true) return { parts, bytes, done: false, pending }
    if (r.done === true) return { parts, bytes, done: true, pending: null }
    const chunk = chunkBytes(r.value)
    if (chunk === null) {
      source.cancel(undefined)
      throw badChunk(handler, source, r.value)
    }
    if (chunk.byteLength > 0) {
      parts.push(chunk)
      bytes += chunk.byteLength
    }
    if (bytes >= COLLECT_MAX) return { parts, bytes, done: false, pending: null }
  }
}

/** The RES_HEAD of a stream: no body, no END, length unknown. */
class StreamHead implements PendingFrame {
  private readonly ring: RingProducer
  private readonly id: number
  private readonly arg: number
  private readonly ct: number
  private readonly text: string
  constructor (ring: RingProducer, id: number, arg: number, ct: number, text: string) {
    this.ring = ring
    this.id = id
    this.arg = arg
    this.ct = ct
    this.text = text
  }

  write (): boolean {
    return writeHead(this.ring, KIND_RES_HEAD, this.id, this.arg, this.ct, this.text, UNKNOWN_LENGTH, null, 0, false) >= 0
  }
}

/** A chunk of a stream (or its empty last frame, or an ABORT), in as many BODY frames as it takes. */
class StreamChunk implements PendingFrame {
  private readonly ring: RingProducer
  private readonly id: number
  private readonly kind: number
  private readonly body: Uint8Array | null
  private readonly final: boolean
  private offset = 0
  constructor (ring: RingProducer, id: number, kind: number, body: Uint8Array | null, final: boolean) {
    this.ring = ring
    this.id = id
    this.kind = kind
    this.body = body
    this.final = final
  }

  write (): boolean {
    if (this.kind === KIND_ABORT) return writeBody(this.ring, KIND_ABORT, this.id, null, 0, false) >= 0
    const len = this.body === null ? 0 : this.body.byteLength
    do {
      const n = writeBody(this.ring, KIND_BODY, this.id, this.body, this.offset, this.final)
      if (n < 0) return false
      this.offset += n
    } while (this.offset < len)
    return true
  }
}

/** One response stream being pulled into the ring. */
export class ResponseStream {
  readonly id: number
  private readonly backlog: FrameBacklog<PendingFrame>
  private readonly source: ChunkSource
  private readonly handler: string
  /** Bytes sent and not yet acknowledged by a CREDIT frame. */
  private unacked = 0
  private wake: (() => void) | null = null
  private aborted = false
  /** Ends the pull under way, if there is one, when the request is given up. */
  private onAbort: (() => void) | null = null

  constructor (id: number, backlog: FrameBacklog<PendingFrame>, source: ChunkSource, handler: string) {
    this.id = id
    this.backlog = backlog
    this.source = source
    this.handler = handler
  }

  /** The main thread wrote `n` bytes of it to the socket. */
  credit (n: number): void {
    this.unacked -= n
    if (this.unacked < STREAM_WINDOW) this.wakeUp()
  }

  /** The request was given up: the source is cancelled, the stream ends. */
  abort (reason: unknown): void {
    if (this.aborted) return
    this.aborted = true
    this.source.cancel(reason)
    this.onAbort?.()
    this.wakeUp()
  }

  private wakeUp (): void {
    const w = this.wake
    this.wake = null
    w?.()
  }

  /**
   * The next chunk, or undefined once the request is given up, whichever comes first. Not
   * Promise.race with one promise of the abort for the stream's life: every race leaves a
   * reaction on a promise that never settles, and each holds its race's result — the chunk —
   * so a stream would keep every chunk it ever sent.
   */
  private pull (next: Promise<IteratorResult<unknown>>): Promise<IteratorResult<unknown> | undefined> {
    return new Promise((resolve, reject) => {
      this.onAbort = () => resolve(undefined)
      next.then(resolve, reject)
    })
  }

  private send (chunk: Uint8Array): void {
    this.unacked += chunk.byteLength
    this.backlog.add(new StreamChunk(this.backlog.ring, this.id, KIND_BODY, chunk, false))
  }

  /** Head, the chunks collected, then the rest as it comes; resolves once the stream is over. */
  async run (status: number, ct: number, text: string, arg: number, got: Collected): Promise<void> {
    const ring = this.backlog.ring
    this.backlog.add(new StreamHead(ring, this.id, arg, ct, text))
    for (const part of got.parts) this.send(part)
    let pending = got.pending
    try {
      while (!this.aborted) {
        if (this.unacked >= STREAM_WINDOW) {
          await new Promise<void>(resolve => { this.wake = resolve })
          continue
        }
        const r = await this.pull(pending ?? this.source.next())
        this.onAbort = null
        pending = null
        if (r === undefined || this.aborted || r.done === true) break
        const chunk = chunkBytes(r.value)
        if (chunk === null) throw badChunk(this.handler, this.source, r.value)
        if (chunk.byteLength > 0) this.send(chunk)
      }
    } catch (err) {
      if (!this.aborted) {
        this.source.cancel(err)
        if (!logError('a response stream failed; its connection is cut', err)) {
          try { console.error(`isopool: the response stream of ${this.handler} failed; its connection is cut:`, err) } catch {}
        }
        this.backlog.add(new StreamChunk(ring, this.id, KIND_ABORT, null, false))
        return
      }
    }
    this.backlog.add(new StreamChunk(ring, this.id, KIND_BODY, null, true))
  }
}
