// The scenarios of bench/run.ts, and the handler logic every target runs for them. Every target
// (node:http, Fastify, Fastify + piscina, cluster, isopool) imports THIS module, so the work per
// request is literally the same code; only the framework around it differs. bench/load.ts imports
// it too, for the requests to send and the answers to expect.
//
//   hello     GET /                      → {"hello":"world"}                (sync handler)
//   async     GET /async                 → {"hello":"world"}                (async handler)
//   params    GET /users/:id?fields=a,b  → {"id":42,"fields":["a","b"]}     (typed echo)
//   echo-1k   POST /echo  JSON ~1 KiB    → the same JSON, parsed and re-serialized
//   echo-64k  POST /echo  JSON ~64 KiB
//   echo-1m   POST /echo  JSON ~1 MiB    (every target's body limit is raised to MAX_BODY)
//   cpu       GET /cpu                   → {"result":N}, ~2 ms of synchronous CPU (cpuWork)
//   mixed     90 % GET /, 10 % GET /cpu, at once; light and heavy latency reported apart
//   params-typed, echo-64k-typed: the same with TypeBox/JSON schemas (isopool and Fastify only)
//   sqlite    GET /sqlite                → 10 rows read from a node:sqlite database in WAL mode,
//             through one connection per process / thread / isolate, opened at its start
//   hello-browser, json-16k: the services run's (bench/service-sets.ts), sent with what a
//             browser's cross-origin fetch() carries (Origin, Accept-Encoding) so that CORS and
//             compression do their work: GET / and GET /json-16k → a ~16 KiB JSON document

import { existsSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import type { StatementSync } from 'node:sqlite'

/** Largest request body any target accepts (echo-1m needs more than the usual 1 MiB defaults). */
export const MAX_BODY = 8 * 1024 * 1024

// ── handler logic ──────────────────────────────────────────────────────────────────────────────

export function hello (): { hello: string } {
  return { hello: 'world' }
}

export async function helloAsync (): Promise<{ hello: string }> {
  return hello()
}

/**
 * `/users/:id?fields=a,b` with the values typed: id an integer, fields a list (comma-separated,
 * or the key repeated). Returns null for an id that is not an integer (a 400 for the target).
 */
export function params (id: string, fields: string | string[] | undefined): { id: number, fields: string[] } | null {
  const n = Number(id)
  if (!Number.isSafeInteger(n)) return null
  const list = fields === undefined ? [] : (Array.isArray(fields) ? fields : [fields]).flatMap(f => f.split(','))
  return { id: n, fields: list.filter(f => f !== '') }
}

/**
 * Iterations of cpuWork's loop: ~2 ms on the machine of the latest run in bench/README.md
 * (a fixed amount of work, not a fixed time, so a slower target cannot do less of it).
 */
export const CPU_ITERATIONS = 1_200_000

/** A fixed amount of synchronous CPU work (an FNV-style hash over a counter); deterministic. */
export function cpuWork (iterations = CPU_ITERATIONS): number {
  let h = 0x811c9dc5 | 0
  for (let i = 0; i < iterations; i++) {
    h ^= i
    h = Math.imul(h, 0x01000193)
    h ^= h >>> 13
  }
  return h >>> 0
}

export function cpu (): { result: number } {
  return { result: cpuWork() }
}

let doc16k: unknown

/** The json-16k scenario's answer: a ~16 KiB JSON document, made once and serialized by the
 * target's framework for every request (as an API's list endpoint would). */
export function json16k (): unknown {
  doc16k ??= JSON.parse(echoPayload(16 * 1024))
  return doc16k
}

// ── sqlite ─────────────────────────────────────────────────────────────────────────────────────

/** The database every target reads; bench/run.ts creates it (setupDb) before any target starts. */
export const DB_FILE = process.env.ISOPOOL_BENCH_DB ?? join(tmpdir(), 'isopool-bench.sqlite')
const DB_ROWS = 1000

/** (Re)create the database: a table of DB_ROWS users, WAL journal. */
export function setupDb (file = DB_FILE): void {
  for (const f of [file, `${file}-wal`, `${file}-shm`]) if (existsSync(f)) rmSync(f)
  const db = new DatabaseSync(file)
  db.exec('PRAGMA journal_mode = WAL')
  db.exec('CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL, score REAL NOT NULL)')
  const insert = db.prepare('INSERT INTO users (id, name, email, score) VALUES (?, ?, ?, ?)')
  db.exec('BEGIN')
  for (let i = 1; i <= DB_ROWS; i++) insert.run(i, `user ${i}`, `user${i}@example.com`, (i * 37 % 1000) / 10)
  db.exec('COMMIT')
  db.close()
}

/** One connection, opened once per process / thread / isolate at its start. */
export class Db {
  private readonly db: DatabaseSync
  private readonly stmt: StatementSync
  private next = 0

  constructor (file = DB_FILE) {
    this.db = new DatabaseSync(file, { readOnly: true })
    this.stmt = this.db.prepare('SELECT id, name, email, score FROM users WHERE id >= ? ORDER BY id LIMIT 10')
  }

  /** 10 consecutive rows, starting at a row that moves on with every call. */
  read10 (): unknown[] {
    this.next = (this.next + 7) % (DB_ROWS - 10)
    return this.stmt.all(this.next + 1)
  }
}

/** The per-process (per-thread) connection of targets that run the logic on one thread. */
let shared: Db | undefined

/** Open this process's (this thread's) connection; targets call it once at start. */
export function openSqlite (): void {
  // Only the sqlite scenario needs the database, and bench/run.ts creates it only then: a target
  // started for other scenarios (or by hand) opens it on first use instead of failing to start.
  if (existsSync(DB_FILE)) shared = new Db()
}

export function sqlite (): unknown[] {
  shared ??= new Db()
  return shared.read10()
}

// ── what the load generator sends ──────────────────────────────────────────────────────────────

export interface RequestSpec {
  /** Latency class it is reported under ("light"/"heavy" in mixed; else the scenario's name). */
  cls: string
  method: 'GET' | 'POST'
  path: string
  body?: string
  /** Request headers besides those of the body (lower-case names). */
  headers?: Record<string, string>
  /** True when the 2xx body (decoded, when it came compressed) is the expected one. */
  check: (body: string) => boolean
}

export interface Scenario {
  name: string
  description: string
  /** The requests; each connection cycles through `mix` (indices into `requests`). */
  requests: RequestSpec[]
  mix: number[]
}

const HELLO_JSON = JSON.stringify(hello())
const CPU_JSON = JSON.stringify(cpu())
const PARAMS_JSON = JSON.stringify(params('42', 'a,b'))

/** A JSON document of about `bytes` bytes: an array of small records, as an API would post. */
export function echoPayload (bytes: number): string {
  const items: unknown[] = []
  let size = 12
  for (let i = 0; size < bytes; i++) {
    const item = { id: i, name: `item ${i}`, tags: ['a', 'b', 'c'], price: i * 1.25, active: i % 2 === 0 }
    size += JSON.stringify(item).length + 1
    items.push(item)
  }
  return JSON.stringify({ items })
}

function echoScenario (name: string, bytes: number): Scenario {
  const body = echoPayload(bytes)
  return {
    name,
    description: `POST /echo, a ${(body.length / 1024).toFixed(0)} KiB JSON body parsed and sent back`,
    requests: [{ cls: name, method: 'POST', path: '/echo', body, check: b => b === body }],
    mix: [0]
  }
}

const hello10 = (cls: string): RequestSpec => ({ cls, method: 'GET', path: '/', check: b => b === HELLO_JSON })

/**
 * What a browser's fetch() to an API on another origin carries that the services act on: an
 * Origin (CORS answers it with its headers) and an Accept-Encoding (compression negotiates it).
 * `gzip, deflate, br` is what browsers sent before zstd; both isopool's and @fastify/compress's
 * orders of preference pick br from it, so the two compress alike.
 */
export const BROWSER_HEADERS: Record<string, string> = { origin: 'http://localhost:5173', 'accept-encoding': 'gzip, deflate, br' }

/** Scenario builders, so the big payloads are only made when a scenario is used. */
export const SCENARIOS: Record<string, () => Scenario> = {
  hello: () => ({ name: 'hello', description: 'GET / → {"hello":"world"}, sync handler', requests: [hello10('hello')], mix: [0] }),
  async: () => ({
    name: 'async',
    description: 'GET /async → {"hello":"world"}, the same handler as an async function',
    requests: [{ cls: 'async', method: 'GET', path: '/async', check: b => b === HELLO_JSON }],
    mix: [0]
  }),
  params: () => ({
    name: 'params',
    description: 'GET /users/42?fields=a,b → {"id":42,"fields":["a","b"]}',
    requests: [{ cls: 'params', method: 'GET', path: '/users/42?fields=a,b', check: b => b === PARAMS_JSON }],
    mix: [0]
  }),
  // The typed scenarios (isopool and Fastify targets only): the same work with schemas, so the
  // cost of validation shows as the ratio to the untyped scenario of the same target.
  'params-typed': () => ({
    name: 'params-typed',
    description: 'GET /typed/users/42?fields=a&fields=b, params and query validated and coerced by schemas',
    requests: [{ cls: 'params-typed', method: 'GET', path: '/typed/users/42?fields=a&fields=b', check: b => b === PARAMS_JSON }],
    mix: [0]
  }),
  'echo-64k-typed': () => {
    const s = echoScenario('echo-64k-typed', 64 * 1024)
    for (const r of s.requests) r.path = '/typed/echo'
    s.description = 'POST /typed/echo, a 64 KiB JSON body validated by a schema and sent back'
    return s
  },
  'echo-1k': () => echoScenario('echo-1k', 1024),
  'echo-64k': () => echoScenario('echo-64k', 64 * 1024),
  'echo-1m': () => echoScenario('echo-1m', 1024 * 1024),
  cpu: () => ({
    name: 'cpu',
    description: `GET /cpu, ${CPU_ITERATIONS.toLocaleString('en-US')} iterations of cpuWork (~2 ms) per request`,
    requests: [{ cls: 'cpu', method: 'GET', path: '/cpu', check: b => b === CPU_JSON }],
    mix: [0]
  }),
  mixed: () => ({
    name: 'mixed',
    description: '90 % GET / (light) and 10 % GET /cpu (heavy) on every connection at once',
    requests: [hello10('light'), { cls: 'heavy', method: 'GET', path: '/cpu', check: b => b === CPU_JSON }],
    mix: [0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
  }),
  // The services run's (bench/service-sets.ts): `hello` as a browser sends it, where CORS answers
  // with its headers and compression negotiates, then leaves the 17 bytes as they are (under its
  // 1 KiB threshold): the cost of the services' bookkeeping. json-16k: an answer compression
  // compresses, so its row is the cost of compressing 16 KiB, against the bytes it saves.
  'hello-browser': () => ({
    name: 'hello-browser',
    description: 'GET / → {"hello":"world"} with Origin and Accept-Encoding: gzip, deflate, br (a browser\'s fetch)',
    requests: [{ ...hello10('hello-browser'), headers: BROWSER_HEADERS }],
    mix: [0]
  }),
  'json-16k': () => {
    const text = JSON.stringify(json16k())
    return {
      name: 'json-16k',
      description: `GET /json-16k → a ${(text.length / 1024).toFixed(0)} KiB JSON document, with Origin and Accept-Encoding: gzip, deflate, br`,
      requests: [{ cls: 'json-16k', method: 'GET', path: '/json-16k', headers: BROWSER_HEADERS, check: b => b === text }],
      mix: [0]
    }
  },
  sqlite: () => ({
    name: 'sqlite',
    description: 'GET /sqlite → 10 rows from node:sqlite (WAL), one connection per process/thread/isolate',
    requests: [{
      cls: 'sqlite',
      method: 'GET',
      path: '/sqlite',
      check: (b) => {
        try {
          const rows = JSON.parse(b) as unknown
          return Array.isArray(rows) && rows.length === 10
        } catch {
          return false
        }
      }
    }],
    mix: [0]
  })
}
/** Scenarios `all` leaves out: the typed ones (isopool and Fastify only) and the services run's
 * (every target serves them, but they are there to measure the services). */
const NAMED_ONLY = new Set(['hello-browser', 'json-16k'])

/** What `all` means: every scenario every target serves, but for those named explicitly. */
export const SCENARIO_NAMES = Object.keys(SCENARIOS).filter(n => !n.endsWith('-typed') && !NAMED_ONLY.has(n))
