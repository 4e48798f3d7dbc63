// What a handler returns, over real sockets: a Blob or File is sent as its bytes with its type;
// a Map, a Set, a generator, a stream of chunks that are not bytes, a function and the like are a coded 500 naming
// what was returned (the name in development only, the code always); JSON data of every other
// shape is sent as before. Plain handlers and typed routes with a response schema alike.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { start } from './helpers.ts'
import type { Reply, Running } from './helpers.ts'

const PLAIN = ['blob', 'file', 'untypedBlob', 'asyncBlob', 'floats', 'view', 'map', 'set', 'weakMap', 'weakSet', 'generator', 'asyncGenerator',
  'fn', 'symbol', 'iterator', 'stream', 'error', 'hollow', 'point', 'date', 'bare', 'nothing', 'plain']
const routes = PLAIN.map((name): [string, string, string] => ['GET', `/${name}`, `./returns.ts#${name}`])

let dev: Running
let prod: Running
// What the isolates write to stderr (each refused value is logged, as it should be): kept here
// for the production test to read, and off the test output.
const logged: string[] = []
let onLog = (): void => {}
const write = process.stderr.write
beforeAll(async () => {
  process.stderr.write = ((chunk: string | Uint8Array) => { logged.push(String(chunk)); onLog(); return true }) as typeof process.stderr.write
  ;[dev, prod] = await Promise.all([
    start({ isolates: 1, dev: true, modules: ['./returns-typed'] }, routes),
    start({ isolates: 1, dev: false, modules: ['./returns-typed'] }, routes)
  ])
})
afterAll(async () => {
  await Promise.all([dev?.close(), prod?.close()])
  process.stderr.write = write
})

/** [path, the handler's name in the message, what the message says it returned] */
const REFUSED: [string, string, string][] = [
  ['/map', 'returns.ts#map', 'a Map (JSON has no maps: return Object.fromEntries(map))'],
  ['/set', 'returns.ts#set', 'a Set (return an array: [...set])'],
  ['/weakMap', 'returns.ts#weakMap', 'a WeakMap'],
  ['/generator', 'returns.ts#generator', 'a generator (return an array: [...iterable])'],
  ['/asyncGenerator', 'returns.ts#asyncGenerator', 'an async generator yielding a number (a stream\'s chunks are strings or bytes)'],
  ['/fn', 'returns.ts#fn', 'a function'],
  ['/symbol', 'returns.ts#symbol', 'a symbol'],
  ['/iterator', 'returns.ts#iterator', 'a Map Iterator (return an array: [...iterable])'],
  ['/error', 'returns.ts#error', 'a TypeError (throw it, do not return it)'],
  ['/hollow', 'returns.ts#hollow', 'a Secretive, which JSON would send as {}'],
  ['/typed/map', 'routes.ts#typedMap', 'a Map (JSON has no maps: return Object.fromEntries(map))'],
  ['/typed/generator', 'routes.ts#typedGenerator', 'a generator (return an array: [...iterable])'],
  ['/typed/async-generator', 'routes.ts#typedAsyncGenerator', 'an async generator yielding an object (a stream\'s chunks are strings or bytes)']
]

function expectRefused (r: Reply, path: string): void {
  expect(r.status, `${path}: ${r.text}`).toBe(500)
  expect(r.headers['content-type']).toBe('application/json; charset=utf-8')
  expect(r.json.error.code, path).toBe('ISOPOOL_ERR_INVALID_RESULT')
  expect(r.json.error.status).toBe(500)
}

