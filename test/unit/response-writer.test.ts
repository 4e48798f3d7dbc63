// The isolate's ResponseWriter, without sockets or threads: every path it has — a result, a
// Response, an HttpError, an IsopoolError, anything else thrown — fed values that cannot be
// serialized or carried, must still put one well-formed RES_HEAD frame in the ring with a coded
// JSON body. Before, several of them threw, and a throw there ended the isolate.
import { describe, expect, it } from 'vitest'
import { HttpError, IsopoolError } from 'isopool'
import { createRingBuffer, RingConsumer, RingProducer } from '../../src/shared/ring.ts'
import { CT_JSON, FLAG_END, KIND_RES_HEAD, frameKind, readHead, resStatus } from '../../src/shared/frame.ts'
import { Encodable, ResponseWriter } from '../../src/isolate/respond.ts'

interface Frame { status: number, ct: number, headers: Record<string, string>, body: string }

function setup (dev = false): { writer: ResponseWriter, read: () => Frame[] } {
  const sab = createRingBuffer(64 * 1024)
  const writer = new ResponseWriter(new RingProducer(sab), dev)
  const ring = new RingConsumer(sab)
  const read = (): Frame[] => {
    const out: Frame[] = []
    let pos: number
    while ((pos = ring.peek()) >= 0) {
      expect(frameKind(ring, pos)).toBe(KIND_RES_HEAD)
      const h = readHead(ring, pos)
      expect(h.flags & FLAG_END).toBe(FLAG_END)
      const parts = h.text === '' ? [] : h.text.split('\0')
      const headers: Record<string, string> = {}
      for (let i = 0; i + 1 < parts.length; i += 2) headers[parts[i]] = parts[i + 1]
      out.push({ status: resStatus(h.arg), ct: h.aux, headers, body: ring.data.toString('utf8', h.bodyStart, h.bodyEnd) })
      ring.release()
    }
    return out
  }
  return { writer, read }
}

const jsonReq = { prefersMsgpack: () => false }
const msgpackReq = { prefersMsgpack: () => true }

/** One frame, a coded JSON error body with `status`; returns its error object. */
function codedError (frames: Frame[], status: number): { code: string, message: string, status: number, details?: unknown } {
  expect(frames).toHaveLength(1)
  const [f] = frames
  expect(f.status).toBe(status)
  expect(f.ct).toBe(CT_JSON)
  const body = JSON.parse(f.body) as { error: { code: string, message: string, status: number } }
  expect(body.error.code).toMatch(/^[A-Z][A-Z0-9_]*$/)
  expect(body.error.status).toBe(status)
  return body.error
}

const cyclic = (): unknown => { const o: Record<string, unknown> = {}; o.self = o; return o }
const trap = (): never => { throw new Error('trap') }
const hostile = (): object => new Proxy({}, { get: trap, has: trap, ownKeys: trap, getPrototypeOf: trap, getOwnPropertyDescriptor: trap })
/** Runs `fn` (and waits for what it returns) with console.error silenced: the writer logs
 * what it could not send, as it should. */
const quiet = <T>(fn: () => T): T => {
  const error = console.error
  console.error = () => {}
  let out: T
  try { out = fn() } catch (err) { console.error = error; throw err }
  if (out instanceof Promise) return out.finally(() => { console.error = error }) as T
  console.error = error
  return out
}

describe('ResponseWriter.result with values that cannot be sent', () => {
  const cases: [string, unknown][] = [
    ['a BigInt', { n: 1n }],
    ['a cycle', cyclic()],
    ['a function', () => 1],
    ['a symbol', Symbol('s')],
    ['a toJSON that throws', { toJSON: trap }],
    ['a proxy whose traps throw', hostile()]
  ]
  for (const [name, value] of cases) {
    it(`${name}, as JSON and as MessagePack, is a coded 500`, () => {
      for (const req of [jsonReq, msgpackReq]) {
        const { writer, read } = setup()
        quiet(() => writer.result(1, value, 'm.ts#h', req))
        const frames = read()
        // msgpackr packs some of these (a function as nil, say): any well-formed frame will do,
        // and a failure must be the coded 500.
        expect(frames).toHaveLength(1)
        if (frames[0].status !== 200) expect(codedError(frames, 500).code).toMatch(/^ISOPOOL_ERR_(INVALID_RESULT|HANDLER|INTERNAL)$/)
      }
    })
  }

  it('an Encodable whose compiled encoder throws is a coded 500', () => {
    const { writer, read } = setup()
    quiet(() => writer.result(1, new Encodable({ a: 1n }, v => JSON.stringify(v)), 'm.ts#h', jsonReq))
    expect(codedError(read(), 500).code).toBe('ISOPOOL_ERR_INVALID_RESULT')
  })
})

