// server.request()'s wire: the request bytes it writes, and how it reads a response back.
import { describe, expect, it } from 'vitest'
import { parseResponse, requestBytes } from '../../src/main/in-process.ts'

describe('requestBytes', () => {
  it('writes the request line, Host, the headers, a Content-Length and connection: close', async () => {
    const bytes = await requestBytes(new Request('http://example.test:8080/a/b?x=1&y=%20', {
      method: 'POST', body: 'héllo', headers: { 'x-one': '1', 'content-type': 'text/plain', 'transfer-encoding': 'chunked', connection: 'keep-alive' }
    }))
    const text = bytes.toString('latin1')
    const [head, body] = text.split('\r\n\r\n')
    const lines = head.split('\r\n')
    expect(lines[0]).toBe('POST /a/b?x=1&y=%20 HTTP/1.1')
    expect(lines).toContain('host: example.test:8080')
    expect(lines).toContain('x-one: 1')
    expect(lines).toContain('content-type: text/plain')
    expect(lines).toContain(`content-length: ${Buffer.byteLength('héllo')}`)
    expect(lines).toContain('connection: close')
    // Framing and the connection are the client's own: what the caller set is not passed on.
    expect(lines).not.toContain('transfer-encoding: chunked')
    expect(lines).not.toContain('connection: keep-alive')
    expect(Buffer.from(body, 'latin1').toString('utf8')).toBe('héllo')
  })

  it('sends no Content-Length without a body', async () => {
    const text = (await requestBytes(new Request('http://localhost/'))).toString('latin1')
    expect(text).toBe('GET / HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n')
  })
})

describe('parseResponse', () => {
  it('reads status, headers (repeated ones kept) and a Content-Length body', async () => {
    const r = parseResponse(Buffer.from('HTTP/1.1 201 Created\r\ncontent-type: application/json\r\nset-cookie: a=1\r\nset-cookie: b=2\r\ncontent-length: 7\r\n\r\n{"a":1}'), 'POST')
    expect(r.status).toBe(201)
    expect(r.statusText).toBe('Created')
    expect(r.headers.get('content-type')).toBe('application/json')
    expect(r.headers.getSetCookie()).toEqual(['a=1', 'b=2'])
    expect(await r.json()).toEqual({ a: 1 })
  })

  it('decodes a chunked body and skips a 100 Continue', async () => {
    const r = parseResponse(Buffer.from('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n1;x=y\r\n!\r\n0\r\nt: 1\r\n\r\n'), 'GET')
    expect(r.status).toBe(200)
    expect(await r.text()).toBe('hello!')
  })

  it('gives no body for HEAD, 204 and 304', async () => {
    expect(parseResponse(Buffer.from('HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n'), 'HEAD').body).toBeNull()
    expect(parseResponse(Buffer.from('HTTP/1.1 204 No Content\r\n\r\n'), 'DELETE').body).toBeNull()
    expect(parseResponse(Buffer.from('HTTP/1.1 304 Not Modified\r\n\r\n'), 'GET').body).toBeNull()
  })

  it('refuses bytes that are not a whole response', () => {
    expect(() => parseResponse(Buffer.from(''), 'GET')).toThrow(/without a complete response/)
    expect(() => parseResponse(Buffer.from('HTTP/1.1 200 OK\r\ncontent'), 'GET')).toThrow(/without a complete response/)
    expect(() => parseResponse(Buffer.from('SPDY 200\r\n\r\n'), 'GET')).toThrow(/status line/)
  })
})
