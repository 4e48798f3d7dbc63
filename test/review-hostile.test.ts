// A hostile review of WebSockets and streamed request bodies on one server, over raw sockets and
// the `ws` client: a broken or smuggling upgrade gets a coded answer, client frames pipelined
// behind the head arrive, bad close codes and oversized messages close with their codes, an
// isolate's misuse closes only its connection, a streamed upload and WebSocket traffic share one
// isolate's rings without confusion, a crash mid-upload answers a coded 502 and the server goes
// on, and close() finishes within shutdownTimeout when a client never answers the close frame.
// Handlers: test/fixtures/review.ts.
import { createHash } from 'node:crypto'
import { connect as connectTcp } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { start } from './helpers.ts'
import type { Running } from './helpers.ts'
import { until } from './observe.ts'

const KEY = 'dGhlIHNhbXBsZSBub25jZQ=='

/** Write `request` on a fresh connection; resolves with all the server wrote once it closes, or
 * once `done(got)` holds (then the client hangs up). */
function raw (url: string, request: string | Buffer, done: (got: string) => boolean = () => false): Promise<string> {
  const { port } = new URL(url)
  return new Promise((resolve, reject) => {
    const socket = connectTcp(Number(port), '127.0.0.1', () => socket.write(request))
    let got = ''
    socket.on('data', (d) => {
      got += d.toString('latin1')
      if (done(got)) socket.destroy()
    })
    socket.on('close', () => resolve(got))
    socket.on('error', reject)
  })
}

function open (url: string): Promise<WebSocket> {
  const ws = new WebSocket(url)
  return new Promise((resolve, reject) => { ws.once('open', () => resolve(ws)); ws.once('error', reject) })
}

function nextMessage (ws: WebSocket): Promise<string> {
  return new Promise((resolve, reject) => {
    const onClose = (code: number): void => reject(new Error(`closed ${code} while waiting for a message`))
    ws.once('message', (d: Buffer) => { ws.off('close', onClose); resolve(d.toString()) })
    ws.once('close', onClose)
  })
}

function closed (ws: WebSocket): Promise<{ code: number, reason: string }> {
  return new Promise(resolve => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })))
}

/** A masked client frame (payload < 64 KiB). */
function frame (opcode: number, payload: Buffer, fin = true): Buffer {
  const mask = Buffer.from([1, 2, 3, 4])
  const head = payload.length < 126
    ? Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | payload.length])
    : Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | 126, payload.length >> 8, payload.length & 255])
  return Buffer.concat([head, mask, Buffer.from(payload.map((b, i) => b ^ mask[i & 3]))])
}

/** An unmasked server text frame, as the server sends it (payload < 126 bytes). */
const serverText = (text: string): string => String.fromCharCode(0x81, text.length) + text

const upgrade = (extra = ''): string =>
  `GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${KEY}\r\n${extra}\r\n`

const errorCode = (got: string): unknown => JSON.parse(got.slice(got.indexOf('\r\n\r\n') + 4)).error.code

let s: Running
let wsBase = ''
beforeAll(async () => {
  s = await start({
    isolates: 1,
    maxBodySize: 64 * 1024,
    routes: [
      { path: '/ws', websocket: './review.ts#echo', maxPayload: 1000 },
      { path: '/deflate', websocket: './review.ts#echo', perMessageDeflate: true },
      { path: '/guarded', websocket: './review.ts#guarded' },
      { method: 'GET', path: '/handled', handler: './review.ts#handledMessages' },
      { method: 'POST', path: '/hash', handler: './review.ts#hash', maxBodySize: 64 * 1024 * 1024, timeout: 0 },
      { method: 'GET', path: '/hello', handler: './review.ts#hello' }
    ]
  })
  wsBase = s.url.replace(/^http/, 'ws')
})
afterAll(async () => { await s?.close() })

