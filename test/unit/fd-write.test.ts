// Writing held lines around a SonicBoom, to its file descriptor (src/main/fd-write.ts): on real
// descriptors (a file, /dev/null, a FIFO), without sockets: when it may and may not, that what it
// writes lands whole and after what the SonicBoom held, and that a failed write leaves the lines
// to the SonicBoom.
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { pino } from 'pino'
import { FdWriter } from '../../src/main/fd-write.ts'

type Sonic = ReturnType<typeof pino.destination>

let dir: string
beforeEach(() => { dir = mkdtempSync(path.join(os.tmpdir(), 'isopool-fd-write-')) })
afterEach(() => { rmSync(dir, { recursive: true, force: true }) })

const lines = (from: number, to: number): string => Array.from({ length: to - from }, (_, i) => `{"n":${from + i},"s":"é☃"}\n`).join('')
function fileSonic (minLength = 4096): { sonic: Sonic, file: string } {
  const file = path.join(dir, 'log')
  return { sonic: pino.destination({ dest: openSync(file, 'a'), minLength }), file }
}

describe('FdWriter', () => {
  it('knows only a SonicBoom', () => {
    expect(FdWriter.around({ write () {} })).toBeNull()
    expect(FdWriter.around(null)).toBeNull()
    const { sonic } = fileSonic()
    expect(FdWriter.around(sonic)).not.toBeNull()
    sonic.destroy()
  })

  it('writes to a file itself while the SonicBoom holds nothing, each batch whole', () => {
    const { sonic, file } = fileSonic()
    const w = FdWriter.around(sonic)!
    w.write(lines(0, 100))
    expect(w.wroteAround).toBe(true)
    // Written when write() returns, with nothing left in the SonicBoom.
    expect(readFileSync(file, 'utf8')).toBe(lines(0, 100))
    // A batch larger than the buffer it keeps.
    w.write(lines(100, 5000))
    expect(readFileSync(file, 'utf8')).toBe(lines(0, 5000))
    sonic.destroy()
  })

  it('leaves the lines to the SonicBoom while it holds some, so they go after what it holds', () => {
    const { sonic, file } = fileSonic()
    const w = FdWriter.around(sonic)!
    sonic.write('{"held":true}\n') // below minLength: held
    w.write(lines(0, 10))
    expect(w.wroteAround).toBe(false)
    expect(readFileSync(file, 'utf8')).toBe('')
    sonic.flushSync()
    expect(readFileSync(file, 'utf8')).toBe('{"held":true}\n' + lines(0, 10))
    // Empty again: around it.
    w.write(lines(10, 20))
    expect(w.wroteAround).toBe(true)
    expect(readFileSync(file, 'utf8')).toBe('{"held":true}\n' + lines(0, 20))
    sonic.destroy()
  })

  it('writes around one to /dev/null, and not around one to a FIFO', () => {
    const toNull = pino.destination({ dest: openSync('/dev/null', 'w'), minLength: 4096 })
    const a = FdWriter.around(toNull)!
    a.write(lines(0, 3))
    expect(a.wroteAround).toBe(true)
    toNull.destroy()

    const fifo = path.join(dir, 'fifo')
    execFileSync('mkfifo', [fifo])
    const fd = openSync(fifo, 'r+') // read and write: opening does not wait for a reader
    const toFifo = pino.destination({ dest: fd, minLength: 0, sync: true })
    const b = FdWriter.around(toFifo)!
    b.write('{"n":1}\n')
    expect(b.wroteAround).toBe(false)
    toFifo.destroy()
  })

  it('leaves the lines, and every later batch, to the SonicBoom once a write fails', async () => {
    const { sonic } = fileSonic(0)
    const given: string[] = []
    const write = sonic.write.bind(sonic)
    sonic.write = (s: string) => { given.push(s); return write(s) }
    const failed = new Promise<NodeJS.ErrnoException>(resolve => sonic.on('error', resolve))
    const w = FdWriter.around(sonic)!
    w.write(lines(0, 1))
    expect(w.wroteAround).toBe(true)
    closeSync((sonic as unknown as { fd: number }).fd) // the descriptor closed under it: the next writeSync fails with EBADF
    w.write(lines(1, 3))
    expect(w.wroteAround).toBe(false)
    expect(given).toEqual([lines(1, 3)])
    // The SonicBoom writes them and reports the failure itself.
    expect((await failed).code).toBe('EBADF')
    w.write(lines(3, 4))
    expect(w.wroteAround).toBe(false)
    expect(given).toEqual([lines(1, 3), lines(3, 4)])
  })
})
