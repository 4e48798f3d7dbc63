// Static files over real sockets (the `static` option, src/main/static-files.ts): bytes and
// types, validators and 304s, ranges and 416, HEAD, path safety (raw bytes through a net socket:
// undici would normalize the path), symlinks, dotfiles, index.html, a 20 MB file streamed whole,
// a client that leaves mid-file, prefix boundaries, and the routes beside the files.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { connect } from 'node:net'
import { join } from 'node:path'
import { request } from 'undici'
import { createServer } from 'isopool'
import { start } from './helpers.ts'
import type { Running } from './helpers.ts'
import { until } from './observe.ts'
import { Conn, withConn } from './raw-http.ts'

const DIGITS = '0123456789abcdefghij' // 20 bytes
const BIG = randomBytes(20 * 1024 * 1024)
let dir: string
let publicDir: string
let app: Running
let port: number

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'isopool-static-'))
  publicDir = join(dir, 'public')
  const other = join(dir, 'other')
  for (const d of [publicDir, other, join(publicDir, 'docs'), join(publicDir, 'empty'), join(publicDir, '.hidden')]) mkdirSync(d, { recursive: true })
  writeFileSync(join(dir, 'outside.txt'), 'SECRET outside the folder')
  writeFileSync(join(publicDir, 'hello.txt'), 'hello, static world\n')
  writeFileSync(join(publicDir, 'digits.txt'), DIGITS)
  writeFileSync(join(publicDir, 'site.css'), 'body { color: red }')
  writeFileSync(join(publicDir, 'app.js'), 'console.log(1)')
  writeFileSync(join(publicDir, 'logo.png'), Buffer.from([0x89, 0x50, 0x4e, 0x47]))
  writeFileSync(join(publicDir, 'data.xyz'), 'what is this')
  writeFileSync(join(publicDir, 'a b.txt'), 'a space')
  writeFileSync(join(publicDir, 'empty.txt'), '')
  writeFileSync(join(publicDir, '.secret'), 'SECRET dotfile')
  writeFileSync(join(publicDir, '.hidden', 'inside.txt'), 'SECRET in a dot folder')
  writeFileSync(join(publicDir, 'docs', 'index.html'), '<h1>docs</h1>')
  writeFileSync(join(publicDir, 'big.bin'), BIG)
  writeFileSync(join(other, 'deep.txt'), 'from the other folder')
  symlinkSync(join(dir, 'outside.txt'), join(publicDir, 'escape.txt'))
  symlinkSync(dir, join(publicDir, 'escape-dir'))
  symlinkSync(join(publicDir, 'hello.txt'), join(publicDir, 'alias.txt'))
  symlinkSync(join(publicDir, '.secret'), join(publicDir, 'to-dotfile.txt'))
  app = await start({
    isolates: 1,
    static: { '/assets': publicDir, '/assets/deep/': other }
  }, [['GET', '/assetsx', 'static-files.ts#beside'], ['GET', '/api/beside', 'static-files.ts#beside']])
  port = Number(new URL(app.url).port)
})

afterAll(async () => {
  await app?.close()
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
})

/** One raw request (a GET unless `method`), its one response. */
async function raw (target: string, method = 'GET', headers = ''): Promise<{ status: number, headers: Record<string, string>, body: Buffer }> {
  return await withConn(port, async (c) => {
    c.write(`${method} ${target} HTTP/1.1\r\nHost: x\r\n${headers}\r\n`)
    const [res] = await c.responses([method])
    return res
  })
}

