// The isolate's side of WebSockets (src/isolate/websocket.ts) over a real ring, in one thread:
// the frames ws.send(), ws.close(), ws.subscribe() and publish() write, the callbacks the main
// thread's frames run, and the checks on what a handler passes. No sockets, no worker.
import { describe, expect, it } from 'vitest'
import { bodyView, FLAG_END, frameArg, frameFlags, frameId, frameKind, KIND_WS_CLOSE, KIND_WS_MESSAGE, KIND_WS_PUBLISH, KIND_WS_TOPIC } from '../../src/shared/frame.ts'
import { META_ID, META_IP, metaField, requestHead, withField } from '../../src/shared/head-text.ts'
import { createRingBuffer, RingConsumer, RingProducer } from '../../src/shared/ring.ts'
import { publish, Sockets, startSockets } from '../../src/isolate/websocket.ts'
import type { IsopoolWebSocket, WebSocketHandler } from '../../src/isolate/websocket.ts'

interface Frame { kind: number, id: number, arg: number, end: boolean, body: Buffer }

function read (c: RingConsumer): Frame[] {
  const out: Frame[] = []
  let pos: number
  while ((pos = c.peek()) >= 0) {
    out.push({ kind: frameKind(c, pos), id: frameId(c, pos), arg: frameArg(c, pos), end: (frameFlags(c, pos) & FLAG_END) !== 0, body: Buffer.from(bodyView(c, pos)) })
    c.release()
  }
  return out
}

const NO_CLOCK = { busy: () => {}, idle: () => {} }
let modules = 0

/** An isolate side with one route, /rooms/:room, whose handler is `handler`. */
async function side (handler: WebSocketHandler<any>): Promise<{ sockets: Sockets, c: RingConsumer }> {
  const sab = createRingBuffer(64 * 1024)
  // A module of its own each time (an import is evaluated once per URL).
  const module = `data:text/javascript,export const h = globalThis.__wsHandler; // ${modules++}`
  ;(globalThis as Record<string, unknown>).__wsHandler = handler
  const sockets = await startSockets(new RingProducer(sab), [{ path: '/rooms/:room', module, export: 'h' }], NO_CLOCK)
  return { sockets, c: new RingConsumer(sab) }
}

const head = withField(requestHead('GET', '/rooms/blue?x=1'), 'X-Test', 'yes') + metaField(META_IP, '10.0.0.1') + metaField(META_ID, 'req-1')

describe('the isolate side of a WebSocket connection', () => {
  it('open() sees the upgrade request; message() text as a string, binary as a Buffer; ws.send frames', async () => {
    const seen: unknown[] = []
    const { sockets, c } = await side({
      open (ws, req) { seen.push([req.params.room, req.query.x, req.headers['x-test'], req.ip, req.id]); ws.data.n = 0 },
      message (ws, data, isBinary) { ws.data.n++; seen.push([data, isBinary, ws.data.n]); ws.send(data, isBinary) }
    })
    sockets.open(5, 0, head)
    sockets.received(5, false, Buffer.from('héllo'), true)
    sockets.received(5, true, Buffer.from([1, 2]), true)
    expect(seen).toEqual([['blue', '1', 'yes', '10.0.0.1', 'req-1'], ['héllo', false, 1], [Buffer.from([1, 2]), true, 2]])
    expect(read(c)).toEqual([
      { kind: KIND_WS_MESSAGE, id: 5, arg: 0, end: true, body: Buffer.from('héllo') },
      { kind: KIND_WS_MESSAGE, id: 5, arg: 1, end: true, body: Buffer.from([1, 2]) }
    ])
  })

  it('a message in fragments is handed over whole', async () => {
    const got: unknown[] = []
    const { sockets } = await side({ message (_ws, data) { got.push(data) } })
    sockets.open(1, 0, head)
    sockets.received(1, false, Buffer.from('ab'), false)
    sockets.received(1, false, Buffer.from('cd'), true)
    expect(got).toEqual(['abcd'])
  })

  it('messages wait for an async open()', async () => {
    const order: string[] = []
    let opened!: () => void
    const { sockets } = await side({
      open () { return new Promise<void>(resolve => { opened = () => { order.push('open'); resolve() } }) },
      message (_ws, data) { order.push(String(data)) }
    })
    sockets.open(1, 0, head)
    sockets.received(1, false, Buffer.from('m1'), true)
    expect(order).toEqual([])
    opened()
    await new Promise(resolve => setImmediate(resolve))
    expect(order).toEqual(['open', 'm1'])
  })

  it('ws.close(), subscribe() and unsubscribe() write their frames; close() runs once, on WS_CLOSE', async () => {
    let socket!: IsopoolWebSocket
    const closes: unknown[] = []
    const { sockets, c } = await side({ open (ws) { socket = ws }, close (_ws, code, reason) { closes.push([code, reason]) } })
    sockets.open(2, 0, head)
    socket.subscribe('news')
    socket.subscribe('news') // once
    expect(socket.topics).toEqual(['news'])
    socket.unsubscribe('news')
    socket.close(4000, 'bye')
    expect(socket.readyState).toBe(2)
    expect(socket.send('late')).toBe(false)
    expect(read(c)).toEqual([
      { kind: KIND_WS_TOPIC, id: 2, arg: 1, end: true, body: Buffer.from('news') },
      { kind: KIND_WS_TOPIC, id: 2, arg: 0, end: true, body: Buffer.from('news') },
      { kind: KIND_WS_CLOSE, id: 2, arg: 4000, end: true, body: Buffer.from('bye') }
    ])
    sockets.closed(2, 4000, 'bye')
    sockets.closed(2, 4000, 'bye')
    expect(closes).toEqual([[4000, 'bye']])
    expect(socket.readyState).toBe(3)
    expect(sockets.size).toBe(0)
  })

  it('refuses what a handler may not do, with ISOPOOL_ERR_WEBSOCKET_USE', async () => {
    let socket!: IsopoolWebSocket
    const { sockets } = await side({ open (ws) { socket = ws } })
    sockets.open(3, 0, head)
    const code = { code: 'ISOPOOL_ERR_WEBSOCKET_USE' }
    expect(() => socket.close(1005)).toThrow(expect.objectContaining(code))
    expect(() => socket.close(1000, 'x'.repeat(124))).toThrow(expect.objectContaining(code))
    expect(() => socket.subscribe('')).toThrow(expect.objectContaining(code))
    expect(() => socket.subscribe('t'.repeat(1025))).toThrow(expect.objectContaining(code))
    expect(() => socket.send(42 as never)).toThrow(expect.objectContaining(code))
  })

  it('publish() writes the topic and the message in one WS_PUBLISH frame', async () => {
    const { c } = await side({})
    publish('room:1', 'hi')
    publish('room:1', Buffer.from([9]))
    const [text, binary] = read(c)
    expect(text.kind).toBe(KIND_WS_PUBLISH)
    expect(text.arg).toBe(('room:1'.length << 1) | 0)
    expect(text.body.toString()).toBe('room:1hi')
    expect(binary.arg & 1).toBe(1)
    expect([...binary.body.subarray(6)]).toEqual([9])
  })

  it('a callback that throws closes its connection with 1011', async () => {
    const { sockets, c } = await side({ message () { throw new Error('boom') } })
    sockets.open(4, 0, head)
    const logged = console.error
    console.error = () => {}
    try {
      sockets.received(4, false, Buffer.from('x'), true)
    } finally {
      console.error = logged
    }
    expect(read(c)).toEqual([{ kind: KIND_WS_CLOSE, id: 4, arg: 1011, end: true, body: Buffer.from('internal error') }])
  })
})