describe('ResponseWriter.result with a Response that cannot be sent', () => {
  it('Response.error() (status 0) is a coded 500', async () => {
    const { writer, read } = setup()
    await quiet(() => writer.result(1, Response.error(), 'm.ts#h', jsonReq))
    expect(codedError(read(), 500).code).toBe('ISOPOOL_ERR_RESPONSE_INVALID')
  })

  it('a header larger than a frame is a coded 500, not a throw', async () => {
    const { writer, read } = setup()
    const res = new Response('x', { headers: { 'x-huge': 'a'.repeat(64 * 1024) } })
    await quiet(() => writer.result(1, res, 'm.ts#h', jsonReq))
    expect(codedError(read(), 500).code).toBe('ISOPOOL_ERR_RESPONSE_INVALID')
  })

  it('its Content-Length, Transfer-Encoding and Keep-Alive are dropped', async () => {
    const { writer, read } = setup()
    await writer.result(1, new Response('body', { headers: { 'content-length': '1', 'transfer-encoding': 'chunked', 'keep-alive': 'x', 'x-a': 'b' } }), 'm.ts#h', jsonReq)
    const [f] = read()
    expect(f.headers).toEqual({ 'content-type': 'text/plain;charset=UTF-8', 'x-a': 'b' })
  })
})

describe('ResponseWriter.error with errors that cannot be described', () => {
  it('an IsopoolError whose details JSON cannot hold keeps its status and code', () => {
    for (const details of [[{ received: 1n }], cyclic(), hostile()]) {
      const { writer, read } = setup()
      quiet(() => writer.error(1, new IsopoolError('ISOPOOL_ERR_VALIDATION', { count: 1, listed: 'all' }, { details })))
      const err = codedError(read(), 422)
      expect(err.code).toBe('ISOPOOL_ERR_VALIDATION')
      expect(err.details).toBeUndefined()
    }
  })

  it('a 500 IsopoolError with such details in development is still a coded 500', () => {
    const { writer, read } = setup(true)
    quiet(() => writer.error(1, new IsopoolError('ISOPOOL_ERR_RESPONSE_SCHEMA', { route: 'r', problems: 'p' }, { details: [{ received: 1n }] })))
    expect(codedError(read(), 500).code).toBe('ISOPOOL_ERR_RESPONSE_SCHEMA')
  })

  it('an HttpError keeps its status when its headers cannot be carried', () => {
    for (const headers of [{ 'x-huge': 'a'.repeat(64 * 1024) }, { 'x-bad': 'a\r\nb' }, { 'bad name': 'v' }, { 'x-n': 1n } as unknown as Record<string, string>, hostile() as Record<string, string>]) {
      const { writer, read } = setup()
      quiet(() => writer.error(1, new HttpError(418, 'teapot', { headers })))
      const [f] = read()
      expect(f.status).toBe(418)
      expect(f.headers).toEqual({ 'x-content-type-options': 'nosniff' })
      expect(JSON.parse(f.body)).toEqual({ error: { code: 'ISOPOOL_ERR_HTTP', message: 'teapot', status: 418 } })
    }
  })

  it('checks a field again whenever it differs from the last one that passed at its place', () => {
    // The fields that passed are remembered by their place in the answer (checkField's slots):
    // a bad one after a good one at the same place, or the same bad one twice, is still refused.
    const { writer, read } = setup()
    const sent = (headers: Record<string, string>): Record<string, string> => {
      quiet(() => writer.error(1, new HttpError(418, 't', { headers })))
      const [f] = read()
      expect(f.status).toBe(418)
      return f.headers
    }
    const nosniff = { 'x-content-type-options': 'nosniff' }
    for (let round = 0; round < 2; round++) {
      expect(sent({ 'x-a': '1', 'x-b': '2' })).toEqual({ ...nosniff, 'x-a': '1', 'x-b': '2' })
      expect(sent({ 'x-a': '1', 'x-b': '2\r\nx-c: 3' })).toEqual(nosniff)
      expect(sent({ 'x-a': '1', 'x-b': '2\r\nx-c: 3' })).toEqual(nosniff)
      expect(sent({ 'x-a': '1', 'x b': '2' })).toEqual(nosniff)
      expect(sent({ 'x-a': '1', 'x-b': '2' })).toEqual({ ...nosniff, 'x-a': '1', 'x-b': '2' })
      expect(sent({ 'x-a\n': '1', 'x-b': '2' })).toEqual(nosniff)
    }
  })

  it('an HttpError drops the framing headers it carries, and keeps the rest', () => {
    const { writer, read } = setup()
    writer.error(1, new HttpError(409, 'c', { headers: { 'content-length': '9', 'Transfer-Encoding': 'chunked', 'x-ok': '1' } }))
    expect(read()[0].headers).toEqual({ 'x-content-type-options': 'nosniff', 'x-ok': '1' })
  })

  it('an HttpError look-alike with a status outside 400–599 is a 500', () => {
    for (const status of [65736, 200, 99, 1.5, NaN, '404']) {
      const { writer, read } = setup()
      const fake = Object.assign(Object.create(HttpError.prototype) as object, { status, message: 'm', code: 'APP_X' })
      quiet(() => writer.error(1, fake))
      expect(codedError(read(), 500).code).toBe('ISOPOOL_ERR_HANDLER')
    }
  })

  it('anything thrown, in production and in development, is a coded 500', () => {
    for (const dev of [false, true]) {
      for (const thrown of [undefined, null, 1n, Object.create(null), hostile(), { message: 1n, stack: cyclic() }, cyclic()]) {
        const { writer, read } = setup(dev)
        quiet(() => writer.error(1, thrown))
        expect(codedError(read(), 500).code).toMatch(/^ISOPOOL_ERR_(HANDLER|INTERNAL)$/)
      }
    }
  })
})
