// The pure parse functions of the HTTP/1.1 layer (src/main/http1/syntax.ts): a head, a chunk-size
// line, a trailer line, the request line judged early, bare line breaks. No sockets: strings in,
// verdicts out, with fast-check properties against the RFC 9112 grammar written out here.
import { describe, expect, it } from 'vitest'
import * as fc from 'fast-check'
import {
  bareLineBreak, CLOSE, judgeRequestLine, parseChunkLine, parseContentLength, parseHead, skipEmptyLines, targetForm, trailerLineError
} from '../../src/main/http1/syntax.ts'
import { forEachField, readRequestLine } from '../../src/shared/head-text.ts'

const SEED = process.env.FC_SEED === undefined ? 0x5e7 : Number(process.env.FC_SEED)
const SCALE = process.env.FC_RUNS_SCALE === undefined ? 1 : Number(process.env.FC_RUNS_SCALE)

const head = (lines: string[]): ReturnType<typeof parseHead> => parseHead(lines.join('\r\n'))
const codeOf = (lines: string[]): string | undefined => head(lines).error?.code

describe('parseHead', () => {
  it('reads method, target, version, framing and the connection', () => {
    const r = head(['POST /a?b HTTP/1.1', 'Host: x', 'Content-Length: 0003', 'Connection: close'])
    expect(r).toMatchObject({ error: null, method: 'POST', url: '/a?b', http10: false, bodyLength: 3, keepAlive: false, expectContinue: false })
    const fields: string[] = []
    forEachField(r.head, readRequestLine(r.head).fieldsAt, (n, v) => fields.push(`${n}=${v}`))
    expect(fields).toEqual(['Host=x', 'Content-Length=0003', 'Connection=close'])
    expect(head(['POST / HTTP/1.1', 'Host: x', 'Transfer-Encoding: chunked'])).toMatchObject({ error: null, bodyLength: -1, keepAlive: true })
    expect(head(['GET / HTTP/1.0'])).toMatchObject({ error: null, http10: true, keepAlive: false, bodyLength: 0 })
    expect(head(['GET / HTTP/1.0', 'Connection: keep-alive'])).toMatchObject({ error: null, keepAlive: true })
  })

  it('finds the first Origin and X-Request-Id, in any case, as the services read them', () => {
    const r = head(['GET / HTTP/1.1', 'Host: x', 'x-REQUEST-id:  abc ', 'Content-Type: a/b', 'ORIGIN: https://a.example', 'Origin: https://b.example', 'X-Request-Id: def', 'Expect: 100-continue'])
    expect(r).toMatchObject({ error: null, origin: 'https://a.example', requestId: 'abc', expectContinue: false })
    // Names of the same lengths are not taken for them.
    expect(head(['GET / HTTP/1.1', 'Host: x', 'Content-Type: x', 'Oragin: y', 'y-request-id: z'])).toMatchObject({ origin: undefined, requestId: undefined })
    // An HTTP/1.0 request's too; an empty value is a value.
    expect(head(['GET / HTTP/1.0', 'Origin:', 'Expect: x'])).toMatchObject({ error: null, origin: '', requestId: undefined })
  })

  it('answers a method it does not implement 501, CONNECT and lowercase ones included', () => {
    for (const m of ['FOO', 'get', 'CONNECT', 'PRI', 'TRACE']) expect(codeOf([`${m} / HTTP/1.1`, 'Host: x']), m).toBe('ISOPOOL_ERR_METHOD_NOT_IMPLEMENTED')
    expect(head(['FOO / HTTP/1.1', 'Host: x']).method).toBe('FOO')
    for (const m of ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) expect(codeOf([`${m} / HTTP/1.1`, 'Host: x']), m).toBeUndefined()
  })

  it('refuses targets outside visible ASCII and the forms a server takes', () => {
    expect(head(['GET /\xe9 HTTP/1.1', 'Host: x']).method).toBe('?')
    for (const t of ['/\xe9', '/\x7f', '/a\x00', 'example.com:80', '*', 'http://ex"ample/', 'h1tp://x/', '*x']) {
      expect(codeOf([`GET ${t} HTTP/1.1`, 'Host: x']), t).toBe('ISOPOOL_ERR_BAD_REQUEST')
    }
    expect(codeOf(['OPTIONS * HTTP/1.1', 'Host: x'])).toBeUndefined()
    expect(codeOf(['GET http://example.com:80/a?b HTTP/1.1', 'Host: x'])).toBeUndefined()
  })

  it('takes one Content-Length of digits only, and refuses two even when they agree', () => {
    expect(head(['POST / HTTP/1.1', 'Host: x', `Content-Length: ${'0'.repeat(40)}5`]).bodyLength).toBe(5)
    for (const v of ['+5', '5 5', '5, 5', '0x5', '', '9007199254740992']) expect(codeOf(['POST / HTTP/1.1', 'Host: x', `Content-Length: ${v}`]), v).toBe('ISOPOOL_ERR_BAD_REQUEST')
    expect(codeOf(['POST / HTTP/1.1', 'Host: x', 'Content-Length: 5', 'Content-Length: 5'])).toBe('ISOPOOL_ERR_BAD_REQUEST')
    expect(codeOf(['POST / HTTP/1.1', 'Host: x', 'Content-Length: 5', 'Transfer-Encoding: chunked'])).toBe('ISOPOOL_ERR_BAD_REQUEST')
  })

  it('takes a single chunked coding only; a HTAB after it is refused as llhttp refuses it', () => {
    expect(codeOf(['POST / HTTP/1.1', 'Host: x', 'Transfer-Encoding: gzip, chunked'])).toBe('ISOPOOL_ERR_TRANSFER_CODING')
    expect(codeOf(['POST / HTTP/1.1', 'Host: x', 'Transfer-Encoding: chunked', 'Transfer-Encoding: chunked'])).toBe('ISOPOOL_ERR_TRANSFER_CODING')
    expect(codeOf(['POST / HTTP/1.1', 'Host: x', 'Transfer-Encoding: chunked\t'])).toBe('ISOPOOL_ERR_BAD_REQUEST')
    expect(codeOf(['POST / HTTP/1.1', 'Host: x', 'Transfer-Encoding:\tchunked '])).toBeUndefined()
    expect(codeOf(['POST / HTTP/1.0', 'Transfer-Encoding: chunked'])).toBe('ISOPOOL_ERR_BAD_REQUEST')
  })

  it('owes 100 Continue to HTTP/1.1 only, and ignores Expect on HTTP/1.0', () => {
    expect(head(['POST / HTTP/1.1', 'Host: x', 'Expect: 100-Continue', 'Content-Length: 1']).expectContinue).toBe(true)
    expect(head(['POST / HTTP/1.1', 'Host: x', 'Expect: 100-continue']).expectContinue).toBe(false) // no body
    expect(head(['POST / HTTP/1.0', 'Expect: 100-continue', 'Content-Length: 1'])).toMatchObject({ error: null, expectContinue: false })
    expect(codeOf(['GET / HTTP/1.0', 'Expect: something'])).toBeUndefined()
    expect(codeOf(['GET / HTTP/1.1', 'Host: x', 'Expect: something'])).toBe('ISOPOOL_ERR_EXPECTATION_FAILED')
  })

  it('closes after a request that asks for a protocol switch', () => {
    expect(head(['GET / HTTP/1.1', 'Host: x', 'Connection: keep-alive, Upgrade', 'Upgrade: websocket']).keepAlive).toBe(false)
    expect(head(['GET / HTTP/1.1', 'Host: x', 'Upgrade: websocket']).keepAlive).toBe(true)
    expect(head(['GET / HTTP/1.1', 'Host: x', 'Connection: upgrade', 'Upgrade:']).keepAlive).toBe(true)
  })

  it('does not take U+00A0 for whitespace in Connection', () => {
    expect(head(['GET / HTTP/1.1', 'Host: x', 'Connection: \xa0close']).keepAlive).toBe(true)
    expect(CLOSE.test('keep-alive,\tclose ')).toBe(true)
  })

  it('refuses a missing or repeated Host on HTTP/1.1, and more than 500 fields with 431', () => {
    expect(codeOf(['GET / HTTP/1.1'])).toBe('ISOPOOL_ERR_BAD_REQUEST')
    expect(codeOf(['GET / HTTP/1.1', 'Host: x', 'host: y'])).toBe('ISOPOOL_ERR_BAD_REQUEST')
    const fields = Array.from({ length: 499 }, (_, i) => `X-${i}: ${i}`)
    expect(codeOf(['GET / HTTP/1.1', 'Host: x', ...fields])).toBeUndefined()
    expect(codeOf(['GET / HTTP/1.1', 'Host: x', ...fields, 'X-Last: 1'])).toBe('ISOPOOL_ERR_HEADERS_TOO_LARGE')
  })

  it('refuses obs-fold, whitespace before the colon and control bytes in values', () => {
    for (const line of [' X-A: b', 'X-A : b', 'X-A: b\x00', 'X-A: b\x7f', ': b', 'X"A: b']) expect(codeOf(['GET / HTTP/1.1', 'Host: x', line]), JSON.stringify(line)).toBe('ISOPOOL_ERR_BAD_REQUEST')
  })
})

