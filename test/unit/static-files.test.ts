// The pure parts of the static files (src/main/static-files.ts): how a URL's path is judged,
// content types, and the pump that sends a file a chunk at a time, waiting for the socket.
import { describe, expect, it } from 'vitest'
import { filePath, pump, typeOf } from '../../src/main/static-files.ts'
import type { PumpSource, PumpTarget } from '../../src/main/static-files.ts'

describe('filePath', () => {
  const at = (url: string): ReturnType<typeof filePath> => filePath(url, '/assets'.length)
  it('is the path below the prefix, decoded once, without the query', () => {
    expect(at('/assets/css/site.css')).toBe('/css/site.css')
    expect(at('/assets/a%20b.txt?v=2')).toBe('/a b.txt')
    expect(at('/assets/%252e%252e/x')).toBe('/%2e%2e/x') // once: a literal name, not a dot segment
    expect(at('/assets')).toBe('')
    expect(at('/assets?x=/..')).toBe('')
    expect(at('/assets/a..b/c.')).toBe('/a..b/c.')
  })
  it('refuses . and .. segments however they are written, NUL, backslashes and bad encoding: 400', () => {
    for (const url of ['/assets/..', '/assets/../x', '/assets/a/../../x', '/assets/%2e%2e/x', '/assets/%2E%2e%2Fx', '/assets/..%2fx', '/assets/./x', '/assets/%2e']) {
      expect(at(url), url).toEqual({ status: 400, reason: 'the path has a "." or ".." segment' })
    }
    expect(at('/assets/a%00.txt')).toEqual({ status: 400, reason: 'the path holds a NUL' })
    expect(at('/assets/..%5cx')).toEqual({ status: 400, reason: 'the path holds a backslash' })
    expect(at('/assets/a\\b')).toEqual({ status: 400, reason: 'the path holds a backslash' })
    expect(at('/assets/%zz')).toEqual({ status: 400, reason: 'the path is not valid percent-encoding' })
    expect(at('/assets/%c3')).toEqual({ status: 400, reason: 'the path is not valid percent-encoding' })
  })
  it('refuses dotfiles and dot folders: 404', () => {
    for (const url of ['/assets/.env', '/assets/.git/config', '/assets/a/%2ehtpasswd', '/assets/...']) {
      expect(at(url), url).toEqual({ status: 404, reason: 'dotfiles are not served' })
    }
  })
})

describe('typeOf', () => {
  it('names common types by extension, text ones with a charset, any case; else octet-stream', () => {
    expect(typeOf('/a/index.HTML')).toBe('text/html; charset=utf-8')
    expect(typeOf('/a/app.mjs')).toBe('text/javascript; charset=utf-8')
    expect(typeOf('/a/x.woff2')).toBe('font/woff2')
    expect(typeOf('/a/x.wasm')).toBe('application/wasm')
    expect(typeOf('/a/Makefile')).toBe('application/octet-stream')
    expect(typeOf('/a/x.exe')).toBe('application/octet-stream')
  })
})

/** A file of `size` bytes (byte i is i % 251) whose reads are logged, `short` bytes at most each. */
function source (size: number, log: string[], short = Infinity): PumpSource {
  return {
    async read (buffer, offset, length, position) {
      log.push(`read ${position}`)
      const n = Math.max(0, Math.min(length, size - position, short))
      for (let i = 0; i < n; i++) buffer[offset + i] = (position + i) % 251
      return { bytesRead: n }
    }
  }
}

/** A response whose socket is full after every write until drained() is let go (`release`). */
function target (log: string[]): PumpTarget & { body: Buffer[], release: () => void, gone: boolean, needsDrain: boolean, waiting: boolean } {
  let release = (): void => {}
  const t = {
    gone: false,
    waiting: false,
    body: [] as Buffer[],
    needsDrain: false,
    release: () => release(),
    drained () {
      log.push('wait')
      t.waiting = true
      return new Promise<void>(resolve => { release = () => { t.waiting = false; resolve() } })
    },
    write (chunk: Buffer) { log.push(`write ${chunk.byteLength}`); t.body.push(Buffer.from(chunk)); t.needsDrain = true },
    end (chunk: Buffer) { log.push(`end ${chunk.byteLength}`); t.body.push(Buffer.from(chunk)) },
    cut () { log.push('cut') }
  }
  return t
}

/** Wait until `ok()`: the pump's awaits are on promises settled already, so a few turns suffice. */
async function settle (ok: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !ok(); i++) await Promise.resolve()
  expect(ok()).toBe(true)
}

const expected = (start: number, length: number): Buffer => Buffer.from(Array.from({ length }, (_, i) => (start + i) % 251))

describe('pump', () => {
  it('sends a small file in one end(), with one read', async () => {
    const log: string[] = []
    const out = target(log)
    await pump(source(1000, log), out, 0, 1000)
    expect(log).toEqual(['read 0', 'end 1000'])
    expect(Buffer.concat(out.body)).toEqual(expected(0, 1000))
  })

  it('reads the next chunk only once the socket has drained', async () => {
    const log: string[] = []
    const out = target(log)
    const size = 150 * 1024
    const done = pump(source(size, log), out, 0, size)
    await settle(() => out.waiting)
    expect(log).toEqual(['read 0', 'write 65536', 'wait'])
    out.needsDrain = false
    out.release()
    await settle(() => out.waiting || log.length > 5)
    out.needsDrain = false
    out.release()
    await done
    expect(log).toEqual(['read 0', 'write 65536', 'wait', 'read 65536', 'write 65536', 'wait', 'read 131072', 'end 22528'])
    expect(Buffer.concat(out.body)).toEqual(expected(0, size))
  })

  it('does not wait when the socket has room', async () => {
    const log: string[] = []
    const out = target(log)
    out.write = (chunk) => { log.push(`write ${chunk.byteLength}`); out.body.push(Buffer.from(chunk)) }
    await pump(source(200_000, log), out, 0, 200_000)
    expect(log.filter(e => e === 'wait')).toEqual([])
    expect(Buffer.concat(out.body)).toEqual(expected(0, 200_000))
  })

  it('stops reading when the client leaves while it waits', async () => {
    const log: string[] = []
    const out = target(log)
    const done = pump(source(1 << 20, log), out, 0, 1 << 20)
    await settle(() => out.waiting)
    out.gone = true
    out.release()
    await done
    expect(log).toEqual(['read 0', 'write 65536', 'wait'])
  })

  it('sends a range from its offset, filling each chunk across short reads', async () => {
    const log: string[] = []
    const out = target(log)
    await pump(source(1000, log, 300), out, 100, 700)
    expect(log).toEqual(['read 100', 'read 400', 'read 700', 'end 700'])
    expect(Buffer.concat(out.body)).toEqual(expected(100, 700))
  })

  it('cuts the connection when the file ends before its length (it shrank)', async () => {
    const log: string[] = []
    const out = target(log)
    await pump(source(500, log), out, 0, 1000)
    expect(log).toEqual(['read 0', 'read 500', 'cut'])
  })
})
