// WebSockets over real sockets, with the `ws` client: echo of text and binary (one connection,
// then 1,000 at once), per-connection state, publish from an HTTP handler and from a WebSocket
// callback reaching subscribers on every isolate, an isolate's crash closing only its own
// connections (1011), close() closing every connection (1001), maxPayload (1009), idleTimeout,
// backpressure towards a slow client, and the coded answers to requests that are not upgrades.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connect as connectTcp } from 'node:net'
import WebSocket from 'ws'
import { createServer } from 'isopool'
import type { Server } from 'isopool'
import { fixtures, start } from './helpers.ts'
import type { Running } from './helpers.ts'
import { until } from './observe.ts'

/** A connected client: its messages in order, a wait for the next, and its close. */
class Client {
  readonly ws: WebSocket
  private readonly inbox: { data: string | Buffer, binary: boolean }[] = []
  private waiter: (() => void) | null = null
  private ended: { code: number, reason: string } | null = null
  readonly closed: Promise<{ code: number, reason: string }>

  constructor (ws: WebSocket) {
    this.ws = ws
    ws.on('message', (data: Buffer, binary: boolean) => {
      this.inbox.push({ data: binary ? data : data.toString('utf8'), binary })
      this.waiter?.()
    })
    this.closed = new Promise(resolve => ws.on('close', (code, reason) => {
      this.ended = { code, reason: reason.toString() }
      resolve(this.ended)
      this.waiter?.()
    }))
  }

  /** The next message (waits for it; rejects if the connection closes first). */
  async next (): Promise<{ data: string | Buffer, binary: boolean }> {
    while (this.inbox.length === 0) {
      if (this.ended !== null) throw new Error(`closed (${this.ended.code} ${this.ended.reason}) while waiting for a message`)
      await new Promise<void>(resolve => { this.waiter = resolve })
      this.waiter = null
    }
    return this.inbox.shift()!
  }

  async text (): Promise<string> {
    const m = await this.next()
    expect(m.binary).toBe(false)
    return m.data as string
  }
}

function connect (url: string, headers?: Record<string, string>, options: WebSocket.ClientOptions = {}): Promise<Client> {
  const ws = new WebSocket(url, { headers, ...options })
  const client = new Client(ws)
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(client))
    ws.once('error', reject)
    ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`status ${res.statusCode}`), { status: res.statusCode })))
  })
}

/** Send `request` on a fresh connection; resolves with all the server wrote until it closed. */
function raw (url: string, request: string): Promise<string> {
  const { port } = new URL(url)
  return new Promise((resolve, reject) => {
    const socket = connectTcp(Number(port), '127.0.0.1', () => socket.write(request))
    let got = ''
    socket.on('data', (d) => { got += d.toString('latin1') })
    socket.on('end', () => resolve(got))
    socket.on('error', reject)
  })
}

const wsUrl = (http: string, path: string): string => http.replace(/^http/, 'ws') + path