// RFC 9112 §7.1.1, written as a generator: chunk-size [ chunk-ext ], with no BWS (llhttp's choice).
const HEX = '0123456789abcdefABCDEF'
const TCHAR = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
const token = fc.string({ unit: fc.constantFrom(...TCHAR), minLength: 1, maxLength: 8 })
const qdtext = fc.constantFrom('\t', ' ', '!', '#', 'a', '[', ']', '~', '\x80', '\xff')
const quoted = fc.array(fc.oneof(qdtext, qdtext.map(c => `\\${c}`), fc.constant('\\"'), fc.constant('\\\\')), { maxLength: 6 }).map(parts => `"${parts.join('')}"`)
const ext = fc.tuple(token, fc.option(fc.oneof(token, quoted), { nil: undefined })).map(([n, v]) => v === undefined ? `;${n}` : `;${n}=${v}`)
const size = fc.string({ unit: fc.constantFrom(...HEX), minLength: 1, maxLength: 13 })

/** Whether position `at` of a chunk line is inside a quoted-string (a quoted-pair's `\"` does not end it). */
function insideQuotes (line: string, at: number): boolean {
  let inside = false
  for (let i = 0; i < at; i++) {
    if (inside && line[i] === '\\') i++
    else if (line[i] === '"') inside = !inside
  }
  return inside
}

