// Response compression, done in the isolate that made the answer: the main thread never sees the
// uncompressed bytes, and writes the Content-Length of the frame, the compressed length. The
// ResponseWriter (respond.ts) asks here once an answer's final bytes are known:
//
//   answer ─▶ mayCompress(status, type, its headers) ──no──▶ as it is
//                 │ yes (and size ≥ threshold): it varies, so Vary: Accept-Encoding
//                 ▼
//             choose(Accept-Encoding) ──identity──▶ as it is, with Vary
//                 │ br · gzip · zstd · deflate
//                 ▼
//             < ASYNC_FROM bytes (zstd: ZSTD_ASYNC_FROM): zlib's synchronous call, on this thread
//             ≥ that: zlib's callback call, on libuv's threadpool; the isolate runs other
//                     requests meanwhile
//
// What never compresses: bodies below the threshold, 204/304/206, an answer with a
// Content-Encoding or Content-Range of its own, Cache-Control: no-transform, types that do not
// shrink (images, audio, video, archives, octet-stream) and text/event-stream.

import { brotliCompress, brotliCompressSync, constants, deflate, deflateSync, gzip, gzipSync, zstdCompress, zstdCompressSync } from 'node:zlib'
import type { ZlibOptions } from 'node:zlib'
import { CT_JSON, CT_MSGPACK, CT_NONE, CT_TEXT } from '../shared/frame.ts'
import { forEachField, SEP } from '../shared/head-text.ts'
import type { CompressionConfig } from '../shared/protocol.ts'

/**
 * From this many bytes a body is compressed with zlib's callback API, below it synchronously;
 * zstd, three to four times faster, from ZSTD_ASYNC_FROM.
 * bench/micro/compress.ts (2-vCPU VM, JSON, µs; sync = the event loop blocked, async = call to
 * callback, "thread" = what of it the isolate itself spends):
 *
 *   size     gzip 4 sync / async / thread    br 4 sync / async / thread   zstd 3 sync / async / thread
 *   1 KiB        16 /   121 /  20               27 /   162 /  24             28 /  210 /  47
 *   16 KiB       82 /   136 /  36              135 /   293 /  22             59 /  229 /  45
 *   64 KiB      437 /   487 /  31              453 /   578 /  37            140 /  413 /  58
 *   256 KiB    1637 /  1990 /  40             1649 /  2225 /  98            622 /  890 /  57
 *   1 MiB      6371 /  7478 /  95             6970 /  9210 / 759           2394 / 3392 / 106
 *
 * A callback call costs ~100–150 µs more from start to end and still 20–60 µs of this thread
 * (setting up the stream, the hand-off). Below 64 KiB that is as much as the work itself; from
 * 64 KiB gzip's and brotli's work is 450 µs and more, which the isolate then spends on other
 * requests for 10–30 % more latency on this one. zstd reaches that much work at 256 KiB.
 */
export const ASYNC_FROM = 64 * 1024
export const ZSTD_ASYNC_FROM = 256 * 1024

// Levels (bench/micro/compress.ts, 64 KiB of JSON: ratio, µs): gzip 4 0.163 383 against gzip 6
// 0.143 863 (node's default) and 9 0.133 2027; br 4 0.163 444 against br 5 0.143 769 and br 11
// (brotli's default) 0.119 64663; zstd 3 (its default) 0.165 145. The fast end of each: an
// answer is compressed once per request, not once per file as a build step would.
const GZIP_LEVEL = 4
const BROTLI_QUALITY = 4
const ZSTD_LEVEL = 3

type Sync = (body: Uint8Array, options: ZlibOptions) => Buffer
type Async = (body: Uint8Array, options: ZlibOptions, done: (err: Error | null, out: Buffer) => void) => void

interface Codec {
  sync: Sync
  async: Async
  /** Bodies of this many bytes or more are compressed with `async`. */
  asyncFrom: number
  /** The options of one call (brotli's include the body's size, a hint that saves it work). */
  options: (size: number) => ZlibOptions
}

const GZIP_OPTIONS: ZlibOptions = { level: GZIP_LEVEL }
const ZSTD_OPTIONS = { params: { [constants.ZSTD_c_compressionLevel]: ZSTD_LEVEL } } as ZlibOptions

