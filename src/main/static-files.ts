// Static files, served by the main thread: `static: { '/assets': './public' }` answers every GET
// and HEAD under a URL prefix from its folder, before routing, without an isolate.
//
//   begin(): under a prefix? ─no─▶ on to the router (a prefix loop: all a request pays)
//     │ yes: GET/HEAD, else 405 · the path decoded once and judged (pure: filePath) ─▶ 400 / 404
//     ▼ async from here: the main thread never waits on the disk
//   realpath ─▶ inside the folder, no dot segment? ─▶ open ─▶ fstat ─▶ a folder: its index.html
//     ▼
//   304 (If-None-Match, If-Modified-Since) · 416 · 206 (one range) · 200 ─▶ pump(): 64 KiB reads,
//   each written when the socket has room, stopped when the client leaves
//
// Safety: a path is decoded once and refused if it holds NUL, a backslash, or a `.` or `..`
// segment (raw or encoded); a name starting with `.` is a 404. The file is the realpath of what
// the path names, and must lie inside the folder's realpath: a symlink inside the folder to
// elsewhere inside it is followed, one that leads out is a 404; the last component is opened
// with O_NOFOLLOW, so a symlink swapped in after the check is not followed either.

import { constants, realpathSync, statSync } from 'node:fs'
import type { Stats } from 'node:fs'
import { open, realpath } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import { extname, join, resolve, sep } from 'node:path'
import { IsopoolError } from '../shared/errors.ts'
import { forEachField, readRequestLine } from '../shared/head-text.ts'
import { NOSNIFF } from '../shared/http-syntax.ts'
import { fileEtag, ifRangeHolds, noneMatch, notModifiedSince, parseRange } from './conditional-get.ts'
import { writeError } from './http1.ts'
import type { CloseListener, Http1Request, Http1Response } from './http1.ts'
import type { ResolvedOptions } from './options.ts'
import { badOption } from './services.ts'
import type { RequestService } from './services.ts'

/** One URL prefix and its folder. */
interface Mount {
  /** `/assets`: no trailing slash. */
  readonly prefix: string
  /** The folder's realpath, symlinks resolved at start-up. */
  readonly root: string
  /** `root` and a separator: what every file served from it starts with. */
  readonly base: string
}

/** Cache-Control of every file: caches may keep it, and must revalidate (a 304, cheap) each use. */
const CACHE_CONTROL = 'public, max-age=0'
/** Bytes read from the file at a time, and the most held for one response besides the socket's buffer. */
const CHUNK = 64 * 1024
const ALLOW = 'GET, HEAD'
/** Read-only; the last component must not be a symlink (realpath resolved them all: one now is
 * a swap after the check); never block a thread pool thread opening a FIFO. */
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0)
/** Errors of a path that names no file the server may send: all a 404. */
const NOT_THERE = new Set(['ENOENT', 'ENOTDIR', 'ELOOP', 'EACCES', 'EPERM', 'EISDIR', 'ENAMETOOLONG', 'ENXIO'])

/** The `static` option's service, or null when there are no prefixes. Checks every prefix and
 * folder now: createServer() fails on one that is wrong or missing. */
