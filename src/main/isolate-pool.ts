// The isolates: starting a generation of them, keeping it whole, replacing it on reload, and
// watching for stuck ones. Requests never pass through here: the dispatcher places them on the
// isolates this pool lists as active.
//
// - A generation is the set of isolates started from one plan (the modules, as listed when it
//   started); reload() starts the next one, moves traffic to it once it is ready, and retires the
//   old one: its requests not started move to the new isolates, the rest finish where they are.
// - Spares: `spares` isolates of the current generation are started ahead of need, idle. When an
//   active isolate dies, a spare takes its place at once (no start-up on the request path), and a
//   new spare is started behind it. Without a spare, the replacement starts at once.
// - A crash loop (isolates that die before answering a single request, or cannot start) waits
//   longer before each new start, up to 30 s, and says so, instead of spinning.
// - The supervisor looks at every active isolate every few tens of milliseconds: one whose
//   current synchronous handler has run past STALL_MS has stalled — it gets no new requests and
//   those it has not started move at once (src/shared/claims.ts says which); one stuck past
//   hardTimeout (a handler that never returns, or no progress with its event loop busy) is
//   terminated, and its requests that had started get 502.

import { busyClock } from '../shared/claims.ts'
import { IsopoolError } from '../shared/errors.ts'
import type { IsolateMessage, ManifestRoute, ManifestSocket } from '../shared/protocol.ts'
import { IsolateHandle } from './isolate-handle.ts'
import type { IsolateConfig, IsolateEvents, Placement } from './isolate-handle.ts'
import type { IsolatePlan, Routes } from './route-table.ts'

/** A synchronous handler running this long has stalled its isolate: its queue moves (ms). */
export const STALL_MS = 100
/** How often the supervisor looks at the busy words (ms). */
const TICK_MS = 25
/** Longest wait before starting again after a crash loop (ms). */
const MAX_BACKOFF_MS = 30_000

export interface PoolOptions {
  isolates: number
  spares: number
  /** Ms an isolate may stay stuck before it is terminated; 0 for never. */
  hardTimeout: number
  /** Everything an isolate is started with but the plan. */
  isolate: Omit<IsolateConfig, 'modules' | 'routes' | 'discover' | 'websockets'>
}

export interface PoolEvents {
  /** A generation's routes are about to take over: requests waiting for an isolate are routed
   * by them from now on. */
  switched (routes: Routes): void
  /** The active isolates changed (one died, was replaced, a reload went live). */
  changed (active: readonly IsolateHandle[]): void
  /** Room came free on an isolate, or requests moved back to the dispatcher. */
  space (): void
  /** A message from a ready isolate (a log line, a metrics report). */
  message (handle: IsolateHandle, msg: IsolateMessage): void
}

interface Generation {
  readonly id: number
  readonly plan: IsolatePlan
  readonly config: IsolateConfig
  routes: Routes | null
  manifestKey: string
}

export class IsolatePool {
  private readonly options: PoolOptions
  private readonly events: PoolEvents
  /** performance.timeOrigin of this thread in whole ms: the claim tables' epoch. */
  private readonly epoch = Math.floor(performance.timeOrigin)
  private readonly clock = busyClock(this.epoch)
  private readonly handleEvents: IsolateEvents
  private generation: Generation | null = null
  /** The isolates requests go to. */
  active: IsolateHandle[] = []
  private spares: IsolateHandle[] = []
  /** Starts under way (replacements and spares) of the current generation. */
  private starting = 0
  /** Isolates of an older generation finishing their requests after a reload. */
  private readonly retiring = new Set<IsolateHandle>()
  /** Isolates replaced since listen() (deaths and kills; not reloads). */
  restarts = 0
  /** Deaths before a first answer, and failed starts, in a row: the crash-loop back-off. */
  private barren = 0
  /** Starts that failed in a row (with barren, the crash-loop back-off). */
  private failedStarts = 0
  private nextIndex = 0
  private stopped = false
  private supervisor: NodeJS.Timeout | null = null
  private reloading: Promise<void> | null = null