describe('WebSockets', () => {
  let s: Running
  beforeAll(async () => {
    s = await start({
      isolates: 2,
      routes: [
        { path: '/echo', websocket: './websocket.ts#echo' },
        { path: '/rooms/:room', websocket: './websocket.ts#state' },
        { path: '/fragile', websocket: './websocket.ts#fragile' },
        { path: '/recorder', websocket: './websocket.ts#recorder' },
        { path: '/small', websocket: './websocket.ts#echo', maxPayload: 16 },
        { path: '/quiet', websocket: './websocket.ts#echo', idleTimeout: 100 },
        { path: '/flood', websocket: './websocket.ts#flooder' },
        { path: '/chat', websocket: './websocket.ts#chat' },
        { method: 'GET', path: '/announce', handler: './websocket.ts#announce' },
        { method: 'GET', path: '/closed', handler: './websocket.ts#closed' },
        { method: 'GET', path: '/flooded', handler: './websocket.ts#flooded' }
      ]
    })
  })
  afterAll(async () => { await s?.close() })

  it('echoes text and binary, including a message larger than a ring frame', async () => {
    const c = await connect(wsUrl(s.url, '/echo'))
    c.ws.send('héllo')
    expect(await c.next()).toEqual({ data: 'héllo', binary: false })
    const bytes = Buffer.from([0, 1, 2, 255])
    c.ws.send(bytes)
    expect(await c.next()).toEqual({ data: bytes, binary: true })
    // 1 MiB (the default maxPayload) crosses the 256 KiB rings in several frames each way.
    const big = Buffer.alloc(1024 * 1024)
    for (let i = 0; i < big.length; i++) big[i] = i * 7 & 255
    c.ws.send(big)
    const back = await c.next()
    expect(back.binary).toBe(true)
    expect(Buffer.compare(back.data as Buffer, big)).toBe(0)
    c.ws.close(1000)
    expect((await c.closed).code).toBe(1000)
  })

  it('echoes over 1,000 connections at once', async () => {
    const clients: Client[] = []
    // Connected in batches, so the listen backlog is never what fails.
    for (let i = 0; i < 1000; i += 100) {
      clients.push(...await Promise.all(Array.from({ length: 100 }, () => connect(wsUrl(s.url, '/echo')))))
    }
    expect(s.server.webSocketCount).toBeGreaterThanOrEqual(1000)
    await Promise.all(clients.map(async (c, i) => {
      c.ws.send(`text ${i}`)
      expect(await c.next()).toEqual({ data: `text ${i}`, binary: false })
      const b = Buffer.from(`bin ${i}`)
      c.ws.send(b)
      expect(await c.next()).toEqual({ data: b, binary: true })
    }))
    for (const c of clients) c.ws.close()
    await Promise.all(clients.map(c => c.closed))
    await until('the server to forget the closed connections', () => s.server.webSocketCount === 0)
  }, 60_000)

  it('keeps per-connection state in ws.data; open() gets params, query, headers, ip and id', async () => {
    const a = await connect(wsUrl(s.url, '/rooms/blue?x=1'), { 'x-test': 'yes', 'x-request-id': 'ws-test-1' })
    const b = await connect(wsUrl(s.url, '/rooms/red'))
    expect(JSON.parse(await a.text())).toEqual({ room: 'blue', x: '1', header: 'yes', ip: '127.0.0.1', id: 'ws-test-1' })
    expect(JSON.parse(await b.text())).toMatchObject({ room: 'red' })
    a.ws.send('a')
    a.ws.send('b')
    b.ws.send('c')
    expect(await a.text()).toBe('blue:1:a')
    expect(await a.text()).toBe('blue:2:b')
    expect(await b.text()).toBe('red:1:c')
    a.ws.close()
    b.ws.close()
  })

  it('publish() from an HTTP handler and from a callback reaches subscribers on every isolate', async () => {
    const clients: Client[] = []
    const isolates = new Set<number>()
    // Connections are pinned to the isolate with the fewest: a few reach both.
    while (isolates.size < 2 || clients.length < 4) {
      const c = await connect(wsUrl(s.url, '/chat?topic=t1'))
      clients.push(c)
      isolates.add(JSON.parse(await c.text()).isolate)
    }
    const other = await connect(wsUrl(s.url, '/chat?topic=t2'))
    await other.text()
    const res = await s.get('/announce?topic=t1&text=hello')
    expect(res.json).toEqual({ published: true })
    for (const c of clients) expect(await c.text()).toBe('hello')
    clients[0].ws.send('from a callback')
    for (const c of clients) expect(await c.text()).toBe('ws:from a callback')
    // Unsubscribed: the next publish does not reach it (the HTTP answer comes after the publish
    // went out, and its next message is the answer to its own).
    clients[1].ws.send('leave')
    expect(await clients[1].text()).toBe('left')
    await s.get('/announce?topic=t1&text=again')
    for (const c of clients.filter((_, i) => i !== 1)) expect(await c.text()).toBe('again')
    clients[1].ws.send('leave')
    expect(await clients[1].text()).toBe('left')
    // Another topic heard none of it.
    await s.get('/announce?topic=t2&text=for t2')
    expect(await other.text()).toBe('for t2')
    for (const c of [...clients, other]) c.ws.close()
  })

  it('an isolate that crashes closes its own connections with 1011; the others stay up', async () => {
    const clients: { c: Client, isolate: string }[] = []
    while (new Set(clients.map(x => x.isolate)).size < 2 || clients.length < 4) {
      const c = await connect(wsUrl(s.url, '/fragile'))
      clients.push({ c, isolate: await c.text() })
    }
    const victim = clients[0].isolate
    const restarts = s.server.restarts
    clients[0].c.ws.send('crash')
    for (const { c } of clients.filter(x => x.isolate === victim)) expect((await c.closed).code).toBe(1011)
    for (const { c, isolate } of clients.filter(x => x.isolate !== victim)) {
      c.ws.send('still')
      expect(await c.text()).toBe(`${isolate}:still`)
    }
    await until('the isolate to be replaced', () => s.server.restarts > restarts && s.server.isolateCount === 2)
    const fresh = await connect(wsUrl(s.url, '/fragile'))
    const isolate = await fresh.text()
    fresh.ws.send('new')
    expect(await fresh.text()).toBe(`${isolate}:new`)
    for (const { c } of clients) c.ws.close()
    fresh.ws.close()
  })

  it('a callback that throws closes its connection with 1011, and the server serves on', async () => {
    const c = await connect(wsUrl(s.url, '/fragile'))
    const isolate = await c.text()
    c.ws.send('throw')
    expect((await c.closed).code).toBe(1011)
    const d = await connect(wsUrl(s.url, '/fragile'))
    expect(await d.text()).toMatch(/^\d+$/)
    d.ws.close()
    expect(isolate).toMatch(/^\d+$/)
  })

  it('ws.close() from the isolate reaches the client; close() runs with the client\'s code', async () => {
    const c = await connect(wsUrl(s.url, '/fragile'))
    await c.text()
    c.ws.send('close')
    expect(await c.closed).toEqual({ code: 4000, reason: 'asked to' })
    const r = await connect(wsUrl(s.url, '/recorder'))
    r.ws.close(4001, 'bye')
    await r.closed
    await until('close() to run in the isolate', async () => (await s.get('/closed')).json.includes('4001:bye'))
  })

  it('a message past maxPayload closes the connection with 1009', async () => {
    const c = await connect(wsUrl(s.url, '/small'))
    c.ws.send('0123456789abcdef')
    expect(await c.text()).toBe('0123456789abcdef')
    c.ws.send('0123456789abcdefX')
    expect((await c.closed).code).toBe(1009)
  })

  it('idleTimeout closes a connection without messages', async () => {
    const c = await connect(wsUrl(s.url, '/quiet'))
    expect(await c.closed).toEqual({ code: 1001, reason: 'idle timeout' })
  })

  it('a slow client stops the sender (ws.send() false) and drain() runs once it catches up', async () => {
    const c = await connect(wsUrl(s.url, '/flood'))
    const socket = (c.ws as unknown as { _socket: import('node:net').Socket })._socket
    c.ws.send('flood')
    socket.pause()
    await until('ws.send() to return false', async () => (await s.get('/flooded')).json.stopped === true, 20_000)
    const { sent } = (await s.get('/flooded')).json
    socket.resume()
    let drained = false
    let received = 0
    while (!drained) {
      const m = await c.next()
      if (m.binary) received++
      else drained = m.data === 'drained'
    }
    expect(received).toBe(sent)
    expect((await s.get('/flooded')).json.drained).toBe(true)
    c.ws.close()
  })

  it('a client that breaks the protocol is closed (1007, 1002), and the server serves on', async () => {
    const { port } = new URL(s.url)
    // Handshake by hand, then one masked text frame: invalid UTF-8, or an unknown opcode.
    const brokenFrame = async (frame: Buffer): Promise<Buffer> => await new Promise((resolve, reject) => {
      const socket = connectTcp(Number(port), '127.0.0.1', () => socket.write('GET /echo HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n'))
      let got = Buffer.alloc(0)
      let upgraded = false
      socket.on('data', (d: Buffer) => {
        got = Buffer.concat([got, d])
        const end = got.indexOf('\r\n\r\n')
        if (!upgraded && end >= 0) {
          upgraded = true
          expect(got.toString('latin1', 0, 12)).toBe('HTTP/1.1 101')
          got = got.subarray(end + 4)
          socket.write(frame)
        }
      })
      socket.on('close', () => resolve(got))
      socket.on('error', reject)
    })
    const mask = [1, 2, 3, 4]
    const badUtf8 = await brokenFrame(Buffer.from([0x81, 0x81, ...mask, 0xff ^ mask[0]]))
    // The server's close frame: opcode 8, then the code.
    expect(badUtf8[0]).toBe(0x88)
    expect(badUtf8.readUInt16BE(2)).toBe(1007)
    const badOpcode = await brokenFrame(Buffer.from([0x83, 0x80, ...mask]))
    expect(badOpcode.readUInt16BE(2)).toBe(1002)
    const c = await connect(wsUrl(s.url, '/echo'))
    c.ws.send('fine')
    expect(await c.text()).toBe('fine')
    c.ws.close()
  })

  it('a first message sent with the upgrade request, in one write, is read', async () => {
    const { port } = new URL(s.url)
    const mask = [9, 8, 7, 6]
    const frame = Buffer.from([0x81, 0x82, ...mask, 'h'.charCodeAt(0) ^ mask[0], 'i'.charCodeAt(0) ^ mask[1]])
    const upgrade = Buffer.from('GET /echo HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n', 'latin1')
    const echoed = await new Promise<Buffer>((resolve, reject) => {
      const socket = connectTcp(Number(port), '127.0.0.1', () => socket.write(Buffer.concat([upgrade, frame])))
      let got = Buffer.alloc(0)
      socket.on('data', (d: Buffer) => {
        got = Buffer.concat([got, d])
        const end = got.indexOf('\r\n\r\n')
        if (end >= 0 && got.byteLength >= end + 4 + 4) {
          socket.destroy()
          resolve(got.subarray(end + 4))
        }
      })
      socket.on('error', reject)
    })
    // An unmasked text frame from the server: "hi".
    expect([...echoed.subarray(0, 4)]).toEqual([0x81, 2, 'h'.charCodeAt(0), 'i'.charCodeAt(0)])
  })

  it('answers a request that is not an upgrade on a WebSocket route with a coded 426', async () => {
    const res = await s.get('/echo')
    expect(res.status).toBe(426)
    expect(res.json.error.code).toBe('ISOPOOL_ERR_UPGRADE_REQUIRED')
    expect(res.headers.upgrade).toBe('websocket')
    const upgrade = (fields: string): Promise<string> => raw(s.url, `GET /echo HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: websocket\r\n${fields}\r\n`)
    const badKey = await upgrade('sec-websocket-version: 13\r\nsec-websocket-key: short\r\n')
    expect(badKey).toMatch(/^HTTP\/1\.1 400 /)
    expect(badKey).toContain('ISOPOOL_ERR_BAD_REQUEST')
    const badVersion = await upgrade('sec-websocket-version: 8\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n')
    expect(badVersion).toMatch(/^HTTP\/1\.1 426 /)
    expect(badVersion).toMatch(/sec-websocket-version: 13/i)
    // The server still serves.
    expect((await s.get('/announce?text=x')).status).toBe(200)
  })

  it('a path with an HTTP route and a WebSocket route: requests go to the HTTP one, upgrades to the WebSocket one', async () => {
    const server = createServer({
      root: fixtures,
      isolates: 1,
      routes: [
        { method: 'GET', path: '/both', handler: './websocket.ts#closed' },
        { path: '/both', websocket: './websocket.ts#echo' }
      ]
    })
    const { url } = await server.listen()
    try {
      const res = await fetch(url + '/both')
      expect(res.status).toBe(200)
      const ws = new WebSocket(wsUrl(url, '/both'))
      const client = new Client(ws)
      // The 101 carries what the services put on every answer: the request id here.
      const upgrade = new Promise<Record<string, unknown>>(resolve => ws.once('upgrade', r => resolve(r.headers)))
      await new Promise(resolve => ws.once('open', resolve))
      expect((await upgrade)['x-request-id']).toMatch(/^[0-9a-f-]{36}$/)
      ws.send('both')
      expect(await client.text()).toBe('both')
      ws.close()
    } finally {
      await server.close()
    }
  })

  it('counts upgrades against the server\'s rate limit: past it, a coded 429 before the handshake', async () => {
    const server = createServer({ root: fixtures, isolates: 1, rateLimit: { max: 2, window: 60_000 }, routes: [{ path: '/echo', websocket: './websocket.ts#echo' }] })
    const { url } = await server.listen()
    try {
      const admitted = await Promise.all([1, 2].map(() => connect(wsUrl(url, '/echo'))))
      const refused = await raw(url, 'GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n')
      expect(refused).toMatch(/^HTTP\/1\.1 429 /)
      expect(refused).toMatch(/\r\nretry-after: \d+\r\n/i)
      expect(refused).toContain('ISOPOOL_ERR_RATE_LIMITED')
      // The connections admitted before still work.
      admitted[1].ws.send('still')
      expect(await admitted[1].text()).toBe('still')
      for (const c of admitted) c.ws.close()
    } finally {
      await server.close()
    }
  })

  it('answers an upgrade to a path without a WebSocket route with 404', async () => {
    await expect(connect(wsUrl(s.url, '/nope'))).rejects.toMatchObject({ status: 404 })
    // An HTTP route ignores the Upgrade and answers as usual (and closes the connection).
    await expect(connect(wsUrl(s.url, '/announce?text=y'))).rejects.toMatchObject({ status: 200 })
  })
})

