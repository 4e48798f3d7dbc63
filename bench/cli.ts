// What bench/run.ts and bench/soak.ts share as command-line tools: option checks, a plain text
// table, and the commit a result was measured at.

import { execFileSync } from 'node:child_process'

/** Print `message` and exit with `code` (run.ts: 1 for a usage error; soak.ts: 2). */
export function failWith (code: number): (message: string) => never {
  return (message: string): never => {
    console.error(message)
    process.exit(code)
  }
}

/** `--name` as a number in [min, max], or fail. */
export function numberOption (fail: (m: string) => never, name: string, value: string, min: number, max = Infinity): number {
  const n = Number(value)
  if (!Number.isFinite(n) || n < min || n > max) {
    fail(max === Infinity ? `--${name} must be a number ≥ ${min}, got ${value}` : `--${name} must be a number from ${min} to ${max}, got ${value}`)
  }
  return n
}

/** `--name` as a positive integer, or fail. */
export function integerOption (fail: (m: string) => never, name: string, value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1) fail(`--${name} must be a positive integer, got ${value}`)
  return n
}

/** Left-aligned first column, right-aligned others, a rule under the header. */
export function printTable (header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map(r => r[i].length)))
  const line = (cells: string[]): string => cells.map((c, i) => i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i])).join('  ')
  console.log(line(header))
  console.log(widths.map(w => '─'.repeat(w)).join('  '))
  for (const row of rows) console.log(line(row))
}

/** The short commit of `dir`'s checkout, `+dirty` when it has changes; null outside git. */
export function gitCommit (dir: string): string | null {
  try {
    const git = (args: string[]): string => execFileSync('git', args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
    const head = git(['rev-parse', '--short', 'HEAD'])
    return git(['status', '--porcelain']) !== '' ? `${head}+dirty` : head
  } catch {
    return null
  }
}
