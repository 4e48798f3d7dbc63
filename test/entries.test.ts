// isopool/handler and the isolate's own entry load no main-thread code: checked twice, on the
// import graph of the sources (every static and dynamic relative import, followed), and at run
// time, by recording every module each thread of a real server loads.
import { describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const SRC = fileURLToPath(new URL('../src/', import.meta.url))
const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url))
const MAIN = join(SRC, 'main') + '/'

/** Every source file `entry` imports, directly or not, by relative specifiers. */
function importGraph (entry: string): Set<string> {
  const seen = new Set<string>()
  const visit = (file: string): void => {
    if (seen.has(file)) return
    seen.add(file)
    const text = readFileSync(file, 'utf8')
    for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"](\.{1,2}\/[^'"]+)['"]/g)) {
      visit(resolve(dirname(file), m[1]))
    }
  }
  visit(entry)
  return seen
}

describe('entries', () => {
  it('src/handler.ts and src/isolate/worker.ts import nothing under src/main, directly or not', () => {
    for (const entry of ['handler.ts', 'isolate/worker.ts']) {
      const graph = [...importGraph(join(SRC, entry))]
      expect(graph.length).toBeGreaterThan(3)
      expect(graph.filter(f => f.startsWith(MAIN)), entry).toEqual([])
    }
    // The check itself sees main-thread code where it is: the public entry loads the server.
    expect([...importGraph(join(SRC, 'index.ts'))].some(f => f.startsWith(MAIN))).toBe(true)
  })

  it('at run time, importing isopool/handler loads no file of src/main, and neither does an isolate', () => {
    const dir = mkdtempSync(join(tmpdir(), 'isopool-entries-'))
    try {
      const loads = (mode: string): string[] => {
        const file = join(dir, `${mode}.log`)
        execFileSync(process.execPath, ['--import', join(FIXTURES, 'entry-hook.ts'), join(FIXTURES, 'entry-script.ts'), mode], {
          env: { ...process.env, ISOPOOL_TEST_LOADS: file },
          stdio: ['ignore', 'ignore', 'inherit'],
          timeout: 30_000
        })
        return readFileSync(file, 'utf8').trim().split('\n')
      }
      const main = (line: string): boolean => fileURLToPath(line.slice(line.indexOf(' ') + 1)).startsWith(MAIN)
      const handler = loads('handler')
      expect(handler.some(l => l.endsWith('/src/handler.ts'))).toBe(true)
      expect(handler.filter(main)).toEqual([])
      const server = loads('server')
      const isolate = server.filter(l => l.startsWith('isolate '))
      expect(isolate.some(l => l.endsWith('/src/isolate/worker.ts'))).toBe(true)
      expect(isolate.some(l => l.endsWith('/fixtures/typed/users.ts'))).toBe(true)
      expect(isolate.filter(main)).toEqual([])
      // The hook does see main-thread code where it is loaded.
      expect(server.filter(l => l.startsWith('main ')).some(main)).toBe(true)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
