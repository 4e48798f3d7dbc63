// The HTTP syntax rules both threads apply (src/shared/http-syntax.ts): which response headers the
// server owns, which statuses a response may carry.
import { describe, expect, it } from 'vitest'
import { BAD_VALUE, isServerOwnedHeader, isStatus, TOKEN } from '../../src/shared/http-syntax.ts'

describe('isServerOwnedHeader', () => {
  it('owns Content-Length, Transfer-Encoding and Keep-Alive, in any case', () => {
    for (const name of ['content-length', 'Content-Length', 'TRANSFER-ENCODING', 'transfer-encoding', 'Keep-Alive', 'keep-alive']) {
      expect(isServerOwnedHeader(name), name).toBe(true)
    }
  })

  it('leaves every other header to the handler, those of the same lengths included', () => {
    // 10, 14 and 17 characters, like the three owned names, and the one the main thread reads.
    for (const name of ['x-trace-id', 'keep-alivf', 'accept-charset', 'content-lengtx', 'x-forwarded-proto', 'transfer-encodinx', 'connection', 'content-type', 'set-cookie', '']) {
      expect(isServerOwnedHeader(name), name).toBe(false)
    }
  })
})

describe('isStatus', () => {
  it('takes the integers 100 to 599 and nothing else', () => {
    for (const s of [100, 101, 200, 404, 599]) expect(isStatus(s), String(s)).toBe(true)
    for (const s of [99, 600, 0, -200, 200.5, Number.NaN, Infinity, '200', null, undefined]) expect(isStatus(s), String(s)).toBe(false)
  })
})

describe('TOKEN and BAD_VALUE', () => {
  it('take RFC 9110 tokens and refuse control characters in values but HTAB', () => {
    expect(TOKEN.test("!#$%&'*+-.^_`|~09AZaz")).toBe(true)
    for (const t of ['', 'a b', 'a:b', 'a"b', '(a)', 'é']) expect(TOKEN.test(t), t).toBe(false)
    expect(BAD_VALUE.test('a\tb ~\x80\xff')).toBe(false)
    for (const v of ['\0', '\r', '\n', '\x7f', '\x1f', 'Ā']) expect(BAD_VALUE.test(`a${v}b`), JSON.stringify(v)).toBe(true)
  })
})