describe('a file', () => {
  it('is sent whole with its type, validators, caching and nosniff', async () => {
    const r = await app.get('/assets/hello.txt')
    expect(r.status).toBe(200)
    expect(r.text).toBe('hello, static world\n')
    expect(r.headers['content-type']).toBe('text/plain; charset=utf-8')
    expect(r.headers['content-length']).toBe('20')
    expect(r.headers.etag).toMatch(/^W\/"[0-9a-f]+-[0-9a-f]+"$/)
    expect(new Date(r.headers['last-modified'] as string).getTime()).not.toBeNaN()
    expect(r.headers['cache-control']).toBe('public, max-age=0')
    expect(r.headers['accept-ranges']).toBe('bytes')
    expect(r.headers['x-content-type-options']).toBe('nosniff')
  })

  it('takes its Content-Type from its extension, octet-stream when unknown', async () => {
    const types: Record<string, string> = {
      '/assets/site.css': 'text/css; charset=utf-8',
      '/assets/app.js': 'text/javascript; charset=utf-8',
      '/assets/logo.png': 'image/png',
      '/assets/data.xyz': 'application/octet-stream',
      '/assets/docs/index.html': 'text/html; charset=utf-8'
    }
    for (const [path, type] of Object.entries(types)) expect((await app.get(path)).headers['content-type'], path).toBe(type)
    expect((await app.get('/assets/logo.png')).body).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47]))
  })

  it('is found by a percent-encoded name, and an empty one is sent empty', async () => {
    expect((await app.get('/assets/a%20b.txt')).text).toBe('a space')
    const empty = await app.get('/assets/empty.txt')
    expect(empty.status).toBe(200)
    expect(empty.headers['content-length']).toBe('0')
    expect(empty.body.byteLength).toBe(0)
  })

  it('is a 404 when missing, and a 405 with Allow for other methods', async () => {
    const missing = await app.get('/assets/nope.txt')
    expect(missing.status).toBe(404)
    expect(missing.json.error.code).toBe('ISOPOOL_ERR_NOT_FOUND')
    const post = await app.post('/assets/hello.txt', 'x')
    expect(post.status).toBe(405)
    expect(post.json.error.code).toBe('ISOPOOL_ERR_METHOD_NOT_ALLOWED')
    expect(post.headers.allow).toBe('GET, HEAD')
  })

  it('answers HEAD with the GET answer\'s length and headers and no body', async () => {
    const r = await raw('/assets/digits.txt', 'HEAD')
    expect(r.status).toBe(200)
    expect(r.headers['content-length']).toBe('20')
    expect(r.headers['content-type']).toBe('text/plain; charset=utf-8')
    expect(r.body.byteLength).toBe(0)
    // A HEAD ignores Range: the whole file's head.
    const ranged = await raw('/assets/digits.txt', 'HEAD', 'Range: bytes=0-1\r\n')
    expect(ranged.status).toBe(200)
    expect(ranged.headers['content-length']).toBe('20')
  })

  it('is served by server.request() too, without a socket', async () => {
    const r = await app.server.request('/assets/hello.txt')
    expect(r.status).toBe(200)
    expect(await r.text()).toBe('hello, static world\n')
  })
})

describe('conditional requests', () => {
  it('304 on If-None-Match: the tag, a weak match in a list, or *', async () => {
    const { headers } = await app.get('/assets/hello.txt')
    const etag = headers.etag as string
    for (const inm of [etag, `"other", ${etag.slice(2)}`, '*']) {
      const r = await app.get('/assets/hello.txt', { 'if-none-match': inm })
      expect(r.status, inm).toBe(304)
      expect(r.body.byteLength).toBe(0)
      expect(r.headers.etag).toBe(etag)
      expect(r.headers['cache-control']).toBe('public, max-age=0')
    }
    expect((await app.get('/assets/hello.txt', { 'if-none-match': '"nope"' })).status).toBe(200)
  })

  it('304 on If-Modified-Since, unless If-None-Match is there and does not match', async () => {
    const { headers } = await app.get('/assets/hello.txt')
    const lm = headers['last-modified'] as string
    expect((await app.get('/assets/hello.txt', { 'if-modified-since': lm })).status).toBe(304)
    expect((await app.get('/assets/hello.txt', { 'if-modified-since': 'Thu, 01 Jan 1970 00:00:00 GMT' })).status).toBe(200)
    expect((await app.get('/assets/hello.txt', { 'if-modified-since': 'not a date' })).status).toBe(200)
    expect((await app.get('/assets/hello.txt', { 'if-modified-since': lm, 'if-none-match': '"nope"' })).status).toBe(200)
  })
})