describe('the upgrade', () => {
  it('refuses an upgrade request with a body (400, coded) instead of reading the body as frames', async () => {
    for (const request of [
      upgrade('Content-Length: 5\r\n') + 'hello',
      upgrade('Transfer-Encoding: chunked\r\n') + '5\r\nhello\r\n0\r\n\r\n',
      // A body that is a valid masked frame would otherwise reach message() as a smuggled message.
      Buffer.concat([Buffer.from(upgrade('Content-Length: 11\r\n')), frame(1, Buffer.from('smuggled'))])
    ]) {
      const got = await raw(s.url, request)
      expect(got.split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request')
      expect(errorCode(got)).toBe('ISOPOOL_ERR_BAD_REQUEST')
      expect(got).not.toContain('smuggled')
    }
    // An empty body is no body: the upgrade goes on.
    const ok = await raw(s.url, upgrade('Content-Length: 0\r\n'), got => got.includes('\r\n\r\n'))
    expect(ok.split('\r\n')[0]).toBe('HTTP/1.1 101 Switching Protocols')
  })

  it('refuses an HTTP/1.0 upgrade with a coded 426: the handshake is HTTP/1.1', async () => {
    const got = await raw(s.url, upgrade().replace('HTTP/1.1', 'HTTP/1.0'))
    expect(got.split('\r\n')[0]).toMatch(/^HTTP\/1\.1 426 /)
    expect(errorCode(got)).toBe('ISOPOOL_ERR_UPGRADE_REQUIRED')
  })

  it('answers a Sec-WebSocket-Protocol or -Extensions that ws refuses with a coded 400, not ws\'s text/html one', async () => {
    for (const request of [
      upgrade('Sec-WebSocket-Protocol: a b,,\r\n'),
      upgrade('Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=99\r\n').replace('/ws', '/deflate'),
      upgrade('Sec-WebSocket-Extensions: ;;;\r\n').replace('/ws', '/deflate')
    ]) {
      const got = await raw(s.url, request)
      expect(got.split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request')
      expect(got.toLowerCase()).toContain('content-type: application/json')
      expect(got).toContain('x-request-id: ')
      expect(errorCode(got)).toBe('ISOPOOL_ERR_BAD_REQUEST')
    }
    // What ws can parse still upgrades.
    const ok = await raw(s.url, upgrade('Sec-WebSocket-Extensions: permessage-deflate\r\n').replace('/ws', '/deflate'), got => got.includes('\r\n\r\n'))
    expect(ok.split('\r\n')[0]).toBe('HTTP/1.1 101 Switching Protocols')
  })

  it('forgets the connections dropped mid-handshake or right after the 101, and serves on', async () => {
    const { port } = new URL(s.url)
    const head = upgrade()
    await Promise.all(Array.from({ length: 200 }, (_, i) => new Promise<void>(resolve => {
      const socket = connectTcp(Number(port), '127.0.0.1', () => {
        // Some hang up within the head, some once it is whole, before or after the 101.
        socket.write(i % 2 === 0 ? head.slice(0, i % head.length) : head)
        if (i % 4 === 3) socket.once('data', () => socket.destroy())
        else setImmediate(() => socket.destroy())
      })
      socket.on('error', () => {})
      socket.on('close', () => resolve())
    })))
    await until('no WebSocket left open', () => s.server.webSocketCount === 0)
    const ws = await open(wsBase + '/ws')
    ws.send('still serving')
    expect(await nextMessage(ws)).toBe('still serving')
    ws.close()
  })

  it('delivers client frames pipelined in the same packet as the upgrade head', async () => {
    const got = await raw(s.url, Buffer.concat([Buffer.from(upgrade()), frame(1, Buffer.from('pipe-1')), frame(1, Buffer.from('pipe-2'))]),
      got => got.includes(serverText('pipe-2')))
    expect(got).toContain(serverText('pipe-1') + serverText('pipe-2'))
  })

  it('answers a fragmented message as one, and closes a bad close code with 1002', async () => {
    const whole = await raw(s.url, Buffer.concat([Buffer.from(upgrade()), frame(1, Buffer.from('frag'), false), frame(0, Buffer.from('mented'))]),
      got => got.includes(serverText('fragmented')))
    expect(whole).toContain(serverText('fragmented'))
    const bad = await raw(s.url, Buffer.concat([Buffer.from(upgrade()), frame(8, Buffer.from([0, 5]))]))
    // A close frame with code 1002 (0x03ea): 5 is no close code.
    expect(bad.endsWith('\x88\x02\x03\xea')).toBe(true)
    expect((await s.get('/hello')).text).toBe('hello')
  })
})

describe('frames', () => {
  it('answers pings, and closes a ping flood with 1008 instead of cutting it off silently', async () => {
    const ping = frame(9, Buffer.from('p'))
    const pong = '\x8a\x01p'
    const few = await raw(s.url, Buffer.concat([Buffer.from(upgrade()), ...Array.from({ length: 10 }, () => ping), frame(1, Buffer.from('after'))]),
      got => got.includes(serverText('after')))
    expect(few.split(pong).length - 1).toBe(10)
    const flood = await raw(s.url, Buffer.concat([Buffer.from(upgrade()), ...Array.from({ length: 1000 }, () => ping)]),
      got => got.includes('too many pings'))
    expect(flood).toContain('\x88\x10\x03\xf0too many pings')
    expect((await s.get('/hello')).text).toBe('hello')
  })

  it('takes a message of maxPayload bytes and closes one byte more with 1009', async () => {
    const ws = await open(wsBase + '/ws')
    ws.send(Buffer.alloc(1000, 97))
    expect((await nextMessage(ws)).length).toBe(1000)
    const c = closed(ws)
    ws.send(Buffer.alloc(1001, 97))
    expect((await c).code).toBe(1009)
  })

  it('an isolate that closes with a bad reason or sends after close hurts only its connection', async () => {
    const a = await open(wsBase + '/ws')
    const other = await open(wsBase + '/ws')
    const ac = closed(a)
    a.send('bad-close')
    expect(await ac).toEqual({ code: 1011, reason: 'internal error' })
    const b = await open(wsBase + '/ws')
    const got: string[] = []
    b.on('message', d => got.push(d.toString()))
    const bc = closed(b)
    b.send('send-after-close')
    expect(await bc).toEqual({ code: 4001, reason: 'bye' })
    expect(got).toEqual([])
    other.send('still here')
    expect(await nextMessage(other)).toBe('still here')
    other.close()
  })
})

describe('a failed open()', () => {
  it('closes with 1011 and never hands the client\'s messages to message()', async () => {
    // The message comes in the upgrade's packet: it waits for open(), which then throws.
    const got = await raw(s.url, Buffer.concat([Buffer.from(upgrade().replace('/ws', '/guarded?token=no')), frame(1, Buffer.from('do something'))]),
      got => got.includes('\x88\x10\x03\xf3internal error'))
    expect(got).toContain('\x88\x10\x03\xf3internal error')
    expect(got).not.toContain('handled')
    expect((await s.get('/handled')).json).toEqual([])
    // With the token, the same message is handled.
    const ok = await raw(s.url, Buffer.concat([Buffer.from(upgrade().replace('/ws', '/guarded?token=ok')), frame(1, Buffer.from('allowed'))]),
      got => got.includes(serverText('handled')))
    expect(ok).toContain(serverText('handled'))
    expect((await s.get('/handled')).json).toEqual(['allowed'])
  })
})

describe('streamed uploads and WebSockets on one isolate', () => {
  it('keeps request ids and connection ids apart while a streamed upload and messages interleave', async () => {
    const ws = await open(wsBase + '/ws')
    const body = Buffer.alloc(8 * 1024 * 1024)
    for (let i = 0; i < body.length; i += 4096) body[i] = i >>> 12 & 255
    const upload = s.post('/hash', body)
    for (let i = 0; i < 200; i++) {
      ws.send(`m${i}`)
      expect(await nextMessage(ws)).toBe(`m${i}`)
    }
    const r = await upload
    expect(r.status).toBe(200)
    expect(r.json).toEqual({ sha256: createHash('sha256').update(body).digest('hex'), bytes: body.length })
    ws.close()
  })

  it('a crash mid-upload answers 502 coded, closes the isolate\'s connections with 1011, and the server goes on', async () => {
    const ws = await open(wsBase + '/ws')
    const c = closed(ws)
    const r = await s.post('/hash?crash', Buffer.alloc(1024 * 1024, 7))
    expect(r.status).toBe(502)
    expect(r.json.error.code).toBe('ISOPOOL_ERR_ISOLATE_EXITED')
    expect((await c).code).toBe(1011)
    await until('a replacement isolate', async () => (await s.get('/hello').catch(() => null))?.text === 'hello')
    const again = await open(wsBase + '/ws')
    again.send('back')
    expect(await nextMessage(again)).toBe('back')
    again.close()
  })
})

describe('close()', () => {
  it('finishes within shutdownTimeout with a client that never answers the close frame, and a streamed upload in flight gets a coded 503', async () => {
    const t = await start({
      isolates: 1,
      maxBodySize: 64 * 1024,
      shutdownTimeout: 300,
      routes: [
        { path: '/ws', websocket: './review.ts#echo' },
        { method: 'POST', path: '/hash', handler: './review.ts#hash', maxBodySize: 64 * 1024 * 1024, timeout: 0 }
      ]
    })
    const { port } = new URL(t.url)
    // Reads what comes but never answers the close frame (ws would wait 30 s for it).
    const silent = connectTcp(Number(port), '127.0.0.1', () => silent.write(upgrade()))
    let silentGot = ''
    silent.on('data', d => { silentGot += d.toString('latin1') })
    silent.on('error', () => {})
    await until('the 101', () => silentGot.includes('101 Switching Protocols'))
    const up = connectTcp(Number(port), '127.0.0.1', () => up.write('POST /hash HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\nabc'))
    let upGot = ''
    up.on('data', d => { upGot += d.toString('latin1') })
    up.on('error', () => {})
    const upClosed = new Promise(resolve => up.on('close', resolve))
    await until('the upload in flight', () => t.server.inFlight > 0)
    // The test's own timeout (5 s) is far below ws's 30 s close timeout: close() must not wait for it.
    await t.close()
    expect(silentGot).toContain('\x88\x16\x03\xe9server shutting down')
    await upClosed
    expect(upGot.split('\r\n')[0]).toBe('HTTP/1.1 503 Service Unavailable')
    expect(errorCode(upGot)).toBe('ISOPOOL_ERR_SHUTTING_DOWN')
    silent.destroy()
  })
})