describe('WebSocket routes at start-up and shutdown', () => {
  it('close() closes every WebSocket with 1001', async () => {
    // server.websocket() is the other way to declare one.
    const server = createServer({ root: fixtures, isolates: 1 })
    server.websocket('/echo', './websocket.ts#echo')
    const { url } = await server.listen()
    const clients = await Promise.all([1, 2, 3].map(() => connect(wsUrl(url, '/echo'))))
    await server.close()
    for (const c of clients) expect((await c.closed).code).toBe(1001)
  })

  it('close() completes the close handshake with a client that was too slow to be read', async () => {
    // shutdownTimeout far past the test's: close() resolves because the handshake completes.
    const server = createServer({ root: fixtures, isolates: 1, shutdownTimeout: 120_000, routes: [{ path: '/flood', websocket: './websocket.ts#flooder' }, { method: 'GET', path: '/flooded', handler: './websocket.ts#flooded' }] })
    const { url } = await server.listen()
    const c = await connect(wsUrl(url, '/flood'))
    const socket = (c.ws as unknown as { _socket: import('node:net').Socket })._socket
    c.ws.send('flood')
    socket.pause()
    await until('ws.send() to return false', async () => (await (await fetch(url + '/flooded')).json() as { stopped: boolean }).stopped, 20_000)
    const closing = server.close()
    socket.resume()
    expect((await c.closed).code).toBe(1001)
    await closing
  })

  it('a callback that never returns: its isolate is replaced after hardTimeout, its connections closed with 1011', async () => {
    const server = createServer({ root: fixtures, isolates: 2, hardTimeout: 1000, routes: [{ path: '/fragile', websocket: './websocket.ts#fragile' }] })
    const { url } = await server.listen()
    try {
      const clients: { c: Client, isolate: string }[] = []
      while (new Set(clients.map(x => x.isolate)).size < 2) {
        const c = await connect(wsUrl(url, '/fragile'))
        clients.push({ c, isolate: await c.text() })
      }
      const victim = clients[0]
      victim.c.ws.send('spin')
      expect((await victim.c.closed).code).toBe(1011)
      const other = clients.find(x => x.isolate !== victim.isolate)!
      other.c.ws.send('alive')
      expect(await other.c.text()).toBe(`${other.isolate}:alive`)
      for (const { c } of clients) c.ws.close()
    } finally {
      await server.close()
    }
  })

  it('reload() closes the old isolates\' connections with 1012; new ones go to the new isolates', async () => {
    const server = createServer({ root: fixtures, isolates: 1, routes: [{ path: '/fragile', websocket: './websocket.ts#fragile' }] })
    const { url } = await server.listen()
    try {
      const old = await connect(wsUrl(url, '/fragile'))
      const before = await old.text()
      await server.reload()
      expect(await old.closed).toMatchObject({ code: 1012 })
      const fresh = await connect(wsUrl(url, '/fragile'))
      const after = await fresh.text()
      expect(after).not.toBe(before)
      fresh.ws.send('hi')
      expect(await fresh.text()).toBe(`${after}:hi`)
    } finally {
      await server.close()
    }
  })

  it('websocket() declarations in the modules are WebSocket routes too, with their options', async () => {
    const server = createServer({ root: fixtures, isolates: 2, modules: ['./websocket-declared'], routes: [{ path: '/echo', websocket: './websocket.ts#echo' }] })
    const { url } = await server.listen()
    try {
      const c = await connect(wsUrl(url, '/live/7'))
      expect(await c.text()).toBe('open 7')
      c.ws.send('hi')
      expect(await c.text()).toBe('live hi')
      // Its maxPayload: 8 bytes.
      c.ws.send('123456789')
      expect((await c.closed).code).toBe(1009)
      // The given route is numbered before it, and still serves.
      const e = await connect(wsUrl(url, '/echo'))
      e.ws.send('given')
      expect(await e.text()).toBe('given')
      e.ws.close()
      expect((await fetch(url + '/status')).status).toBe(200)
    } finally {
      await server.close()
    }
    const bad = createServer({ root: fixtures, isolates: 1, modules: ['./websocket-declared-bad'] })
    await expect(bad.listen()).rejects.toMatchObject({ code: 'ISOPOOL_ERR_INVALID_OPTION' })
    const twice = createServer({ root: fixtures, isolates: 1, modules: ['./websocket-declared'], routes: [{ path: '/live/:name', websocket: './websocket.ts#echo' }] })
    await expect(twice.listen()).rejects.toMatchObject({ code: 'ISOPOOL_ERR_ROUTE_CONFLICT' })
  })

  it('a bad handler export is a start-up error', async () => {
    const cases: [string, string][] = [
      ['./websocket.ts#notAnObject', 'ISOPOOL_ERR_WEBSOCKET_HANDLER'],
      ['./websocket.ts#badCallback', 'ISOPOOL_ERR_WEBSOCKET_HANDLER'],
      ['./websocket.ts#missing', 'ISOPOOL_ERR_EXPORT_MISSING']
    ]
    for (const [handler, code] of cases) {
      const server: Server = createServer({ root: fixtures, isolates: 1, routes: [{ path: '/ws', websocket: handler }] })
      await expect(server.listen()).rejects.toMatchObject({ code })
    }
  })

  it('checks the options at createServer()', () => {
    const bad: unknown[] = [
      { path: '/ws', websocket: './websocket.ts#echo', maxPayload: 0 },
      { path: '/ws', websocket: './websocket.ts#echo', idleTimeout: -1 },
      { path: '/ws', websocket: './websocket.ts#echo', perMessageDeflate: 'yes' },
      { path: '/ws', websocket: './websocket.ts#echo', maxPayLoad: 10 },
      { method: 'POST', path: '/ws', websocket: './websocket.ts#echo' }
    ]
    for (const route of bad) {
      expect(() => createServer({ root: fixtures, routes: [route as never] })).toThrow(expect.objectContaining({ code: 'ISOPOOL_ERR_INVALID_OPTION' }))
    }
    const server = createServer({ root: fixtures })
    server.websocket('/ws', './websocket.ts#echo')
    expect(() => server.websocket('/ws', './websocket.ts#state')).toThrow(expect.objectContaining({ code: 'ISOPOOL_ERR_ROUTE_CONFLICT' }))
  })

  it('publish() outside an isolate is a coded error', async () => {
    const { publish } = await import('isopool/handler')
    expect(() => publish('news', 'x')).toThrow(expect.objectContaining({ code: 'ISOPOOL_ERR_WEBSOCKET_USE' }))
  })
})