describe('ranges', () => {
  it('206 with Content-Range for bytes=0-9, bytes=-5 and bytes=10-', async () => {
    const cases: [string, string, string][] = [
      ['bytes=0-9', '0123456789', 'bytes 0-9/20'],
      ['bytes=-5', 'fghij', 'bytes 15-19/20'],
      ['bytes=10-', 'abcdefghij', 'bytes 10-19/20'],
      ['bytes=18-100', 'ij', 'bytes 18-19/20']
    ]
    for (const [range, body, contentRange] of cases) {
      const r = await app.get('/assets/digits.txt', { range })
      expect(r.status, range).toBe(206)
      expect(r.text, range).toBe(body)
      expect(r.headers['content-range'], range).toBe(contentRange)
      expect(r.headers['content-length'], range).toBe(String(body.length))
    }
  })

  it('416 with Content-Range: bytes */size when no byte is in the range', async () => {
    for (const range of ['bytes=20-', 'bytes=-0', 'bytes=25-30']) {
      const r = await app.get('/assets/digits.txt', { range })
      expect(r.status, range).toBe(416)
      expect(r.json.error.code).toBe('ISOPOOL_ERR_RANGE_NOT_SATISFIABLE')
      expect(r.headers['content-range']).toBe('bytes */20')
    }
  })

  it('the whole file for several ranges, a range it cannot read, or an If-Range that fails', async () => {
    const { headers } = await app.get('/assets/digits.txt')
    const whole: Record<string, string>[] = [{ range: 'bytes=0-1,4-5' }, { range: 'items=0-1' }, { range: 'bytes=5-2' }, { range: 'bytes=0-1', 'if-range': headers.etag as string }, { range: 'bytes=0-1', 'if-range': 'Thu, 01 Jan 1970 00:00:00 GMT' }]
    for (const h of whole) {
      const r = await app.get('/assets/digits.txt', h)
      expect(r.status, JSON.stringify(h)).toBe(200)
      expect(r.text).toBe(DIGITS)
    }
    // If-Range with the file's date holds (our tags are weak: a tag never does).
    const r = await app.get('/assets/digits.txt', { range: 'bytes=0-1', 'if-range': headers['last-modified'] as string })
    expect(r.status).toBe(206)
    expect(r.text).toBe('01')
  })
})

describe('path safety', () => {
  const escapes = [
    '/assets/../outside.txt',
    '/assets/%2e%2e/outside.txt',
    '/assets/%2e%2e%2foutside.txt',
    '/assets/..%2foutside.txt',
    '/assets/docs/../../outside.txt',
    '/assets/..%5coutside.txt',
    '/assets/%5c..%5coutside.txt',
    '/assets/./hello.txt',
    '/assets/hello.txt%00.png',
    '/assets/%zz'
  ]
  it.each(escapes)('refuses %s with a 400, never a byte outside the folder', async (target) => {
    const r = await raw(target)
    expect(r.status).toBe(400)
    const { error } = JSON.parse(r.body.toString())
    expect(error.code).toBe('ISOPOOL_ERR_BAD_REQUEST')
    // Refused by the files' own judgement of the path, not by the HTTP layer's.
    expect(error.message).toMatch(/the path (has a "\." or "\.\." segment|holds a (NUL|backslash)|is not valid percent-encoding)/)
    expect(r.body.toString()).not.toContain('SECRET')
  })

  it('does not follow a symlink out of the folder, and follows one inside it', async () => {
    for (const path of ['/assets/escape.txt', '/assets/escape-dir/outside.txt', '/assets/to-dotfile.txt']) {
      const r = await app.get(path)
      expect(r.status, path).toBe(404)
      expect(r.text).not.toContain('SECRET')
    }
    expect((await app.get('/assets/alias.txt')).text).toBe('hello, static world\n')
  })

  it('does not serve dotfiles, nor what is in a dot folder', async () => {
    for (const path of ['/assets/.secret', '/assets/%2esecret', '/assets/.hidden/inside.txt']) {
      const r = await raw(path)
      expect(r.status, path).toBe(404)
      expect(r.body.toString()).not.toContain('SECRET')
    }
  })
})

describe('folders', () => {
  it('answer with their index.html, or 404 without one', async () => {
    for (const path of ['/assets/docs/', '/assets/docs']) {
      const r = await app.get(path)
      expect(r.status, path).toBe(200)
      expect(r.text).toBe('<h1>docs</h1>')
      expect(r.headers['content-type']).toBe('text/html; charset=utf-8')
    }
    expect((await app.get('/assets/empty/')).status).toBe(404)
    expect((await app.get('/assets')).status).toBe(404)
    expect((await app.get('/assets/?v=1')).status).toBe(404)
  })
})

