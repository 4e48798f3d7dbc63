// /proc readings of a target's process tree (Linux), for bench/load.ts and bench/run.ts: CPU time
// of every thread of every process under a pid (cluster's workers, piscina's and isopool's
// threads), and resident memory.

import { readdirSync, readFileSync } from 'node:fs'

/** USER_HZ: the unit of utime/stime in /proc/<pid>/stat; 100 on Linux. */
const TICKS = 100

/** `pid` and all its descendants (scans /proc once). */
export function processTree (pid: number): number[] {
  const children = new Map<number, number[]>()
  let names: string[]
  try {
    names = readdirSync('/proc')
  } catch {
    return [pid]
  }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue
    const stat = readStat(Number(name))
    if (stat === null) continue
    const ppid = Number(stat[1])
    let list = children.get(ppid)
    if (list === undefined) children.set(ppid, list = [])
    list.push(Number(name))
  }
  const out: number[] = []
  const todo = [pid]
  while (todo.length > 0) {
    const p = todo.pop()!
    out.push(p)
    todo.push(...(children.get(p) ?? []))
  }
  return out
}

/** Fields of /proc/<pid>/stat after the command name: [0] is state (field 3 of proc(5)). */
function readStat (pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  } catch {
    return null
  }
}

/** utime + stime of one process (all its threads), in seconds; null when it is gone. */
export function processCpuS (pid: number): number | null {
  const f = readStat(pid)
  return f === null ? null : (Number(f[11]) + Number(f[12])) / TICKS
}

/** CPU seconds of a set of processes (those that are gone count 0). */
export function treeCpuS (pids: number[]): number {
  let s = 0
  for (const pid of pids) s += processCpuS(pid) ?? 0
  return s
}

/** A field of /proc/<pid>/status in bytes (VmRSS: resident now, VmHWM: its peak so far). */
export function statusBytes (pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'latin1'))
    return m === null ? 0 : Number(m[1]) * 1024
  } catch {
    return 0
  }
}

/**
 * Peak resident memory of a process tree: samples the sum of VmRSS every `everyMs`; for a single
 * process, its own VmHWM (exact, from the kernel) when that is higher.
 */
export class RssSampler {
  private readonly pids: number[]
  private peak = 0
  private readonly timer: NodeJS.Timeout

  constructor (pids: number[], everyMs = 200) {
    this.pids = pids
    this.sample()
    this.timer = setInterval(() => this.sample(), everyMs)
    this.timer.unref()
  }

  private sample (): void {
    let sum = 0
    for (const pid of this.pids) sum += statusBytes(pid, 'VmRSS')
    if (sum > this.peak) this.peak = sum
  }

  /** Stop sampling; the peak in bytes. */
  stop (): number {
    clearInterval(this.timer)
    this.sample()
    if (this.pids.length === 1) this.peak = Math.max(this.peak, statusBytes(this.pids[0], 'VmHWM'))
    return this.peak
  }
}

// ── per thread: CPU and wake-ups, by role ──────────────────────────────────────────────────────

/** What a thread does in the target: the main thread of a process (isopool's accept loop, each
 * cluster worker's event loop), a worker thread (isopool's isolates, named `isopool isolate N`;
 * piscina's workers), or the rest (V8's platform threads, libuv's pool). */
export type ThreadRole = 'main' | 'isolates' | 'other'
/** Node's own helper threads, by their /proc comm (15 characters at most). */
const HELPER_THREADS = /^(V8Worker|DelayedTaskSche|SignalInspector|libuv-worker|node|inspector)/

/** One thread's counters at one moment: CPU ticks and voluntary context switches (each one a
 * sleep, so each one a wake-up the thread needed later). */
interface ThreadSample { role: ThreadRole, user: number, sys: number, wakes: number }

/** Per thread (pid/tid) of a set of processes, now. */
export function threadSamples (pids: number[]): Map<string, ThreadSample> {
  const out = new Map<string, ThreadSample>()
  for (const pid of pids) {
    let tids: string[]
    try {
      tids = readdirSync(`/proc/${pid}/task`)
    } catch {
      continue
    }
    for (const tid of tids) {
      try {
        const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'latin1')
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
        const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
        const wakes = Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/task/${tid}/status`, 'latin1'))?.[1] ?? 0)
        const role: ThreadRole = Number(tid) === pid ? 'main' : HELPER_THREADS.test(comm) ? 'other' : 'isolates'
        out.set(`${pid}/${tid}`, { role, user: Number(f[11]), sys: Number(f[12]), wakes })
      } catch {} // the thread ended meanwhile
    }
  }
  return out
}

/** CPU µs (user, kernel) and wake-ups per request of the threads of one role. */
export interface RoleCost { userUs: number, sysUs: number, wakes: number }
export type ThreadCosts = Record<ThreadRole, RoleCost>

/** What each role of threads spent per request between two samples (a thread that started in
 * between counts from zero; one that ended is left out). */
export function threadCosts (before: Map<string, ThreadSample>, after: Map<string, ThreadSample>, requests: number): ThreadCosts | null {
  if (requests <= 0) return null
  const zero = (): RoleCost => ({ userUs: 0, sysUs: 0, wakes: 0 })
  const costs: ThreadCosts = { main: zero(), isolates: zero(), other: zero() }
  const perTick = 1e6 / TICKS / requests
  for (const [id, a] of after) {
    const b = before.get(id) ?? { user: 0, sys: 0, wakes: 0 }
    const c = costs[a.role]
    c.userUs += (a.user - b.user) * perTick
    c.sysUs += (a.sys - b.sys) * perTick
    c.wakes += (a.wakes - b.wakes) / requests
  }
  return costs
}
