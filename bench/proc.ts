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
