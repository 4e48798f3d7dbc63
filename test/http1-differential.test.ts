// isopool's HTTP/1.1 layer against llhttp, the parser node:http runs, on the same bytes
// (test/http1-diff.ts): a corpus of raw requests (test/fixtures/http1-corpus.ts), each fed whole
// and in random pieces, then a mutation fuzzer seeded from it. Whatever the bytes, isopool must
// never take a request node:http does not, nor read one differently (method, target, version,
// fields, body); where it refuses what node:http takes, that must be one of the differences the
// README lists as deliberate.
//
// A fixed seed makes a run reproducible; FC_SEED=n picks another, FC_RUNS_SCALE=k runs k× more:
//   FC_RUNS_SCALE=50 npx vitest run test/http1-differential.test.ts
import { describe, expect, it } from 'vitest'
import * as fc from 'fast-check'
import { cut, departure, isopoolVerdict, nodeVerdict, upgrades } from './http1-diff.ts'
import type { Seen, Verdict } from './http1-diff.ts'
import { CORPUS } from './fixtures/http1-corpus.ts'

const SEED = process.env.FC_SEED === undefined ? 0x4d1f : Number(process.env.FC_SEED)
const SCALE = process.env.FC_RUNS_SCALE === undefined ? 1 : Number(process.env.FC_RUNS_SCALE)

const BARE_LINE_BREAK = /[^\r]\n|\r[^\n]|^\n/
/** Without leading and trailing SP and HTAB, HTTP's whitespace (String#trim takes U+00A0 too). */
const ows = (s: string): string => s.replace(/^[ \t]+|[ \t]+$/g, '')
/** RFC 9112 §7.1.1's chunk-size line, without BWS (refused by llhttp too). */
const TOKEN = "[!#$%&'*+\\-.^_`|~0-9A-Za-z]+"
const CHUNK_LINE = new RegExp(`^[0-9a-fA-F]+(?:;${TOKEN}(?:=(?:${TOKEN}|"(?:[\\t !#-\\[\\]-~\\x80-\\xff]|\\\\[\\t -~\\x80-\\xff])*"))?)*$`)
const KNOWN = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'])

/** The values of `r`'s fields named `name` (lower-case), in order. */
function fieldValues (r: Seen, name: string): string[] {
  const out: string[] = []
  for (let i = 0; i + 1 < r.headers.length; i += 2) if (r.headers[i].toLowerCase() === name) out.push(r.headers[i + 1])
  return out
}

/**
 * Why isopool may refuse `r`, a request node:http took from `raw`: one of the README's deliberate
 * differences, or null. Judged on what node:http read of the request and on the raw bytes.
 */
