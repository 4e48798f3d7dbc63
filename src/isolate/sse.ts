// Server-Sent Events: sse(source) is a Response whose body is the source's events, encoded as
// text/event-stream, with `: heartbeat` comments while the source is idle. It streams like any
// Response with a stream body (src/isolate/stream.ts): never compressed, never buffered, its
// producer paused by credit when the client reads slowly, cancelled when the request is given up.

/** One event: `data` (non-string data goes as JSON), and optionally its event type, id and the
 * reconnection time (ms) the client should use. */
export interface SseEvent {
  data: unknown
  event?: string
  id?: string
  retry?: number
}

export type SseSource = AsyncIterable<string | SseEvent>

export interface SseOptions {
  /** ms of idle source between `: heartbeat` comments (default 15,000; 0 for none). */
  heartbeat?: number
}

const HEARTBEAT = ': heartbeat\n\n'
const LINE_BREAK = /\r\n|\r|\n/

/** The text/event-stream form of one event. */
export function encodeEvent (e: string | SseEvent): string {
  if (typeof e === 'string') return dataLines(e) + '\n'
  let s = ''
  if (e.event !== undefined) s += `event: ${oneLine(e.event)}\n`
  if (e.id !== undefined) s += `id: ${oneLine(e.id).replaceAll('\0', '')}\n`
  if (e.retry !== undefined && Number.isFinite(e.retry) && e.retry >= 0) s += `retry: ${Math.floor(e.retry)}\n`
  const data = typeof e.data === 'string' ? e.data : JSON.stringify(e.data) ?? 'null'
  return s + dataLines(data) + '\n'
}

function dataLines (data: string): string {
  let s = ''
  for (const line of data.split(LINE_BREAK)) s += `data: ${line}\n`
  return s
}

const oneLine = (v: unknown): string => String(v).replace(/[\r\n]+/g, ' ')

/**
 * A Response of Server-Sent Events. `source` is an async iterable of events (a string is an
 * event's data), or a function that is given an AbortSignal — it fires when the request is given
 * up: the client left, or the server shuts down — and returns one.
 */
export function sse (source: SseSource | ((signal: AbortSignal) => SseSource), options: SseOptions = {}): Response {
  const heartbeat = options.heartbeat ?? 15_000
  if (typeof heartbeat !== 'number' || !(heartbeat >= 0)) throw new TypeError(`sse(): heartbeat must be a number of ms, got ${String(heartbeat)}`)
  const controller = new AbortController()
  let it: AsyncIterator<string | SseEvent> | null = null
  let pending: Promise<IteratorResult<string | SseEvent>> | null = null
  let timer: NodeJS.Timeout | null = null
  const body = new ReadableStream<Uint8Array>({
    async pull (c) {
      if (it === null) {
        const src = typeof source === 'function' ? source(controller.signal) : source
        it = src[Symbol.asyncIterator]()
      }
      pending ??= it.next()
      let r: IteratorResult<string | SseEvent> | null
      if (heartbeat > 0) {
        const beat = new Promise<null>(resolve => { timer = setTimeout(resolve, heartbeat, null) })
        r = await Promise.race([pending, beat])
        clearTimeout(timer!)
        timer = null
      } else {
        r = await pending
      }
      if (r === null) {
        c.enqueue(Buffer.from(HEARTBEAT, 'latin1'))
        return
      }
      pending = null
      if (r.done === true) {
        c.close()
        return
      }
      // Buffer.from, not TextEncoder: an event is a few dozen bytes, and a pooled Buffer costs a
      // tenth of a TextEncoder's own ArrayBuffer (one per event per client, in a fan-out).
      c.enqueue(Buffer.from(encodeEvent(r.value), 'utf8'))
    },
    cancel (reason) {
      if (timer !== null) clearTimeout(timer)
      controller.abort(reason)
      try {
        void Promise.resolve(it?.return?.()).catch(() => {})
      } catch {}
    }
  }, { highWaterMark: 0 })
  return new Response(body, { headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' } })
}
