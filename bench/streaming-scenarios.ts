// What the streaming bench's targets share (bench/streaming.ts): the one ticker per process or
// isolate that every open SSE stream writes to, the tick's event, and the download's chunks. The
// isopool target (targets/streaming-handlers.ts, in each isolate) and the Fastify one
// (targets/streaming-fastify.ts) import THIS module, so both fan out the same events from the
// same ticker and stream the same bytes; only the framework around them differs.
//
//   sse-fanout     GET /sse           text/event-stream; every TICK_MS one event to every open
//                                     stream: data {"src","seq","t"}, t the tick's stamp (ms, a
//                                     clock every process of the machine shares)
//   download-100m  GET /download?mb=N N MiB (default 100) in 64 KiB Uint8Array chunks
//   signal         GET /endless?key=K a tick every 20 ms until the client hangs up; when its
//                                     abort is seen, `{"aborted":K,"at":ms}` on stdout

import { threadId } from 'node:worker_threads'

/** Ms between ticks: ISOPOOL_BENCH_TICK_MS (set by bench/streaming.ts for every target). */
export const TICK_MS = Number(process.env.ISOPOOL_BENCH_TICK_MS ?? 100)

/** Now in ms, on a clock every process of the machine shares (the wall clock, µs resolution). */
export const now = (): number => performance.timeOrigin + performance.now()

/** One ticker for this thread (a process's main thread, or an isolate): a listener is called on
 * every tick with the event's text, until it unsubscribes. */
export class Ticker {
  private readonly listeners = new Set<(event: string) => void>()
  private timer: NodeJS.Timeout | null = null
  private seq = 0
  /** Which ticker (the thread): the load generator counts ticks per source. */
  private readonly src = `${process.pid}.${threadId}`

  subscribe (listener: (event: string) => void): () => void {
    this.listeners.add(listener)
    if (this.timer === null) {
      this.timer = setInterval(() => this.tick(), TICK_MS)
      this.timer.unref()
    }
    return () => { this.listeners.delete(listener) }
  }

  get size (): number { return this.listeners.size }

  private tick (): void {
    const event = `data: {"src":"${this.src}","seq":${++this.seq},"t":${now()}}\n\n`
    for (const l of this.listeners) l(event)
  }
}

export const MiB = 1024 * 1024
const CHUNK = new Uint8Array(64 * 1024).fill(120)

/** `mb` MiB in 64 KiB chunks, made as they are pulled. */
export async function * chunks (mb: number): AsyncGenerator<Uint8Array> {
  for (let sent = 0; sent < mb * MiB; sent += CHUNK.byteLength) yield CHUNK
}

/** The download's size from its query (default 100 MiB). */
export function downloadMb (q: unknown): number {
  const n = Number(q ?? 100)
  return Number.isFinite(n) && n > 0 && n <= 4096 ? n : 100
}

/** The signal scenario's line: the stream of `key` saw its client leave at `now()`. */
export function reportAbort (key: string): void {
  process.stdout.write(JSON.stringify({ aborted: key, at: now() }) + '\n')
}
