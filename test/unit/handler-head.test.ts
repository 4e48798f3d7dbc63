// writeHandlerHead(): the head of a handler's answer as the main thread writes it from a RES_HEAD
// frame's fields. The isolate checks the fields before it frames them; the main thread checks
// again, once per distinct field text (it remembers the last text that passed), so a bad field
// never reaches the wire even right after a good text, and a Connection field is still honoured.
import { describe, expect, it } from 'vitest'
import type { Socket } from 'node:net'
import { Http1Response, writeHandlerHead } from '../../src/main/http1/response.ts'
import type { ResponseConnection, RespondedRequest } from '../../src/main/http1/response.ts'
import { CONTENT_TYPES, CT_JSON, CT_NONE, CT_TEXT, UNKNOWN_LENGTH } from '../../src/shared/frame.ts'
import { fieldList } from '../../src/shared/head-text.ts'

/** A response over a socket that keeps what is written to it. */
function response (method = 'GET'): { res: Http1Response, wire: () => string } {
  const chunks: Buffer[] = []
  const socket = { writableLength: 0, write (b: Uint8Array) { chunks.push(Buffer.from(b)); return true } } as unknown as Socket
  const conn: ResponseConnection = {
    socket,
    http10: false,
    server: { closing: false, keepAliveHint: '' },
    canDrain: () => true,
    responded: () => {},
    destroy: () => {}
  }
  const req: RespondedRequest = { method, complete: true, bodyLength: 0, received: 0, expectContinue: false, continued: false }
  const res = new Http1Response(conn, req, true)
  return { res, wire: () => Buffer.concat(chunks).toString('latin1') }
}

/** The answer written for a handler's head with field text `text` and a 2-byte body. */
function answer (text: string): { ok: boolean, head: string, res: Http1Response } {
  const { res, wire } = response()
  const ok = writeHandlerHead(res, 200, CT_JSON, text, 2)
  if (ok) res.end(Buffer.from('{}'))
  return { ok, head: wire().split('\r\n\r\n')[0], res }
}

describe('writeHandlerHead', () => {
  it('writes the content type, the fields and the length', () => {
    const a = answer('x-one\u00001\u0000vary\u0000origin')
    expect(a.ok).toBe(true)
    const lines = a.head.split('\r\n')
    expect(lines[0]).toBe('HTTP/1.1 200 OK')
    expect(lines).toContain('content-type: ' + CONTENT_TYPES[CT_JSON])
    expect(lines).toContain('x-one: 1')
    expect(lines).toContain('vary: origin')
    expect(lines).toContain('content-length: 2')
  })

  it('refuses a bad field name or value with a coded 500, also right after a text that passed', () => {
    for (const [good, bad] of [['x-a\u0000ok', 'x a\u0000ok'], ['x-a\u0000ok', 'x-a\u0000o\rk'], ['x-a\u0000ok', 'x-a\u0000ok\u0000x-b\u0000\u0001']]) {
      expect(answer(good).ok).toBe(true)
      const a = answer(bad)
      expect(a.ok, JSON.stringify(bad)).toBe(false)
      expect(a.head.split('\r\n')[0]).toBe('HTTP/1.1 500 Internal Server Error')
      expect(a.head).not.toContain('x a')
      expect(a.res.statusCode).toBe(500)
      // The same text again is refused again: only a text that passed is remembered.
      expect(answer(bad).ok).toBe(false)
    }
  })

  it("takes a handler's Connection: close, after a text without one and for the same text twice", () => {
    expect(answer('x-a\u0000ok').res.shouldKeepAlive).toBe(true)
    for (let i = 0; i < 2; i++) {
      const a = answer('x-a\u0000ok\u0000Connection\u0000close')
      expect(a.ok).toBe(true)
      expect(a.head).toContain('connection: close')
      expect(a.head).not.toContain('Connection: close')
      expect(a.res.shouldKeepAlive).toBe(false)
    }
  })

  it('keeps the status line, type and fields, and the length line, only while each is the same', () => {
    // Each answer changes one thing from the one before; each head must be what writeHead() makes
    // of the same status and fields (the general path), byte for byte.
    const cases: [string, number, number, string, number][] = [
      ['GET', 200, CT_JSON, 'x-a\u00001', 2],
      ['GET', 200, CT_JSON, 'x-a\u00001', 2],
      ['GET', 200, CT_JSON, 'x-a\u00001', 17],
      ['GET', 201, CT_JSON, 'x-a\u00001', 17],
      ['GET', 201, CT_TEXT, 'x-a\u00001', 17],
      ['GET', 201, CT_TEXT, 'x-a\u00002', 17],
      ['GET', 201, CT_NONE, 'x-a\u00002', 17],
      ['GET', 201, CT_NONE, '', 17],
      ['GET', 204, CT_NONE, '', 0],
      ['GET', 304, CT_JSON, 'etag\u0000"x"', 5],
      ['GET', 200, CT_JSON, 'etag\u0000"x"', UNKNOWN_LENGTH],
      ['HEAD', 200, CT_JSON, 'etag\u0000"x"', 5],
      ['GET', 200, CT_JSON, 'x-a\u00001', 2],
      // A Content-Length among the fields (the isolate drops them) is seen as writeHead() sees it.
      ['GET', 200, CT_JSON, 'content-length\u00005', UNKNOWN_LENGTH]
    ]
    for (const [method, status, ct, text, bodyLen] of cases) {
      const fast = response(method)
      expect(writeHandlerHead(fast.res, status, ct, text, bodyLen)).toBe(true)
      fast.res.end()
      const general = response(method)
      const headers = [...(CONTENT_TYPES[ct] === undefined ? [] : ['content-type', CONTENT_TYPES[ct]]), ...fieldList(text)]
      if (status !== 204 && status !== 304 && bodyLen !== UNKNOWN_LENGTH) headers.push('content-length', String(bodyLen))
      general.res.writeHead(status, headers, true)
      general.res.end()
      expect(fast.wire(), JSON.stringify([method, status, ct, text, bodyLen])).toBe(general.wire())
      expect([fast.res.statusCode, fast.res.bodiless]).toEqual([general.res.statusCode, general.res.bodiless])
    }
  })

  it('answers a status out of range with a coded 500 all the same', () => {
    const { res, wire } = response()
    expect(writeHandlerHead(res, 700, CT_JSON, '', 2)).toBe(false)
    expect(wire().split('\r\n')[0]).toBe('HTTP/1.1 500 Internal Server Error')
  })
})