export function staticFiles (options: ResolvedOptions): StaticFiles | null {
  const given: unknown = options.given.static
  if (given === undefined) return null
  if (given === null || typeof given !== 'object' || Array.isArray(given)) badOption('static', 'must be an object of URL prefix → folder, such as { "/assets": "./public" }')
  const mounts: Mount[] = []
  for (const [key, folder] of Object.entries(given as Record<string, unknown>)) {
    const option = `static[${JSON.stringify(key)}]`
    const prefix = mountPrefix(key)
    if (prefix === '/') badOption(option, 'a prefix of "/" would answer every request, routes and health checks included, with a file or a 404; serve the files under a prefix such as "/assets"')
    if (!PREFIX.test(prefix)) badOption(option, 'the URL prefix must be "/" and path segments of letters, digits and -._~!$&\'()*+,;=:@ (no "%", "?" or "#")')
    if (prefix.split('/').some(s => s === '.' || s === '..')) badOption(option, 'the URL prefix must not have a "." or ".." segment')
    if (mounts.some(m => m.prefix === prefix)) badOption(option, `the prefix ${prefix} is given twice`)
    if (typeof folder !== 'string' || folder === '') badOption(option, 'the folder must be a non-empty string (a path relative to root)')
    const dir = resolve(options.root, folder as string)
    let st: Stats
    try {
      st = statSync(dir)
    } catch {
      badOption(option, `the folder ${dir} does not exist`)
    }
    if (!st.isDirectory()) badOption(option, `${dir} is not a folder`)
    const root = realpathSync(dir)
    mounts.push({ prefix, root, base: root.endsWith(sep) ? root : root + sep })
  }
  if (mounts.length === 0) return null
  // The longest prefix first: `/assets/img` is served from its own folder, not from /assets's.
  mounts.sort((a, b) => b.prefix.length - a.prefix.length)
  return new StaticFiles(mounts)
}