  constructor (options: PoolOptions, events: PoolEvents) {
    this.options = options
    this.events = events
    this.handleEvents = {
      space: () => this.events.space(),
      exit: (handle) => this.exited(handle),
      message: (handle, msg) => this.events.message(handle, msg)
    }
  }

  /**
   * Start the first generation and wait until every isolate has imported its modules; `build`
   * makes its routes from what they found (and may throw: a conflict). Rejects with nothing left
   * running when a module cannot be imported or an export is missing.
   */
  async start (plan: IsolatePlan, build: (manifest: ManifestRoute[], sockets: ManifestSocket[]) => Routes): Promise<Routes> {
    const { gen, handles } = await this.startGeneration(plan)
    let routes: Routes
    try {
      routes = build(handles[0]?.manifest ?? [], handles[0]?.socketManifest ?? [])
    } catch (err) {
      await Promise.all(handles.map(h => h.stop()))
      throw err
    }
    this.activate(gen, routes, handles)
    this.supervisor = setInterval(() => this.supervise(), TICK_MS)
    this.supervisor.unref()
    return routes
  }

  /**
   * Start a new generation from `plan`; once all are ready, new requests go to them and the old
   * ones finish what they have started, then stop (what they had not started moves). If a module
   * fails to import, the old isolates keep serving and the promise rejects with the coded error.
   * Calls made while a reload runs share it.
   */
  reload (plan: () => IsolatePlan, build: (manifest: ManifestRoute[], sockets: ManifestSocket[]) => Routes): Promise<void> {
    this.reloading ??= this.swap(plan(), build).finally(() => { this.reloading = null })
    return this.reloading
  }

  get isReloading (): boolean { return this.reloading !== null }

  /** Spare isolates ready now. */
  get spareCount (): number { return this.spares.length }

  /** Requests placed on an isolate (serving or retiring) and not answered whole by it yet. */
  get inFlight (): number {
    let n = 0
    for (const h of this.active) n += h.inFlight
    for (const h of this.retiring) n += h.inFlight
    return n
  }

  /** Why the pool cannot serve as configured right now, or null. */
  notReady (): string | null {
    const n = this.options.isolates
    if (this.reloading !== null) return 'reloading'
    if (this.active.length < n) return `${n - this.active.length} of ${n} isolates are restarting`
    const now = this.clock()
    if (this.active.some(h => h.suspect || h.claims.busyFor(now) >= this.suspectAfter)) return 'an isolate is stuck'
    return null
  }

  /** Every request placed on an isolate and not answered whole yet (for shutdown). */
  placements (): Placement[] {
    return [...this.active, ...this.retiring].flatMap(h => h.pending.list())
  }

  /** Stop every isolate: active, spare, retiring. */
  async stop (): Promise<void> {
    this.stopped = true
    if (this.supervisor !== null) clearInterval(this.supervisor)
    await this.reloading?.catch(() => {})
    const late = await Promise.allSettled([...this.inStart])
    const all = [...this.active, ...this.spares, ...this.retiring, ...late.flatMap(s => s.status === 'fulfilled' ? [s.value] : [])]
    this.active = []
    this.spares = []
    await Promise.all(all.map(h => h.stop()))
  }

  // ── generations ────────────────────────────────────────────────────────────────────────────

  private async startGeneration (plan: IsolatePlan): Promise<{ gen: Generation, handles: IsolateHandle[] }> {
    const config: IsolateConfig = { ...this.options.isolate, modules: plan.modules, routes: plan.routes, discover: plan.discover, websockets: plan.websockets }
    const gen: Generation = { id: (this.generation?.id ?? 0) + 1, plan, config, routes: null, manifestKey: '' }
    const started = await Promise.allSettled(Array.from({ length: this.options.isolates }, () => this.startOne(gen)))
    const handles = started.flatMap(s => s.status === 'fulfilled' ? [s.value] : [])
    const failed = started.find(s => s.status === 'rejected')
    if (failed !== undefined) {
      await Promise.all(handles.map(h => h.stop()))
      throw (failed as PromiseRejectedResult).reason
    }
    // Every isolate must have found the same routes: they number them the same way.
    gen.manifestKey = manifestKey(handles[0]?.manifest ?? [])
    for (const h of handles) {
      if (manifestKey(h.manifest) !== gen.manifestKey) {
        await Promise.all(handles.map(x => x.stop()))
        throw new IsopoolError('ISOPOOL_ERR_ISOLATE_START', { isolate: h.index, reason: `it found other route() declarations than isolate ${handles[0].index} (modules that declare routes conditionally?)` })
      }
    }
    return { gen, handles }
  }