describe('a Blob, a File and other bytes', () => {
  it('are sent as their bytes, with the Blob\'s type as the content type', async () => {
    for (const app of [dev, prod]) {
      const blob = await app.get('/blob')
      expect(blob.status).toBe(200)
      expect(blob.headers['content-type']).toBe('text/html; charset=utf-8')
      expect(blob.text).toBe('<b>bold</b>')
      const file = await app.get('/file')
      expect(file.headers['content-type']).toBe('image/png')
      expect([...file.body]).toEqual([1, 2, 3, 250])
      const untyped = await app.get('/untypedBlob')
      expect(untyped.headers['content-type']).toBe('application/octet-stream')
      expect(untyped.text).toBe('raw bytes')
      const later = await app.get('/asyncBlob')
      expect(later.headers['content-type']).toBe('text/csv')
      expect(later.text).toBe('later')
      // Any ArrayBuffer view is its bytes, not JSON's {"0":…}.
      const floats = await app.get('/floats')
      expect(floats.headers['content-type']).toBe('application/octet-stream')
      expect([...floats.body]).toEqual([...new Uint8Array(new Float32Array([1.5]).buffer)])
      expect([...(await app.get('/view')).body]).toEqual([9, 8, 7])
      // A ReadableStream that is all there at once is answered whole (test/streaming.test.ts has
      // the streams that wait).
      const stream = await app.get('/stream')
      expect(stream.status).toBe(200)
      expect(stream.headers['content-length']).toBe('1')
      expect(stream.text).toBe('x')
    }
  })

  it('from a typed route with a response schema, too', async () => {
    for (const app of [dev, prod]) {
      const r = await app.get('/typed/blob')
      expect(r.status, r.text).toBe(200)
      expect(r.headers['content-type']).toBe('application/json')
      expect(r.text).toBe('{"name":"raw"}')
    }
  })
})

describe('a value no response can carry', () => {
  it('is a coded 500 naming the handler and what it returned, in development', async () => {
    for (const [path, handler, type] of REFUSED) {
      const r = await dev.get(path)
      expectRefused(r, path)
      expect(r.json.error.message).toMatch(new RegExp(`^Handler \\S*${handler.replace(/[.#]/g, '\\$&')} returned a value that cannot be sent: `))
      expect(r.json.error.message.endsWith(`cannot be sent: ${type}`), `${path}: ${r.json.error.message}`).toBe(true)
    }
  })

  it('keeps its code in production, with the message redacted for the client and written to the log', async () => {
    for (const [path] of [...REFUSED, ['/weakSet']]) {
      const r = await prod.get(path)
      expectRefused(r, path)
      expect(r.json.error.message).toBe('Internal server error')
      expect(r.text).not.toContain('returns')
    }
    // The isolate's stderr reaches this process asynchronously: wait for the write that says it
    // (a generous bound).
    const says = (): boolean => logged.join('').includes('returns.ts#weakSet returned a value that cannot be sent: a WeakSet')
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not logged within 10 s: ${logged.join('').slice(-2000)}`)), 10_000)
      onLog = () => { if (says()) { clearTimeout(timer); onLog = () => {}; resolve() } }
      onLog()
    })
  })

  it('costs no isolate', async () => {
    expect(dev.server.restarts).toBe(0)
    expect(prod.server.restarts).toBe(0)
  })
})

describe('JSON data of any shape', () => {
  it('is sent as before: class instances with fields, a Date, a null-prototype object, null, plain values', async () => {
    for (const app of [dev, prod]) {
      expect((await app.get('/point')).json).toEqual({ x: 1, y: 2 })
      expect((await app.get('/date')).json).toBe('1970-01-01T00:00:00.000Z')
      expect((await app.get('/bare')).json).toEqual({ a: 1 })
      const nothing = await app.get('/nothing')
      expect(nothing.status).toBe(200)
      expect(nothing.text).toBe('null')
      const plain = await app.get('/plain')
      expect(plain.headers['content-type']).toBe('application/json; charset=utf-8')
      expect(plain.json).toEqual({ ok: true, list: [1, 2] })
    }
  })

  it('a class instance under a response schema is written by its encoder, field by field', async () => {
    for (const app of [dev, prod]) {
      const r = await app.get('/typed/instance')
      expect(r.status, r.text).toBe(200)
      expect(r.text).toBe('{"name":"from a getter"}')
    }
  })
})