describe('parseChunkLine', () => {
  it('reads every size line of the grammar, leading zeros and extensions included', () => {
    fc.assert(fc.property(size, fc.array(ext, { maxLength: 4 }), (s, exts) => {
      expect(parseChunkLine(s + exts.join(''))).toBe(parseInt(s, 16))
    }), { seed: SEED, numRuns: 500 * SCALE })
  })

  it('refuses any line outside it', () => {
    for (const line of ['', ' 3', '3 ', '3\t', '3 ;a', '3; a', '3;a =b', '3;a= b', '3;', '3;;a', '3;=b', '3;a=', '3;a="b', '3;a="b\\', '3;a@b', '3;a\x01', '0x3', '-3', 'g', '3;a="\x00"', '3;a="\x7f"'] as const) {
      expect(parseChunkLine(line), JSON.stringify(line)).toBe(-1)
    }
    expect(parseChunkLine('20000000000000')).toBe(-1) // past 2^53
    expect(parseChunkLine(`${'0'.repeat(100)}1f`)).toBe(31)
  })

  it('never reads a line with a byte no chunk line may hold', () => {
    const bad = fc.constantFrom('\r', '\n', '\x00', '\x01', '\x7f', ' ', '\t')
    fc.assert(fc.property(size, fc.array(ext, { maxLength: 3 }), bad, fc.nat(), (s, exts, b, at) => {
      const line = s + exts.join('')
      const i = at % (line.length + 1)
      const mutated = line.slice(0, i) + b + line.slice(i)
      // Inside a quoted-string SP and HTAB are text; anywhere else, and any other of these bytes, refuses it.
      if (insideQuotes(line, i) && (b === ' ' || b === '\t')) return
      expect(parseChunkLine(mutated)).toBe(-1)
    }), { seed: SEED, numRuns: 500 * SCALE })
  })
})

