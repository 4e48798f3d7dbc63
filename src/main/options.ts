// createServer's options: their defaults and their validation, in one place.

import { availableParallelism } from 'node:os'
import { isAbsolute, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { IsopoolError } from '../shared/errors.ts'
import { RING_MAX_CAPACITY, RING_MIN_CAPACITY } from '../shared/ring.ts'

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS'
export const METHODS: readonly string[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']

export interface RouteDefinition {
  method: HttpMethod | Lowercase<HttpMethod>
  path: string
  /** `module#export`; without `#` the default export. Relative modules resolve against `root`. */
  handler: string
}

export interface ServerOptions {
  /** Number of isolates, or 'auto' for one per available core. Default 'auto'. */
  isolates?: number | 'auto'
  /** Base directory for relative module paths. Default process.cwd(). */
  root?: string
  routes?: RouteDefinition[]
  /** Largest request body accepted, in bytes; larger gets 413. Default 1 MiB. */
  maxBodySize?: number
  /** Data bytes of each ring (two per isolate), a power of two. Default 256 KiB. */
  ringSize?: number
  /** Requests that may wait in the main thread when every isolate is busy; past it, 503. Default 1024. */
  maxQueue?: number
  /** Requests in flight on one isolate before it counts as busy. Default 512. */
  maxInFlight?: number
  /** Seconds sent in Retry-After with a 503. Default 1. */
  retryAfter?: number
  /** Development mode: 500 bodies carry the error's message and stack. Default NODE_ENV === 'development'. */
  dev?: boolean
}

export interface ResolvedOptions {
  isolates: number
  root: string
  maxBodySize: number
  ringSize: number
  maxQueue: number
  maxInFlight: number
  retryAfter: number
  dev: boolean
}

export function resolveOptions (input: number | ServerOptions = {}): ResolvedOptions {
  const o: ServerOptions = typeof input === 'number' ? { isolates: input } : input
  if (o === null || typeof o !== 'object') fail('options', 'must be an object or a number of isolates')
  const isolates = o.isolates === undefined || o.isolates === 'auto'
    ? Math.max(1, availableParallelism())
    : integer('isolates', o.isolates, 1, 1024)
  return {
    isolates,
    root: o.root === undefined ? process.cwd() : stringOption('root', o.root),
    maxBodySize: integer('maxBodySize', o.maxBodySize ?? 1024 * 1024, 0, 0xfffffffe),
    ringSize: powerOfTwo('ringSize', o.ringSize ?? 256 * 1024, RING_MIN_CAPACITY, RING_MAX_CAPACITY),
    maxQueue: integer('maxQueue', o.maxQueue ?? 1024, 0, 1 << 24),
    maxInFlight: integer('maxInFlight', o.maxInFlight ?? 512, 1, 1 << 24),
    retryAfter: integer('retryAfter', o.retryAfter ?? 1, 0, 86400),
    dev: o.dev ?? process.env.NODE_ENV === 'development'
  }
}

/** Split `module#export` and turn the module into a file URL. */
export function resolveHandler (root: string, method: string, path: string, spec: unknown): { module: string, export: string } {
  if (typeof spec !== 'string' || spec.length === 0) {
    throw new IsopoolError('ISOPOOL_ERR_INVALID_ROUTE', { method, path, reason: 'the handler must be a "module#export" string' })
  }
  const hash = spec.lastIndexOf('#')
  const file = hash < 0 ? spec : spec.slice(0, hash)
  const name = hash < 0 ? 'default' : spec.slice(hash + 1)
  if (file === '' || name === '') {
    throw new IsopoolError('ISOPOOL_ERR_INVALID_ROUTE', { method, path, reason: `handler "${spec}" needs a module path and an export name` })
  }
  const url = file.startsWith('file:') ? file : pathToFileURL(isAbsolute(file) ? file : resolve(root, file)).href
  return { module: url, export: name }
}

export function normalizeMethod (method: unknown, path: string): string {
  const m = typeof method === 'string' ? method.toUpperCase() : ''
  if (!METHODS.includes(m)) {
    throw new IsopoolError('ISOPOOL_ERR_INVALID_ROUTE', { method: String(method), path, reason: `method must be one of ${METHODS.join(', ')}` })
  }
  return m
}

function integer (option: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fail(option, `must be an integer from ${min} to ${max}, got ${String(value)}`)
  }
  return value as number
}

function powerOfTwo (option: string, value: unknown, min: number, max: number): number {
  const n = integer(option, value, min, max)
  if ((n & (n - 1)) !== 0) fail(option, `must be a power of two, got ${n}`)
  return n
}

function stringOption (option: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') fail(option, 'must be a non-empty string')
  return value as string
}

function fail (option: string, reason: string): never {
  throw new IsopoolError('ISOPOOL_ERR_INVALID_OPTION', { option, reason })
}
