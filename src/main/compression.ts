// The compression option, resolved and checked on the main thread so that createServer() fails
// on a bad value; the isolates get the result in IsolateInit.compression and do the compressing
// (src/isolate/compress.ts). Nothing of it runs per request here.

import * as zlib from 'node:zlib'
import type { CompressionConfig } from '../shared/protocol.ts'
import type { ServerOptions } from './options.ts'
import { badOption } from './services.ts'

/** Every coding isopool knows, in its default order of preference. */
const CODINGS = ['br', 'gzip', 'zstd', 'deflate']
const DEFAULT_THRESHOLD = 1024
/** node:zlib has zstd from Node 22.15 / 23.8; isopool's Node 24 always does. */
const HAS_ZSTD = typeof (zlib as { zstdCompressSync?: unknown }).zstdCompressSync === 'function'

/** The compression option as the isolates apply it, or null when it is off (the default). */
export function resolveCompression (given: ServerOptions['compression']): CompressionConfig | null {
  if (given === undefined || given === false) return null
  const defaults = HAS_ZSTD ? CODINGS : CODINGS.filter(c => c !== 'zstd')
  if (given === true) return { threshold: DEFAULT_THRESHOLD, encodings: defaults }
  if (given === null || typeof given !== 'object' || Array.isArray(given)) {
    badOption('compression', `must be true, false or { threshold, encodings }, got ${given === null ? 'null' : Array.isArray(given) ? 'an array' : typeof given}`)
  }
  for (const key of Object.keys(given)) {
    if (key !== 'threshold' && key !== 'encodings') badOption(`compression.${key}`, 'unknown option; known: threshold, encodings')
  }
  const t = given.threshold ?? DEFAULT_THRESHOLD
  if (typeof t !== 'number' || !Number.isInteger(t) || t < 0 || t > 0xffffffff) {
    badOption('compression.threshold', `must be a whole number of bytes, got ${String(t)}`)
  }
  const encodings = given.encodings ?? defaults
  if (!Array.isArray(encodings) || encodings.length === 0) {
    badOption('compression.encodings', 'must be a non-empty array of br, gzip, zstd, deflate (compression: false turns it off)')
  }
  for (const e of encodings as unknown[]) {
    if (typeof e !== 'string' || !CODINGS.includes(e)) badOption('compression.encodings', `${typeof e === 'string' ? JSON.stringify(e) : typeof e} is not one of br, gzip, zstd, deflate`)
    if (e === 'zstd' && !HAS_ZSTD) badOption('compression.encodings', `zstd needs a node:zlib with zstd (Node 22.15 or later), this is ${process.version}`)
  }
  if (new Set(encodings).size !== encodings.length) badOption('compression.encodings', 'lists an encoding twice')
  return { threshold: t, encodings: [...encodings] }
}

/** What is wrong with a route's `compression` option (a boolean), or null. */
export function routeCompressionProblem (value: unknown): string | null {
  return value === undefined || typeof value === 'boolean' ? null : `compression must be a boolean, got ${value === null ? 'null' : typeof value}`
}