describe('trailerLineError', () => {
  it('takes field lines and refuses anything else, and the framing fields', () => {
    expect(trailerLineError('X-T: v')).toBeNull()
    expect(trailerLineError('X-T:')).toBeNull()
    expect(trailerLineError('X-T: \xe9')).toBeNull()
    for (const line of ['X-T v', 'X-T : v', ' X-T: v', 'X-T: v\x00', 'X-T: a\rb', 'X-T: a\nb', 'GET /hidden HTTP/1.1', ': v']) {
      expect(trailerLineError(line), JSON.stringify(line)).toBe('invalid trailer field')
    }
    expect(trailerLineError('Content-Length: 5')).toMatch(/frame/)
    expect(trailerLineError('transfer-encoding: chunked')).toMatch(/frame/)
  })
})

describe('judgeRequestLine', () => {
  it('keeps every prefix of a valid request line open', () => {
    const line = fc.tuple(fc.constantFrom('GET', 'HEAD', 'POST', 'OPTIONS'), fc.string({ unit: fc.constantFrom('/', 'a', '?', '=', '%', '~'), maxLength: 12 }), fc.constantFrom('0', '1'))
      .map(([m, t, v]) => `${m} /${t} HTTP/1.${v}`)
    fc.assert(fc.property(line, fc.nat(), (l, n) => {
      expect(judgeRequestLine(l.slice(0, n % (l.length + 1)))).toBe('ok')
    }), { seed: SEED, numRuns: 300 * SCALE })
  })

  it('tells a method no route can have, or no request line, from the first bytes that show it', () => {
    expect(judgeRequestLine('\x16\x03\x01')).toBe('line')
    expect(judgeRequestLine('FOO')).toBe('method')
    expect(judgeRequestLine('GETX')).toBe('method')
    expect(judgeRequestLine('CONNECT ')).toBe('method')
    expect(judgeRequestLine('GET  ')).toBe('line')
    expect(judgeRequestLine('GET / HTTP/2')).toBe('line')
    expect(judgeRequestLine('GET /\xe9')).toBe('line')
  })
})

describe('line breaks and forms', () => {
  it('finds a bare CR or LF, not a CRLF (nor a CR that may be half of one at the end)', () => {
    const b = (s: string): Buffer => Buffer.from(s, 'latin1')
    expect(bareLineBreak(b('a\r\nb\r\n'), 0, 6)).toBe(-1)
    expect(bareLineBreak(b('a\r'), 0, 2)).toBe(-1)
    expect(bareLineBreak(b('a\nb'), 0, 3)).toBe(1)
    expect(bareLineBreak(b('a\rb'), 0, 3)).toBe(1)
    expect(bareLineBreak(b('\n'), 0, 1)).toBe(0)
  })

  it('skips CRLF and bare LF empty lines before a request line, never a bare CR', () => {
    expect(skipEmptyLines(Buffer.from('\r\n\n\r\nGET'))).toBe(5)
    expect(skipEmptyLines(Buffer.from('\rGET'))).toBe(0)
    expect(skipEmptyLines(Buffer.from('\r\n\r'))).toBe(2)
  })

  it('tells the target forms apart', () => {
    expect(targetForm('/a')).toBe('origin')
    expect(targetForm('*')).toBe('asterisk')
    expect(targetForm('http://[::1]:80')).toBe('absolute')
    expect(targetForm('HTTPS://a@b/c')).toBe('absolute')
    for (const t of ['a:80', '*a', 'http:/a', 'ht-tp://a/', 'http://a"b/', 'http://a#b/', 'http://a@b@c/']) expect(targetForm(t), t).toBe('authority')
  })

  it('reads Content-Length values as digits only', () => {
    fc.assert(fc.property(fc.nat({ max: 1e12 }), fc.nat({ max: 30 }), (n, zeros) => {
      expect(parseContentLength('0'.repeat(zeros) + String(n))).toBe(n)
    }), { seed: SEED, numRuns: 200 * SCALE })
    for (const v of ['', ' 1', '1 ', '+1', '-1', '1e3', '1.0', '0x1', '1,1']) expect(parseContentLength(v), v).toBe(-1)
  })
})