function deliberate (r: Seen, raw: string): string | null {
  const values = (name: string): string[] => fieldValues(r, name)
  if (!KNOWN.has(r.method)) return 'a method no route can have (501)'
  if (r.version !== '1.0' && r.version !== '1.1') return 'an HTTP version other than 1.0 and 1.1'
  if (values('host').length > 1) return 'more than one Host'
  const te = values('transfer-encoding')
  if (te.length > 0 && r.version === '1.0') return 'Transfer-Encoding on HTTP/1.0'
  if (te.length > 1 || (te.length === 1 && ows(te[0]).toLowerCase() !== 'chunked')) return 'a transfer coding other than one chunked (501)'
  if (r.url === '*' && r.method !== 'OPTIONS') return 'asterisk-form on a method other than OPTIONS'
  if (/^[A-Za-z]+:\/\/[^/?]*@[^/?]*@/.test(r.url)) return 'an absolute-form authority with more than one @'
  if (r.url !== '*' && !r.url.startsWith('/') && !/^[A-Za-z]+:\/\//.test(r.url)) return 'a target in none of origin, absolute and asterisk form (authority-form is CONNECT\'s)'
  if (r.version === '1.1' && values('expect').some(e => ows(e).toLowerCase() !== '100-continue')) return 'an expectation other than 100-continue (417)'
  if (values('content-length').some(v => Number(ows(v)) > Number.MAX_SAFE_INTEGER)) return 'a Content-Length past 2^53'
  if (BARE_LINE_BREAK.test(raw)) return 'a bare CR or LF'
  if (/^[!-~]+ {2}|^[!-~]+ [!-~]+ {2}/m.test(raw)) return 'more than one space in a request line'
  const lines = raw.split('\r\n')
  if (lines.some(line => /^[0-9a-fA-F]+;/.test(line) && !CHUNK_LINE.test(line))) return 'a chunk extension outside RFC 9112\'s grammar (an empty name or value)'
  if (lines.some(line => /^[0-9a-fA-F]+(?:;|$)/.test(line) && parseInt(line, 16) > Number.MAX_SAFE_INTEGER)) return 'a chunk size past 2^53'
  if (lines.some(line => line.length > 4096 && /^[0-9a-fA-F]+;/.test(line))) return 'a chunk-size line over 4 KiB'
  return null
}

/** Where isopool departs from node:http beyond what is allowed (deliberate ones included). */
async function check (raw: string, iso: Verdict, node: Verdict, marked?: string): Promise<string | null> {
  const d = departure(iso, node, marked)
  if (d === null || marked !== undefined) return d
  // node:http refused a head it judged line by line while isopool still waits for the head's end:
  // given that end, isopool must refuse it too, and take nothing more.
  if (!iso.stopped && node.stopped && iso.requests.length === node.requests.length) {
    const ended = await isopoolVerdict([Buffer.from(raw + '\r\n\r\n', 'latin1')])
    if (ended.stopped && ended.requests.length === iso.requests.length) return null
  }
  // The other way round: isopool refused a head node:http still waits for. Given the head's end,
  // node:http must refuse it too — or take a request isopool refuses on purpose.
  if (iso.stopped && !node.stopped && iso.requests.length === node.requests.length) {
    const ended = await nodeVerdict([Buffer.from(raw + '\r\n\r\n', 'latin1')])
    const more = ended.requests[iso.requests.length]
    // (Empty lines before a request line node:http skips, bare LF ones too; isopool refuses a bare
    // line break wherever it comes.)
    if (more === undefined ? ended.stopped || BARE_LINE_BREAK.test(raw) : deliberate(more, raw + '\r\n\r\n') !== null) return null
  }
  // node:http reads nothing after the head of a request asking for a protocol switch as HTTP,
  // not even a body's error (it swallows it, and waits): isopool refusing the body is no departure.
  const last = node.requests[node.requests.length - 1]
  if (iso.stopped && !node.stopped && iso.requests.length === node.requests.length && !last.complete && upgrades(last.headers)) return null
  // isopool stopped where node:http took a request: allowed for a deliberate difference only.
  const k = iso.requests.length
  // The request before named close in a Connection field: llhttp keeps an HTTP/1.0 connection
  // that also names keep-alive; isopool closes (RFC 9112 §9.6: close in any Connection field).
  const before = node.requests[k - 1]
  if (k > 0 && (node.requests.length > k || !node.stopped) && before.version === '1.0' && fieldValues(before, 'connection').some(v => /(?:^|,)[ \t]*close[ \t]*(?:,|$)/i.test(v))) return null
  const taken = node.requests[k] ?? (iso.stopped && !node.stopped ? node.requests[k - 1] : undefined)
  const why = taken === undefined ? null : deliberate(taken, raw)
  return why === null ? d : null
}

describe('the corpus', () => {
  it(`agrees with node:http on all ${CORPUS.length} cases, fed whole`, async () => {
    const departures: string[] = []
    for (const c of CORPUS) {
      const bytes = Buffer.from(c.raw, 'latin1')
      const d = departure(await isopoolVerdict([bytes]), await nodeVerdict([bytes]), c.stricter)
      if (d !== null) departures.push(`${c.name}: ${d}`)
    }
    expect(departures).toEqual([])
  })

  it('marks no case deliberate that is not: each refused by isopool and taken by node:http', async () => {
    const needless: string[] = []
    for (const c of CORPUS.filter(c => c.stricter !== undefined)) {
      const bytes = Buffer.from(c.raw, 'latin1')
      if (departure(await isopoolVerdict([bytes]), await nodeVerdict([bytes])) === null) needless.push(c.name)
    }
    expect(needless).toEqual([])
  })

  it('reads each case the same however it is cut into pieces', async () => {
    await fc.assert(fc.asyncProperty(fc.constantFrom(...CORPUS), fc.array(fc.nat(), { maxLength: 6 }), async (c, at) => {
      const bytes = Buffer.from(c.raw, 'latin1')
      const whole = await isopoolVerdict([bytes])
      const pieces = cut(bytes, at.map(n => n % (bytes.byteLength + 1)))
      const iso = await isopoolVerdict(pieces)
      expect(JSON.stringify(iso.requests)).toBe(JSON.stringify(whole.requests))
      expect(iso.stopped).toBe(whole.stopped)
      expect(departure(iso, await nodeVerdict(pieces), c.stricter)).toBeNull()
    }), { seed: SEED, numRuns: 300 * SCALE })
  })
})

// Bytes that matter to HTTP framing, and whole tokens that do.
const NASTY = ['\r', '\n', '\r\n', '\r\n\r\n', '\0', ' ', '\t', ':', ';', '=', '"', '\\', ',', '0', '9', 'f', 'F', '-', '+', '\x7f', '\xa0', '\xff', '/',
  'chunked', 'Transfer-Encoding: chunked\r\n', 'Content-Length: 0\r\n', 'Content-Length: 5\r\n', 'Host: x\r\n', 'Connection: close\r\n', 'Expect: 100-continue\r\n',
  'GET / HTTP/1.1\r\n', ' HTTP/1.0', '0\r\n\r\n', '5\r\nhello\r\n', 'Connection: upgrade\r\nUpgrade: x\r\n', '*', '#', 'http://', '\t\r\n']

type Edit = { op: 'insert', at: number, text: string } | { op: 'delete', at: number, len: number } | { op: 'dup', at: number, len: number } | { op: 'replace', at: number, text: string }

const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), text: fc.constantFrom(...NASTY) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ op: fc.constant('dup' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 24 }) }),
  fc.record({ op: fc.constant('replace' as const), at: fc.nat(), text: fc.constantFrom(...NASTY) })
)

