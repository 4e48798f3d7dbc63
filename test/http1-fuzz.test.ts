// Property-based (fast-check) fuzzing of the HTTP/1.1 layer over real sockets: valid requests
// mutated byte by byte (inserted CR, LF, NUL, spaces, colons, digits; deleted and duplicated
// ranges) and written in random pieces. Whatever the bytes, the server answers only with
// well-formed HTTP/1.1 responses, each error among them carries a coded JSON body, it never
// sends a partial one, and it goes on serving the next client.
//
// A fixed seed makes a run reproducible; FC_SEED=n picks another, FC_RUNS_SCALE=k runs k× more.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as fc from 'fast-check'
import { Conn, parseAll } from './raw-http.ts'
import { start } from './helpers.ts'
import type { Running } from './helpers.ts'
import { until } from './observe.ts'

const SEED = process.env.FC_SEED === undefined ? 0x4854 : Number(process.env.FC_SEED)
const SCALE = process.env.FC_RUNS_SCALE === undefined ? 1 : Number(process.env.FC_RUNS_SCALE)

let app: Running
let port: number

beforeAll(async () => {
  app = await start({ isolates: 1, maxBodySize: 4096, http: { maxHeaderSize: 1024, headersTimeout: 400, requestTimeout: 800 } }, [
    ['GET', '/', './basic.ts#hello'],
    ['POST', '/echo', './basic.ts#echo']
  ])
  port = Number(new URL(app.url).port)
})
afterAll(() => app.close())

const SEEDS = [
  'GET / HTTP/1.1\r\nhost: x\r\n\r\n',
  'GET /?a=1&a=2 HTTP/1.1\r\nHost: x\r\nAccept: */*\r\nX-Two: a, b\r\n\r\n',
  'POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nhello',
  'POST /echo HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n3;e=1\r\nabc\r\n0\r\nt: 1\r\n\r\n',
  'GET / HTTP/1.0\r\nconnection: keep-alive\r\n\r\n',
  'HEAD / HTTP/1.1\r\nhost: x\r\n\r\nGET / HTTP/1.1\r\nhost: x\r\n\r\n'
]
const NASTY = ['\r', '\n', '\0', ' ', '\t', ':', '0', 'f', ';', ',', '\x7f', 'é', '\r\n', '\r\n\r\n']

type Edit = { op: 'insert', at: number, text: string } | { op: 'delete', at: number, len: number } | { op: 'dup', at: number, len: number }

const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), text: fc.constantFrom(...NASTY) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ op: fc.constant('dup' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 40 }) })
)

function apply (s: string, edits: Edit[]): string {
  for (const e of edits) {
    const at = s.length === 0 ? 0 : e.at % s.length
    if (e.op === 'insert') s = s.slice(0, at) + e.text + s.slice(at)
    else if (e.op === 'delete') s = s.slice(0, at) + s.slice(at + e.len)
    else s = s.slice(0, at) + s.slice(at, at + e.len) + s.slice(at)
  }
  return s
}

/** Methods of the requests in `bytes` as far as they look like requests (for HEAD's bodiless answers). */
function methodsOf (bytes: string): string[] {
  return [...bytes.matchAll(/(?:^|\r\n\r\n)(?:\r\n)*([!#$%&'*+\-.^_`|~0-9A-Za-z]+) [^\x00-\x20\x7f]+ HTTP\/1\.[01]\r\n/g)].map(m => m[1])
}

/** Write `bytes` in pieces, then collect what the server sends until it closes the connection,
 * or has nothing left to answer: no request on an isolate or waiting for one (a request that
 * waits for more of its body is on one until requestTimeout closes the connection), and nothing
 * more arriving for 60 ms (what the main thread answers itself, it writes as the bytes come). */
async function exchange (bytes: Buffer, cuts: number[]): Promise<{ data: Buffer, closed: boolean }> {
  const c = await Conn.open(port)
  try {
    c.sock.setNoDelay(true)
    let at = 0
    for (const cut of [...cuts.map(x => x % (bytes.length + 1)).sort((a, b) => a - b), bytes.length]) {
      if (cut <= at) continue
      c.write(bytes.subarray(at, cut))
      at = cut
      await new Promise(resolve => setImmediate(resolve))
    }
    let seen = -1
    let quietSince = Date.now()
    await until('the server to close the connection or have nothing left to answer', () => {
      if (c.ended) return true
      if (c.data.length !== seen) {
        seen = c.data.length
        quietSince = Date.now()
      }
      return app.server.inFlight === 0 && app.server.waiting === 0 && Date.now() - quietSince >= 60
    }, 10_000)
    return { data: c.data, closed: c.ended }
  } finally {
    c.destroy()
  }
}

describe('the HTTP/1.1 layer under mutated requests', () => {
  it('answers only with whole, well-formed responses, and keeps serving', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...SEEDS), fc.array(edit, { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 4 }),
        async (seed, edits, cuts) => {
          const text = apply(seed, edits)
          const { data, closed } = await exchange(Buffer.from(text, 'latin1'), cuts)
          const methods = methodsOf(text)
          // Pad with GETs: a mutation may hide a request's method from methodsOf.
          const { responses, rest } = parseAll(data, [...methods, ...Array(16).fill('GET')], closed)
          // Every byte the server sent belongs to a complete response…
          expect(rest.toString('latin1')).toBe('')
          for (const r of responses) {
            expect(r.version).toBe('1.1')
            expect([100, 200, 204, 400, 404, 405, 408, 413, 417, 431, 501]).toContain(r.status)
            expect(r.headers.date).toBeDefined()
            // …and every error is a coded one (an answer to HEAD has its length and no body).
            if (r.status >= 400 && r.body.length > 0) expect(JSON.parse(r.body.toString()).error.code).toMatch(/^ISOPOOL_ERR_/)
            if (r.status >= 400 && r.body.length === 0) expect(Number(r.headers['content-length'])).toBeGreaterThan(0)
          }
          // The next client is served.
          expect((await app.get('/')).status).toBe(200)
        }
      ),
      { seed: SEED, numRuns: Math.max(1, Math.round(60 * SCALE)) }
    )
  }, 120_000)
})
