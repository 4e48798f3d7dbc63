// A young-generation GC every STREAMED_GC_EVERY bytes of streamed request body, on each thread
// that handles them (the main thread's socket reads, an isolate's copies out of the ring).
//
// Why: each chunk of a streamed body is a fresh ArrayBuffer (node allocates one per socket
// read; the isolate copies each chunk out of the ring, as the handler may keep it) whose memory
// lies outside V8's heap. Its JS wrapper is tiny, so the young generation does not fill and no
// scavenge runs; V8 collects only once a thread's external memory has grown by its 64 MB limit,
// and then by a full mark-compact. A 1 GiB upload thus left up to ~64 MiB of dead chunks per
// thread (the main thread and the isolate each), +90–130 MiB of RSS. The chunks die young
// (copied into the ring, hashed, dropped), so a scavenge every few MiB frees them: it costs a
// fraction of a millisecond (it walks live young objects only), and the memory it frees is
// reused hot by the next reads, so an upload takes less CPU than without it, not more.
//
// The scavenge is V8's gc({ type: 'minor' }), reached once per thread through --expose-gc set
// for one new context and unset again (the process's own gc() when it was started with
// --expose-gc). Where that is refused, nothing is collected early and V8's own limits apply.

import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

/** Bytes of streamed body a thread takes between two young-generation GCs. */
export const STREAMED_GC_EVERY = 8 * 1024 * 1024

type MinorGc = () => void

/** Counts a thread's streamed body bytes and runs `collect` every `every` of them. */
export class StreamedGc {
  private readonly collect: () => MinorGc | null
  private readonly every: number
  private since = 0
  private gc: MinorGc | null | undefined = undefined

  /** `collect` finds the GC function (once, on the first collection due); null: there is none. */
  constructor (collect: () => MinorGc | null, every: number = STREAMED_GC_EVERY) {
    this.collect = collect
    this.every = every
  }

  /** `n` bytes of a streamed body went through this thread. */
  note (n: number): void {
    this.since += n
    if (this.since < this.every) return
    this.since = 0
    if (this.gc === undefined) this.gc = this.collect()
    this.gc?.()
  }
}

/** This thread's minor GC, or null where the runtime refuses it. */
export function minorGc (): MinorGc | null {
  const own = (globalThis as { gc?: unknown }).gc
  let gc = typeof own === 'function' ? own : null
  if (gc === null) {
    try {
      setFlagsFromString('--expose-gc')
      gc = runInNewContext('gc')
    } catch {
      gc = null
    } finally {
      // Only the context made here has gc(): contexts made later (user code's) do not.
      setFlagsFromString('--no-expose-gc')
    }
  }
  if (typeof gc !== 'function') return null
  const f = gc as (options: { type: 'minor' }) => void
  return () => f({ type: 'minor' })
}

const thread = new StreamedGc(minorGc)

/** `n` bytes of a streamed request body went through this thread (read or copied). */
export function noteStreamedBytes (n: number): void {
  thread.note(n)
}