function apply (raw: string, edits: readonly Edit[]): string {
  let s = raw
  for (const e of edits) {
    const at = s.length === 0 ? 0 : e.at % (s.length + 1)
    if (e.op === 'insert') s = s.slice(0, at) + e.text + s.slice(at)
    else if (e.op === 'delete') s = s.slice(0, at) + s.slice(at + e.len)
    else if (e.op === 'dup') s = s.slice(0, at) + s.slice(at, at + e.len) + s.slice(at)
    else s = s.slice(0, at) + e.text + s.slice(at + e.text.length)
  }
  return s
}

describe('the mutation fuzzer', () => {
  it('finds no bytes isopool reads more leniently than node:http, or otherwise', async () => {
    await fc.assert(fc.asyncProperty(
      fc.constantFrom(...CORPUS), fc.array(edit, { minLength: 1, maxLength: 4 }), fc.array(fc.nat(), { maxLength: 4 }),
      async (c, edits, at) => {
        const raw = apply(c.raw, edits)
        const bytes = Buffer.from(raw, 'latin1')
        const pieces = cut(bytes, at.map(n => n % (bytes.byteLength + 1)))
        const d = await check(raw, await isopoolVerdict(pieces), await nodeVerdict(pieces))
        expect(d, JSON.stringify(raw)).toBeNull()
      }
    ), { seed: SEED, numRuns: 1500 * SCALE })
  })
})