  private startOne (gen: Generation): Promise<IsolateHandle> {
    const started = IsolateHandle.start(this.nextIndex++, gen.config, this.handleEvents, this.epoch).then((h) => {
      h.generation = gen.id
      return h
    })
    this.inStart.add(started)
    void started.catch(() => {}).finally(() => this.inStart.delete(started))
    return started
  }

  /** Isolates starting now: stop() waits for them, then stops them. */
  private readonly inStart = new Set<Promise<IsolateHandle>>()

  /** `gen` goes live with `handles`; spares are started behind it. */
  private activate (gen: Generation, routes: Routes, handles: IsolateHandle[]): void {
    gen.routes = routes
    for (const h of handles) h.routes = routes
    this.generation = gen
    this.events.switched(routes)
    this.active = handles
    this.events.changed(this.active)
    this.replenish()
  }

  private async swap (plan: IsolatePlan, build: (manifest: ManifestRoute[], sockets: ManifestSocket[]) => Routes): Promise<void> {
    let fresh: { gen: Generation, handles: IsolateHandle[] }
    try {
      fresh = await this.startGeneration(plan)
    } catch (err) {
      console.error('isopool: reload failed, the running isolates keep serving:', err)
      throw err
    }
    if (this.stopped) {
      await Promise.all(fresh.handles.map(h => h.stop()))
      return
    }
    let routes: Routes
    try {
      routes = build(fresh.handles[0]?.manifest ?? [], fresh.handles[0]?.socketManifest ?? []) // the new code may declare other routes
    } catch (err) {
      await Promise.all(fresh.handles.map(h => h.stop()))
      console.error('isopool: reload failed, the running isolates keep serving:', err)
      throw err
    }
    const old = this.active
    const oldSpares = this.spares
    this.spares = []
    this.barren = 0
    this.failedStarts = 0
    this.activate(fresh.gen, routes, fresh.handles)
    await Promise.all([
      ...oldSpares.map(h => h.stop()),
      ...old.map(async (h) => {
        this.retiring.add(h)
        h.evacuate() // what it has not started runs on the new isolates (it is off the active list)
        await h.whenIdle()
        await h.stop()
        this.retiring.delete(h)
      })
    ])
  }

  // ── keeping the generation whole ───────────────────────────────────────────────────────────

  private exited (handle: IsolateHandle): void {
    if (this.stopped) return
    const spare = this.spares.indexOf(handle)
    if (spare >= 0) {
      // A spare that dies idle is a start that failed.
      this.spares.splice(spare, 1)
      this.startFailed(handle.index, new IsopoolError('ISOPOOL_ERR_ISOLATE_START', { isolate: handle.index, reason: 'the spare isolate stopped' }))
      return
    }
    const i = this.active.indexOf(handle)
    // A retired isolate of an older generation is not replaced.
    if (i < 0) return
    this.active.splice(i, 1)
    this.restarts++
    // One that died before it answered a single request is in a crash loop (a broken deploy, a
    // poisoned start-up) as much as one that cannot start: wait longer each time.
    this.barren = handle.answered === 0 ? this.barren + 1 : 0
    const promoted = this.spares.shift()
    if (promoted !== undefined) {
      this.active.push(promoted)
      this.events.changed(this.active)
    } else {
      this.events.changed(this.active)
    }
    // Requests that moved off the dead isolate are waiting: place them.
    this.events.space()
    this.replenish()
  }