describe('large files', () => {
  it('streams a 20 MB file whole and correct', async () => {
    const res = await request(app.url + '/assets/big.bin', { dispatcher: app.agent })
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-length']).toBe(String(BIG.byteLength))
    const hash = createHash('sha256')
    let bytes = 0
    for await (const chunk of res.body) {
      hash.update(chunk as Buffer)
      bytes += (chunk as Buffer).byteLength
    }
    expect(bytes).toBe(BIG.byteLength)
    expect(hash.digest('hex')).toBe(createHash('sha256').update(BIG).digest('hex'))
  })

  it('serves a range deep in a large file', async () => {
    const r = await app.get('/assets/big.bin', { range: 'bytes=10000000-10000099' })
    expect(r.status).toBe(206)
    expect(r.body).toEqual(BIG.subarray(10_000_000, 10_000_100))
  })

  it.runIf(existsSync('/proc/self/fd'))('stops reading and closes the file when the client leaves mid-file', async () => {
    const big = join(publicDir, 'big.bin')
    const open = (): number => readdirSync('/proc/self/fd').filter(fd => {
      try { return readlinkSync(`/proc/self/fd/${fd}`) === big } catch { return false }
    }).length
    const c = await Conn.open(port)
    // Read nothing: the server fills the socket's buffers and waits for them to drain.
    c.sock.pause()
    c.write('GET /assets/big.bin HTTP/1.1\r\nHost: x\r\n\r\n')
    await until('the file to be open', () => open() === 1)
    c.destroy()
    await until('the file to be closed', () => open() === 0)
    expect((await app.get('/assets/hello.txt')).status).toBe(200)
  })
})

describe('shutdown', () => {
  it('close() lets a file being sent finish before it cuts connections', async () => {
    const own = await start({ isolates: 1, static: { '/assets': publicDir } }, [['GET', '/api/beside', 'static-files.ts#beside']])
    const sock = connect({ port: Number(new URL(own.url).port), host: '127.0.0.1' })
    const chunks: Buffer[] = []
    let received = 0
    sock.on('data', (b: Buffer) => { chunks.push(b); received += b.byteLength })
    const ended = new Promise(resolve => sock.once('close', resolve))
    sock.write('GET /assets/big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    // The download is under way, and stalls on a client that stops reading, when close() comes.
    await until('the first bytes', () => received > 0)
    sock.pause()
    const closing = own.close()
    sock.resume()
    await ended
    await closing
    const all = Buffer.concat(chunks)
    const body = all.subarray(all.indexOf('\r\n\r\n') + 4)
    expect(body.byteLength).toBe(BIG.byteLength)
    expect(createHash('sha256').update(body).digest('hex')).toBe(createHash('sha256').update(BIG).digest('hex'))
  })
})

describe('beside the routes', () => {
  it('a prefix ends at a segment boundary: /assetsx is a route\'s', async () => {
    const r = await app.get('/assetsx')
    expect(r.status).toBe(200)
    expect(r.json).toEqual({ served: 'by a handler' })
  })

  it('routes are still served, and the longest prefix has its own folder', async () => {
    expect((await app.get('/api/beside')).json).toEqual({ served: 'by a handler' })
    expect((await app.get('/assets/deep/deep.txt')).text).toBe('from the other folder')
    expect((await app.get('/assets/deep/hello.txt')).status).toBe(404)
  })
})

describe('the option', () => {
  it('resolves folders against root and fails createServer() on a wrong one', async () => {
    const ok = createServer({ isolates: 1, root: dir, static: { '/files': 'public' } })
    await ok.close()
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ '/files': 'missing' }, /does not exist/],
      [{ '/files': 'outside.txt' }, /is not a folder/],
      [{ '/': 'public' }, /a prefix of "\/"/],
      [{ files: 'public' }, /must be "\/" and path segments/],
      [{ '/a/../b': 'public' }, /"\." or "\.\." segment/],
      [{ '/files': '' }, /non-empty string/],
      [{ '/files': 'public', '/files/': 'public' }, /given twice/]
    ]
    for (const [given, message] of bad) {
      expect(() => createServer({ isolates: 1, root: dir, static: given as Record<string, string> }), JSON.stringify(given)).toThrow(expect.objectContaining({ code: 'ISOPOOL_ERR_INVALID_OPTION', message: expect.stringMatching(message) }))
    }
    expect(() => createServer({ isolates: 1, root: dir, static: 'public' as unknown as Record<string, string> })).toThrow(/must be an object/)
  })
})
