// The streaming bench's isopool handlers (targets/streaming-isopool.ts), the logic of
// ../streaming-scenarios.ts. The module's top level runs once per isolate: one ticker per isolate,
// which every open SSE stream of that isolate writes to.

import { sse } from 'isopool/handler'
import type { Request } from 'isopool/handler'
import { chunks, downloadMb, reportAbort, Ticker } from '../streaming-scenarios.ts'

const ticker = new Ticker()

/** Every tick of this isolate's ticker through sse(), until the client leaves. */
export const sseEvents = (): Response => sse((signal) => (async function * () {
  const queue: string[] = []
  let wake: (() => void) | null = null
  const unsubscribe = ticker.subscribe((event) => { queue.push(event); wake?.() })
  signal.addEventListener('abort', () => wake?.())
  try {
    for (;;) {
      while (queue.length === 0 && !signal.aborted) await new Promise<void>(resolve => { wake = resolve })
      wake = null
      if (signal.aborted) return
      // "data: {...}\n\n" → its data
      yield queue.shift()!.slice(6, -2)
    }
  } finally {
    unsubscribe()
  }
})(), { heartbeat: 0 })

export function download (req: Request): AsyncIterable<Uint8Array> {
  return chunks(downloadMb(req.query.mb))
}

export function endless (req: Request): AsyncIterable<string> {
  const key = String(req.query.key)
  req.signal.addEventListener('abort', () => reportAbort(key))
  return (async function * () {
    for (let i = 0; ; i++) {
      yield `tick ${i};`
      await new Promise(resolve => setTimeout(resolve, 20))
    }
  })()
}