  /** Start what the generation lacks (active isolates first, then spares), after the back-off. */
  private replenish (): void {
    const gen = this.generation
    if (gen === null || this.stopped) return
    const want = this.options.isolates + this.options.spares - this.active.length - this.spares.length - this.starting
    if (want <= 0) return
    const delay = this.barren === 0 && this.failedStarts === 0 ? 0 : Math.min(MAX_BACKOFF_MS, 100 * 2 ** (this.barren + this.failedStarts - 1))
    const streak = this.barren + this.failedStarts
    if (streak > 1) console.error(`isopool: isolate ${this.nextIndex} keeps dying before it answers a request (${streak} times in a row); next try in ${delay} ms`)
    this.starting += want
    for (let k = 0; k < want; k++) {
      const timer = setTimeout(() => {
        if (this.generation !== gen || this.stopped) {
          // A reload went live meanwhile: the new generation starts its own.
          this.starting--
          this.replenish()
          return
        }
        this.startOne(gen).then(
          (h) => {
            this.starting--
            if (this.generation !== gen || this.stopped) {
              void h.stop()
              this.replenish()
              return
            }
            if (manifestKey(h.manifest) !== gen.manifestKey) {
              void h.stop()
              this.startFailed(h.index, new IsopoolError('ISOPOOL_ERR_ISOLATE_START', { isolate: h.index, reason: 'it found other route() declarations than its generation' }))
              return
            }
            this.failedStarts = 0
            h.routes = gen.routes
            if (this.active.length < this.options.isolates) {
              this.active.push(h)
              this.events.changed(this.active)
            } else {
              this.spares.push(h)
            }
          },
          (err) => {
            this.starting--
            this.startFailed(-1, err)
          }
        )
      }, delay)
      timer.unref()
    }
  }

  private startFailed (index: number, err: unknown): void {
    if (this.stopped) return
    console.error(`isopool: isolate ${index < 0 ? this.nextIndex - 1 : index} could not be restarted:`, err)
    this.failedStarts++
    this.replenish()
  }

  // ── supervision ────────────────────────────────────────────────────────────────────────────

  /** How long an isolate may look stuck before /readyz says so (two supervisor looks). */
  private get suspectAfter (): number {
    return 2 * this.eluEvery
  }

  /** How often the event-loop check runs (ms): a quarter of hardTimeout, within 50 – 1000. */
  private get eluEvery (): number {
    const hard = this.options.hardTimeout
    return hard > 0 ? Math.max(50, Math.min(1000, hard >>> 2)) : 1000
  }

  private lastElu = 0

  private supervise (): void {
    const now = this.clock()
    const hard = this.options.hardTimeout
    const eluDue = now - this.lastElu >= this.eluEvery
    if (eluDue) this.lastElu = now
    for (const h of this.active) {
      const busy = h.claims.busyFor(now)
      if (busy >= STALL_MS) {
        if (!h.stalled) {
          h.stalled = true
          h.evacuate()
        }
      } else if (h.stalled) {
        h.stalled = false
        this.events.space()
      }
      if (eluDue) {
        const stuck = h.stuckFor(performance.now())
        const was = h.suspect
        h.suspect = stuck >= this.suspectAfter
        if (h.suspect && !was) h.evacuate()
        else if (was && !h.suspect) this.events.space()
        if (hard > 0 && stuck > hard) {
          this.kill(h)
          continue
        }
      }
      if (hard > 0 && busy > hard) this.kill(h)
    }
  }

  private kill (h: IsolateHandle): void {
    if (h.killed) return
    console.error(`isopool: isolate ${h.index} made no progress for ${this.options.hardTimeout} ms with its event loop busy; terminating it`)
    h.kill(`a handler ran past the hard time limit of ${this.options.hardTimeout} ms`)
  }
}

function manifestKey (m: ManifestRoute[]): string {
  return JSON.stringify(m.map(r => [r.method, r.path, r.module, r.export]))
}