const CODECS: Record<string, Codec> = {
  br: {
    sync: brotliCompressSync as Sync,
    async: brotliCompress as Async,
    asyncFrom: ASYNC_FROM,
    options: size => ({ params: { [constants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY, [constants.BROTLI_PARAM_SIZE_HINT]: size } }) as ZlibOptions
  },
  gzip: { sync: gzipSync, async: gzip as Async, asyncFrom: ASYNC_FROM, options: () => GZIP_OPTIONS },
  zstd: { sync: zstdCompressSync as unknown as Sync, async: zstdCompress as unknown as Async, asyncFrom: ZSTD_ASYNC_FROM, options: () => ZSTD_OPTIONS },
  deflate: { sync: deflateSync, async: deflate as Async, asyncFrom: ASYNC_FROM, options: () => GZIP_OPTIONS }
}

/** The codings isopool can apply, in its default order of preference. */
export const CODINGS: readonly string[] = ['br', 'gzip', 'zstd', 'deflate']

// ── negotiation ────────────────────────────────────────────────────────────────────────────
// Written here rather than taken from `negotiator`: a dozen lines of pure code, with the
// server's order as the tie-break, x-gzip as gzip and identity's own q (RFC 9110 §12.5.3), and
// its result cached per header value by the Compressor; one dependency fewer in every isolate.

/** A qvalue (RFC 9110 §12.4.2): 0 to 1, at most three decimals. */
const QVALUE = /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/

/**
 * The coding to answer with, of `available` (the server's, in its order of preference), for a
 * request's Accept-Encoding; null for none (identity). The highest q wins, ties going to the
 * server's order; `*` stands for every coding the header does not name; q=0 excludes. Identity
 * wins only over codings the client ranks lower than it (`identity;q=1, gzip;q=0.5`). No header
 * means identity: RFC 9110 allows any coding then, but clients that decode say so.
 */
export function negotiate (header: string | undefined, available: readonly string[]): string | null {
  if (header === undefined) return null
  const q = new Array<number>(available.length).fill(-1)
  let star = -1
  let identity = -1
  for (const part of header.split(',')) {
    const semi = part.indexOf(';')
    let name = (semi < 0 ? part : part.slice(0, semi)).trim().toLowerCase()
    if (name === '') continue
    let weight = 1
    if (semi >= 0) {
      weight = qOf(part.slice(semi + 1))
      if (Number.isNaN(weight)) continue // a malformed q: the entry says nothing we can trust
    }
    if (name === 'x-gzip') name = 'gzip'
    if (name === '*') star = Math.max(star, weight)
    else if (name === 'identity') identity = Math.max(identity, weight)
    else {
      const i = available.indexOf(name)
      if (i >= 0) q[i] = Math.max(q[i], weight)
    }
  }
  let best = -1
  let bestQ = 0
  for (let i = 0; i < available.length; i++) {
    const w = q[i] >= 0 ? q[i] : star
    if (w > bestQ) {
      best = i
      bestQ = w
    }
  }
  if (best < 0) return null
  const identityQ = identity >= 0 ? identity : star
  return identityQ > bestQ ? null : available[best]
}

/** The q of an entry's parameters (`q=0.5`, `Q=1`); 1 without one; NaN for a malformed one. */
function qOf (params: string): number {
  for (const p of params.split(';')) {
    const eq = p.indexOf('=')
    if (eq < 0 || p.slice(0, eq).trim().toLowerCase() !== 'q') continue
    const value = p.slice(eq + 1).trim()
    return QVALUE.test(value) ? Number(value) : NaN
  }
  return 1
}

// ── what may be compressed ─────────────────────────────────────────────────────────────────

/** application/ subtypes that are text or structured data (with any +json, +xml, +yaml type). */
const COMPRESSIBLE_APPLICATION = new Set([
  'json', 'javascript', 'ecmascript', 'x-javascript', 'xml', 'msgpack', 'x-msgpack', 'vnd.msgpack',
  'x-ndjson', 'ndjson', 'yaml', 'x-yaml', 'toml', 'x-www-form-urlencoded', 'graphql', 'sql', 'wasm',
  'vnd.ms-fontobject', 'x-font-ttf', 'rtf'
])

/**
 * Whether a media type (a Content-Type value, parameters and all) is worth compressing: text/*
 * but event streams (each event must reach the client as it is written), JSON, XML, YAML,
 * JavaScript, MessagePack (its keys and strings repeat like JSON's), SVG, uncompressed fonts.
 * Images, audio, video, archives, octet-stream and anything unknown go as they are: they are
 * compressed already, or nothing says they would shrink.
 */
export function compressibleType (type: string): boolean {
  const semi = type.indexOf(';')
  const media = (semi < 0 ? type : type.slice(0, semi)).trim().toLowerCase()
  const slash = media.indexOf('/')
  if (slash <= 0) return false
  const top = media.slice(0, slash)
  const sub = media.slice(slash + 1)
  if (top === 'text') return sub !== 'event-stream' && sub !== ''
  if (sub.endsWith('+json') || sub.endsWith('+xml') || sub.endsWith('+yaml')) return true
  if (top === 'application') return COMPRESSIBLE_APPLICATION.has(sub)
  if (top === 'font') return sub === 'ttf' || sub === 'otf'
  if (top === 'image') return sub === 'bmp' || sub === 'x-icon' || sub === 'vnd.microsoft.icon'
  return false
}

/** What of an answer's own header text bears on compressing it. */
interface TextFacts {
  type: string | undefined
  /** Content-Encoding, Content-Range or Cache-Control: no-transform: leave the body alone. */
  keep: boolean
}

function factsOf (text: string): TextFacts {
  let type: string | undefined
  let keep = false
  forEachField(text, 0, (name, value) => {
    switch (name.length) {
      case 12: if (type === undefined && name.toLowerCase() === 'content-type') type = value; break
      case 13:
        if (name.toLowerCase() === 'content-range') keep = true
        else if (name.toLowerCase() === 'cache-control' && /(?:^|,)\s*no-transform\s*(?:,|$)/i.test(value)) keep = true
        break
      case 16: if (name.toLowerCase() === 'content-encoding') keep = true; break
    }
  })
  return { type, keep }
}

/**
 * Whether an answer (its status, content-type code and header text, as framed) may be
 * compressed, whatever the client accepts: then it varies by Accept-Encoding. The body's size is
 * the caller's to check first, being the cheapest.
 */
export function mayCompress (status: number, ct: number, text: string): boolean {
  // 204 and 304 have no body; a 206 is a range of the identity representation (RFC 9110 §14).
  if (status === 204 || status === 304 || status === 206) return false
  const codedType = ct === CT_JSON || ct === CT_TEXT || ct === CT_MSGPACK
  if (text === '') return codedType
  const facts = factsOf(text)
  if (facts.keep) return false
  if (ct !== CT_NONE) return codedType
  return facts.type !== undefined && compressibleType(facts.type)
}

const VARY = 'vary' + SEP + 'accept-encoding'
const CONTENT_ENCODING = 'content-encoding' + SEP

/**
 * `text` with what a compressible answer adds: Vary: Accept-Encoding (added to the answer's own
 * Vary, unless that says so already or is `*`), and for one compressed with `coding` its
 * Content-Encoding and its strong ETag made weak (the bytes differ from the identity
 * representation's; a weak one still validates, as nginx does it).
 */
export function encodedText (text: string, coding: string | null): string {
  if (text === '') return coding === null ? VARY : CONTENT_ENCODING + coding + SEP + VARY
  const parts = text.split(SEP)
  let varied = false
  for (let i = 0; i + 1 < parts.length; i += 2) {
    const name = parts[i]
    if (name.length !== 4) continue
    const lower = name.toLowerCase()
    if (lower === 'vary') {
      if (!/(?:^|,)\s*(?:accept-encoding|\*)\s*(?:,|$)/i.test(parts[i + 1])) parts[i + 1] += ', accept-encoding'
      varied = true
    } else if (lower === 'etag' && coding !== null && parts[i + 1].startsWith('"')) {
      parts[i + 1] = 'W/' + parts[i + 1]
    }
  }
  if (coding !== null) parts.push('content-encoding', coding)
  if (!varied) parts.push('vary', 'accept-encoding')
  return parts.join(SEP)
}

// ── the compressor of one isolate ──────────────────────────────────────────────────────────

/** Header values remembered with the coding chosen for them; clients send few distinct ones. */
const CHOICES_MAX = 64

export class Compressor {
  /** Bodies smaller than this go as they are. */
  readonly threshold: number
  private readonly encodings: readonly string[]
  private readonly choices = new Map<string, string | null>()

  constructor (config: CompressionConfig) {
    this.threshold = config.threshold
    // Only codings this process can apply (the main thread checked, this keeps it true).
    this.encodings = config.encodings.filter(e => Object.hasOwn(CODECS, e))
  }

  /** The coding for a request's Accept-Encoding (null: identity), by lookup after the first time. */
  choose (header: string | undefined): string | null {
    if (header === undefined) return null
    const known = this.choices.get(header)
    if (known !== undefined) return known
    const coding = negotiate(header, this.encodings)
    // A client cycling through values could grow the map without end: start over instead.
    if (this.choices.size >= CHOICES_MAX) this.choices.clear()
    this.choices.set(header, coding)
    return coding
  }

  /** Whether `coding` compresses a body of `size` bytes on the threadpool (compress()) rather
   * than on this thread (compressSync()). */
  offThread (coding: string, size: number): boolean {
    return size >= CODECS[coding].asyncFrom
  }

  /** `body` compressed with `coding`, on this thread; throws what zlib throws. */
  compressSync (coding: string, body: Uint8Array): Buffer {
    const c = CODECS[coding]
    return c.sync(body, c.options(body.byteLength))
  }

  /** `body` compressed with `coding` on libuv's threadpool; `done` gets the bytes or the error. */
  compress (coding: string, body: Uint8Array, done: (err: Error | null, out: Buffer) => void): void {
    const c = CODECS[coding]
    c.async(body, c.options(body.byteLength), done)
  }
}