const PREFIX = /^(?:\/[A-Za-z0-9\-._~!$&'()*+,;=:@]+)+$/

/** A `static` key as the prefix it serves: `/assets/` is `/assets`. */
function mountPrefix (key: string): string {
  return key.length > 1 && key.endsWith('/') ? key.slice(0, -1) : key
}

/** The URL prefixes the `static` option serves (unchecked: staticFiles() checks them), for the
 * route table, which refuses routes under them: static files answer every request there. */
export function staticPrefixes (options: ResolvedOptions): string[] {
  const given: unknown = options.given.static
  if (given === null || typeof given !== 'object' || Array.isArray(given)) return []
  return Object.keys(given).map(mountPrefix)
}

export class StaticFiles implements RequestService {
  private readonly mounts: readonly Mount[]
  /** Files being sent now, and who waits for there to be none (close()). */
  private sending = 0
  private waiters: (() => void)[] = []

  constructor (mounts: readonly Mount[]) {
    this.mounts = mounts
  }

  begin (req: Http1Request, res: Http1Response): boolean {
    const url = req.url
    const mount = this.mountOf(url)
    if (mount === null) return true
    const method = req.method
    if (method !== 'GET' && method !== 'HEAD') {
      writeError(res, new IsopoolError('ISOPOOL_ERR_METHOD_NOT_ALLOWED', { method, path: pathOf(url), allow: ALLOW }), ['allow', ALLOW])
      return false
    }
    const path = filePath(url, mount.prefix.length)
    if (typeof path !== 'string') {
      writeError(res, path.status === 404
        ? new IsopoolError('ISOPOOL_ERR_NOT_FOUND', { method, path: pathOf(url) })
        : new IsopoolError('ISOPOOL_ERR_BAD_REQUEST', { reason: path.reason }))
      return false
    }
    this.sending++
    new FileAnswer(req, res, mount).send(join(mount.root, path)).catch((err: unknown) => {
      console.error(`isopool: serving ${method} ${pathOf(url)} from ${mount.root} failed:`, err)
      writeError(res, new IsopoolError('ISOPOOL_ERR_INTERNAL'))
    }).finally(() => {
      if (--this.sending > 0) return
      const waiters = this.waiters
      this.waiters = []
      for (const w of waiters) w()
    })
    return false
  }

  /** Resolves once no file is being sent: the server's close() lets downloads finish. */
  settle (): Promise<void> {
    if (this.sending === 0) return Promise.resolve()
    return new Promise(resolve => { this.waiters.push(resolve) })
  }

  /** The mount whose prefix `url` is under, at a segment boundary (`/assets/x`, `/assets`,
   * `/assets?v=1`, not `/assetsx`), or null. */
  private mountOf (url: string): Mount | null {
    const mounts = this.mounts
    for (let i = 0; i < mounts.length; i++) {
      const m = mounts[i]
      const n = m.prefix.length
      if (!url.startsWith(m.prefix)) continue
      const next = url.charCodeAt(n)
      if (url.length === n || next === 47 /* / */ || next === 63 /* ? */) return m
    }
    return null
  }
}

/** Why a path is refused: 400 (it tries to leave its folder, or is not a path), or 404 (a dotfile). */
export interface PathRefusal {
  status: 400 | 404
  reason: string
}

/**
 * The file path `url` names below its prefix (which ends at `from`), percent-decoded once:
 * `/css/site.css`, '' or `/` for the folder itself. Refused: invalid percent-encoding, NUL, a
 * backslash, a `.` or `..` segment (400, however it was encoded); a segment starting with `.`
 * (404: dotfiles are not served). What it returns stays inside the folder when joined to it.
 */
export function filePath (url: string, from: number): string | PathRefusal {
  const q = url.indexOf('?', from)
  const raw = q < 0 ? url.slice(from) : url.slice(from, q)
  let path = raw
  if (raw.includes('%')) {
    try {
      path = decodeURIComponent(raw)
    } catch {
      return { status: 400, reason: 'the path is not valid percent-encoding' }
    }
  }
  if (path.includes('\0')) return { status: 400, reason: 'the path holds a NUL' }
  if (path.includes('\\')) return { status: 400, reason: 'the path holds a backslash' }
  // Every name follows a slash: the first one that starts with a dot refuses the path.
  const dot = path.indexOf('/.')
  if (dot < 0) return path
  const end = path.indexOf('/', dot + 1)
  const segment = path.slice(dot + 1, end < 0 ? path.length : end)
  if (segment === '.' || segment === '..') return { status: 400, reason: 'the path has a "." or ".." segment' }
  return { status: 404, reason: 'dotfiles are not served' }
}

/** The headers of a request that a file's answer depends on. */
interface Conditions {
  ifNoneMatch: string | null
  ifModifiedSince: string | null
  range: string | null
  ifRange: string | null
}

/** Read from the head text, only for a request a file answers. Repeated fields are joined. */
function conditionsOf (head: string): Conditions {
  const c: Conditions = { ifNoneMatch: null, ifModifiedSince: null, range: null, ifRange: null }
  forEachField(head, readRequestLine(head).fieldsAt, (name, value) => {
    switch (name.length) {
      case 5: if (name.toLowerCase() === 'range') c.range = c.range === null ? value : c.range + ',' + value; break
      case 8: if (name.toLowerCase() === 'if-range') c.ifRange = value; break
      case 13: if (name.toLowerCase() === 'if-none-match') c.ifNoneMatch = c.ifNoneMatch === null ? value : c.ifNoneMatch + ', ' + value; break
      case 17: if (name.toLowerCase() === 'if-modified-since') c.ifModifiedSince = value; break
    }
  })
  return c
}

/** One file's answer: the lookups, the head, and the body pumped to a socket that may be slow or
 * may go away (its close listener: the only one, no exchange owns a static request). */
class FileAnswer implements CloseListener, PumpTarget {
  private readonly req: Http1Request
  private readonly res: Http1Response
  private readonly mount: Mount
  private wake: (() => void) | null = null

  constructor (req: Http1Request, res: Http1Response, mount: Mount) {
    this.req = req
    this.res = res
    this.mount = mount
    res.onClose(this)
  }

  connectionClosed (): void {
    const wake = this.wake
    this.wake = null
    wake?.()
  }

  get gone (): boolean { return this.res.destroyed }
  get needsDrain (): boolean { return this.res.needsDrain }
  write (chunk: Buffer): void { this.res.write(chunk) }
  end (chunk: Buffer): void { this.res.end(chunk) }
  cut (): void { this.res.destroy() }

  drained (): Promise<void> {
    return new Promise(resolve => {
      this.wake = resolve
      this.res.onDrain(() => {
        if (this.wake !== resolve) return
        this.wake = null
        resolve()
      })
    })
  }

  /** Answer with the file at `path` (a folder: its index.html). */
  async send (path: string, index = true): Promise<void> {
    const { res, mount } = this
    let real: string
    try {
      real = await realpath(path)
    } catch (err) {
      return this.missing(err)
    }
    // A symlink that leads out of the folder, or into a dotfile inside it, names nothing here.
    if (real !== mount.root && (!real.startsWith(mount.base) || real.includes(sep + '.', mount.base.length - 1))) return this.missing(null)
    let handle: FileHandle | null
    try {
      handle = await open(real, OPEN_FLAGS)
    } catch (err) {
      return this.missing(err)
    }
    try {
      const st = await handle.stat()
      if (st.isDirectory()) {
        await handle.close()
        handle = null
        if (index) return await this.send(join(real, 'index.html'), false)
        return this.missing(null)
      }
      if (!st.isFile()) return this.missing(null)
      if (this.gone) return
      const sent = this.head(st, real)
      if (sent !== null) await pump(handle, this, sent.start, sent.length)
    } catch (err) {
      if (res.headersSent) {
        // The status is out: the body cannot be finished, or completed with a lie.
        console.error(`isopool: reading ${real} failed while it was sent:`, err)
        res.destroy()
      } else {
        throw err
      }
    } finally {
      await handle?.close()
    }
  }

  /** Write the head for the file at `real` (or a whole 304 or 416); the part of the file to send
   * after it, or null when the answer is complete. */
  private head (st: Stats, real: string): { start: number, length: number } | null {
    const { req, res } = this
    const size = st.size
    const etag = fileEtag(size, st.mtimeMs)
    const lastModified = new Date(st.mtimeMs).toUTCString()
    const c = conditionsOf(req.head)
    const fresh = c.ifNoneMatch !== null
      ? noneMatch(c.ifNoneMatch, etag)
      : c.ifModifiedSince !== null && notModifiedSince(c.ifModifiedSince, st.mtimeMs)
    if (fresh) {
      res.writeHead(304, ['etag', etag, 'last-modified', lastModified, 'cache-control', CACHE_CONTROL], true)
      res.end()
      return null
    }
    const headers = [
      'content-type', typeOf(real), 'etag', etag, 'last-modified', lastModified,
      'cache-control', CACHE_CONTROL, 'accept-ranges', 'bytes', ...NOSNIFF
    ]
    // Ranges are GET's alone (RFC 9110 §14.2): a HEAD is answered as the whole file's GET.
    const range = req.method === 'GET' && c.range !== null && (c.ifRange === null || ifRangeHolds(c.ifRange, st.mtimeMs))
      ? parseRange(c.range, size)
      : null
    if (range?.kind === 'unsatisfiable') {
      writeError(res, new IsopoolError('ISOPOOL_ERR_RANGE_NOT_SATISFIABLE', { range: c.range, size }), ['content-range', `bytes */${size}`])
      return null
    }
    const start = range?.kind === 'part' ? range.start : 0
    const length = range?.kind === 'part' ? range.end - range.start + 1 : size
    if (range?.kind === 'part') headers.push('content-range', `bytes ${start}-${range.end}/${size}`)
    headers.push('content-length', String(length))
    res.writeHead(range?.kind === 'part' ? 206 : 200, headers, true)
    if (req.method === 'HEAD' || length === 0) {
      res.end()
      return null
    }
    return { start, length }
  }

  /** No file to send: a 404 (an unexpected error is thrown, for a 500). */
  private missing (err: unknown): void {
    const code = (err as { code?: unknown } | null)?.code
    if (err !== null && !(typeof code === 'string' && NOT_THERE.has(code))) throw err
    if (this.gone) return
    writeError(this.res, new IsopoolError('ISOPOOL_ERR_NOT_FOUND', { method: this.req.method, path: pathOf(this.req.url) }))
  }
}

/** What pump() reads from: a FileHandle. */
export interface PumpSource {
  read (buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>
}

/** What pump() writes to: a response, its socket's room, and whether its client is still there. */
export interface PumpTarget {
  /** The client went away: stop. */
  readonly gone: boolean
  /** The socket holds enough: wait for drained() before the next write. */
  readonly needsDrain: boolean
  drained (): Promise<void>
  write (chunk: Buffer): void
  /** The last piece. */
  end (chunk: Buffer): void
  /** End the connection: the body cannot be completed. */
  cut (): void
}

/**
 * Send `length` bytes of `file` from `start`, CHUNK bytes at a time: one read, then one write once
 * the socket has taken the last, so a response holds one chunk and the socket's buffer whatever
 * the file's size and the client's speed. A client that leaves stops the reads; a file that
 * shrank meanwhile cuts the connection (its Content-Length was sent already).
 */
export async function pump (file: PumpSource, out: PumpTarget, start: number, length: number): Promise<void> {
  let position = start
  let left = length
  while (left > 0) {
    const n = Math.min(CHUNK, left)
    const buf = Buffer.allocUnsafe(n)
    let got = 0
    while (got < n) {
      const { bytesRead } = await file.read(buf, got, n - got, position + got)
      if (bytesRead === 0) break
      got += bytesRead
    }
    if (out.gone) return
    if (got < n) {
      out.cut()
      return
    }
    position += n
    left -= n
    if (left === 0) {
      out.end(buf)
      return
    }
    out.write(buf)
    if (out.needsDrain) {
      await out.drained()
      if (out.gone) return
    }
  }
}

function pathOf (url: string): string {
  const q = url.indexOf('?')
  return q < 0 ? url : url.slice(0, q)
}

const UTF8 = '; charset=utf-8'
/** Common types by extension; anything else is application/octet-stream (and nosniff keeps a
 * browser from guessing better). Text types say their charset. */
export const CONTENT_TYPES: ReadonlyMap<string, string> = new Map([
  ['.html', 'text/html' + UTF8], ['.htm', 'text/html' + UTF8], ['.css', 'text/css' + UTF8],
  ['.js', 'text/javascript' + UTF8], ['.mjs', 'text/javascript' + UTF8], ['.cjs', 'text/javascript' + UTF8],
  ['.json', 'application/json' + UTF8], ['.map', 'application/json' + UTF8],
  ['.webmanifest', 'application/manifest+json' + UTF8], ['.txt', 'text/plain' + UTF8],
  ['.md', 'text/markdown' + UTF8], ['.csv', 'text/csv' + UTF8], ['.xml', 'application/xml' + UTF8],
  ['.svg', 'image/svg+xml' + UTF8], ['.png', 'image/png'], ['.jpg', 'image/jpeg'], ['.jpeg', 'image/jpeg'],
  ['.gif', 'image/gif'], ['.webp', 'image/webp'], ['.avif', 'image/avif'], ['.ico', 'image/x-icon'],
  ['.bmp', 'image/bmp'], ['.woff', 'font/woff'], ['.woff2', 'font/woff2'], ['.ttf', 'font/ttf'],
  ['.otf', 'font/otf'], ['.pdf', 'application/pdf'], ['.wasm', 'application/wasm'],
  ['.zip', 'application/zip'], ['.gz', 'application/gzip'], ['.mp4', 'video/mp4'], ['.webm', 'video/webm'],
  ['.ogg', 'audio/ogg'], ['.mp3', 'audio/mpeg'], ['.wav', 'audio/wav'], ['.flac', 'audio/flac'],
  ['.m4a', 'audio/mp4'], ['.vtt', 'text/vtt' + UTF8]
])
const OCTET_STREAM = 'application/octet-stream'

/** The Content-Type of the file at `path`. */
export function typeOf (path: string): string {
  return CONTENT_TYPES.get(extname(path).toLowerCase()) ?? OCTET_STREAM
}
