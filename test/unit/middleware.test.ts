// Middleware without sockets or threads: compose()'s chain with hooks of the test's own (order,
// short-circuits, next() twice, values that are not Responses, throws at every depth), the
// ResponseWriter's Response builder against its frame writer (one decision, two outputs), and the
// loader's promise that a route without middleware keeps its plain handler.
import { describe, expect, it } from 'vitest'
import { unpack } from 'msgpackr'
import { HttpError, IsopoolError } from 'isopool'
import { pathToFileURL } from 'node:url'
import { compose, LATER, middlewareName } from '../../src/isolate/middleware.ts'
import type { ChainHooks, Middleware } from '../../src/isolate/middleware.ts'
import { Encodable, ResponseWriter } from '../../src/isolate/respond.ts'
import { loadHandlers } from '../../src/isolate/loader.ts'
import { DEFAULT_ADAPTER_OPTIONS } from '../../src/isolate/typed-route.ts'
import { createRingBuffer, RingConsumer, RingProducer } from '../../src/shared/ring.ts'
import { CONTENT_TYPES, readHead, resStatus } from '../../src/shared/frame.ts'
import type { IsolateRequest } from '../../src/isolate/request.ts'

const req = { prefersMsgpack: () => false } as unknown as IsolateRequest

interface Seen { outcome: unknown, threw: boolean, by: string | undefined }

/** Hooks that answer what they are handed as a Response naming it, and remember each call. */
function hooks (): ChainHooks & { seen: Seen[], calls: number } {
  const h = {
    seen: [] as Seen[],
    calls: 0,
    call (_route: number, handler: (req: IsolateRequest) => unknown, r: IsolateRequest) {
      h.calls++
      return handler(r)
    },
    toResponse (_route: number, outcome: unknown, threw: boolean, _req: IsolateRequest, by?: string) {
      h.seen.push({ outcome, threw, by })
      if (threw) return new Response((outcome as Error).message, { status: 500, headers: { 'x-code': String((outcome as IsopoolError).code) } })
      return new Response(String(outcome))
    }
  }
  return h
}

const names = (n: number): string[] => Array.from({ length: n }, (_, i) => `mw${i}`)

describe('compose', () => {
  it('runs the middleware in order on the way in and in reverse on the way out', async () => {
    const log: string[] = []
    const layer = (name: string): Middleware => async (_req, next) => {
      log.push(`in ${name}`)
      const res = await next()
      log.push(`out ${name}`)
      res.headers.append('x-order', name)
      return res
    }
    const h = hooks()
    const run = compose(0, [layer('a'), layer('b'), layer('c')], names(3), () => { log.push('handler'); return 'ok' }, h)
    const res = await run(req)
    expect(log).toEqual(['in a', 'in b', 'in c', 'handler', 'out c', 'out b', 'out a'])
    expect(res.headers.get('x-order')).toBe('c, b, a')
    expect(await res.text()).toBe('ok')
    expect(h.seen).toEqual([{ outcome: 'ok', threw: false, by: undefined }])
  })

  it('hands an answer that comes later to the worker\'s callback, returning LATER, and a synchronous one back as it is', async () => {
    const h = hooks()
    const got: Response[] = []
    const settled = new Promise<void>(resolve => {
      const out = compose(0, [async (_req, next) => { const res = await next(); res.headers.set('x-late', '1'); return res }], names(1), () => 'ok', h)(req, res => { got.push(res); resolve() })
      expect(out).toBe(LATER)
    })
    await settled
    expect(got).toHaveLength(1)
    expect(got[0].headers.get('x-late')).toBe('1')
    expect(await got[0].text()).toBe('ok')
    const own = new Response('no')
    const sync = compose(0, [() => own], names(1), () => 'never', h)(req, () => { throw new Error('not called for a synchronous answer') })
    expect(sync).toBe(own)
    // A promise of no Response, and a rejection: the coded answers, to the callback.
    for (const mw of [async () => 42, async () => { throw new HttpError(403, 'no') }] as unknown as Middleware[]) {
      const k = hooks()
      const res = await new Promise<Response>(resolve => { expect(compose(0, [mw], names(1), () => 'x', k)(req, resolve)).toBe(LATER) })
      expect(res.status).toBe(500)
      expect(k.seen[0].threw).toBe(true)
      expect(k.seen[0].by).toBe('mw0')
    }
  })

  it('answers synchronously, without the handler, when a middleware does', () => {
    const h = hooks()
    const own = new Response('no')
    const out = compose(0, [() => own], names(1), () => 'never', h)(req)
    expect(out).toBe(own)
    expect(h.calls).toBe(0)
  })

  it('gives next() what the handler threw or rejected with, as a Response', async () => {
    for (const handler of [() => { throw new HttpError(403) }, () => Promise.reject(new HttpError(403))]) {
      const h = hooks()
      const res = await compose(0, [(_req, next) => next()], names(1), handler, h)(req)
      expect(res.status).toBe(500)
      expect(h.seen).toHaveLength(1)
      expect(h.seen[0].threw).toBe(true)
      expect(h.seen[0].outcome).toBeInstanceOf(HttpError)
      expect(h.seen[0].by).toBeUndefined()
    }
  })

  it('gives an outer middleware what an inner one threw, naming the inner one', async () => {
    const h = hooks()
    let outer: Response | undefined
    const res = await compose(0, [
      async (_req, next) => { outer = await next(); return outer },
      () => { throw new Error('inner') }
    ], names(2), () => 'never', h)(req)
    expect(res).toBe(outer)
    expect(await res.text()).toBe('inner')
    expect(h.seen).toMatchObject([{ threw: true, by: 'mw1' }])
    expect(h.calls).toBe(0)
  })

  it('never throws or rejects: the outermost middleware\'s throw is answered too', async () => {
    for (const mw of [(() => { throw new Error('sync') }) as Middleware, (async () => { throw new Error('async') }) as Middleware]) {
      const h = hooks()
      const res = await compose(0, [mw], names(1), () => 'never', h)(req)
      expect(res.status).toBe(500)
      expect(h.seen).toMatchObject([{ threw: true, by: 'mw0' }])
    }
  })

  it('refuses a second next() with ISOPOOL_ERR_MIDDLEWARE_NEXT; the handler runs once', async () => {
    const h = hooks()
    let second: unknown
    const res = await compose(0, [async (_req, next) => {
      const first = await next()
      try { await next() } catch (err) { second = err }
      return first
    }], names(1), () => 'once', h)(req)
    expect(await res.text()).toBe('once')
    expect(second).toBeInstanceOf(IsopoolError)
    expect((second as IsopoolError).code).toBe('ISOPOOL_ERR_MIDDLEWARE_NEXT')
    expect((second as IsopoolError).message).toBe('Middleware mw0 called next() more than once')
    expect(h.calls).toBe(1)
  })

  it('a second next() left unawaited is no unhandled rejection', async () => {
    const h = hooks()
    const res = await compose(0, [async (_req, next) => {
      const first = await next()
      void next()
      return first
    }], names(1), () => 'once', h)(req)
    expect(await res.text()).toBe('once')
    // Let a rejection nobody handles surface (vitest fails the run on one).
    await new Promise(resolve => setImmediate(resolve))
  })

  it('answers a value that is not a Response with ISOPOOL_ERR_MIDDLEWARE naming the middleware', async () => {
    const cases: [Middleware, string][] = [
      [(() => 'text') as unknown as Middleware, "a string: 'text'"],
      [(async () => undefined) as unknown as Middleware, 'undefined (return the Response of next(), or one of its own)'],
      [(async () => ({ status: 200 })) as unknown as Middleware, 'an object: {"status":200}']
    ]
    for (const [mw, type] of cases) {
      const h = hooks()
      const res = await compose(0, [mw], ['m.ts#bad'], () => 'never', h)(req)
      expect(res.headers.get('x-code')).toBe('ISOPOOL_ERR_MIDDLEWARE')
      expect(h.seen[0].by).toBe('m.ts#bad')
      expect((h.seen[0].outcome as Error).message).toBe(`Middleware m.ts#bad returned ${type}, not a Response`)
    }
  })

  it('names a route() declaration\'s middleware by its place and its function', () => {
    expect(middlewareName(function audit () {}, '/app/r.ts#item', 2)).toBe('/app/r.ts#item middleware[2] (audit)')
    expect(middlewareName(() => {}, '/app/r.ts#item', 0)).toBe('/app/r.ts#item middleware[0] (anonymous)')
  })
})

/** A writer over a fresh ring, and a reader of the one frame it wrote: status, content type, body. */
function writer (dev = false): { writer: ResponseWriter, frame: () => { status: number, type: string | null, headers: Record<string, string>, body: Buffer } } {
  const sab = createRingBuffer(64 * 1024)
  const w = new ResponseWriter(new RingProducer(sab), dev)
  const ring = new RingConsumer(sab)
  return {
    writer: w,
    frame: () => {
      const pos = ring.peek()
      expect(pos).toBeGreaterThanOrEqual(0)
      const h = readHead(ring, pos)
      const parts = h.text === '' ? [] : h.text.split('\0')
      const headers: Record<string, string> = {}
      for (let i = 0; i + 1 < parts.length; i += 2) headers[parts[i]] = parts[i + 1]
      const out = { status: resStatus(h.arg), type: CONTENT_TYPES[h.aux] ?? headers['content-type'] ?? null, headers, body: Buffer.from(ring.data.subarray(h.bodyStart, h.bodyEnd)) }
      ring.release()
      return out
    }
  }
}

/** Field names lowercased: the general path lists them so, the answer's own text keeps its case. */
const lower = (h: Record<string, string>): Record<string, string> => Object.fromEntries(Object.entries(h).map(([n, v]) => [n.toLowerCase(), v]))

const quiet = async <T>(fn: () => T | Promise<T>): Promise<T> => {
  const error = console.error
  console.error = () => {}
  try { return await fn() } finally { console.error = error }
}

describe('ResponseWriter.toResponse', () => {
  const msgpackReq = { prefersMsgpack: () => true }
  const values: [string, unknown, { prefersMsgpack (): boolean }][] = [
    ['an object', { a: 1 }, req],
    ['an object, msgpack preferred', { a: [1, 2] }, msgpackReq],
    ['a string', 'hello', req],
    ['bytes', new Uint8Array([1, 2, 3]), req],
    ['a view', new DataView(new Uint8Array([4, 5]).buffer), req],
    ['an ArrayBuffer', new Uint8Array([6]).buffer, req],
    ['undefined', undefined, req],
    ['null', null, req],
    ['a typed route\'s result', new Encodable({ id: 1, extra: 'x' }, () => '{"id":1}'), req],
    ['a Blob with a type', new Blob(['<p>'], { type: 'text/html' }), req],
    ['a Blob without one', new Blob(['raw']), req],
    ['a Map', new Map(), req]
  ]
  for (const [name, value, r] of values) {
    it(`answers ${name} as the frames would`, async () => {
      const w = writer()
      await quiet(() => w.writer.result(1, value, 'm.ts#h', r))
      const frame = w.frame()
      const res = await quiet(() => w.writer.toResponse(value, false, 'm.ts#h', r))
      expect(res.status).toBe(frame.status)
      expect(res.headers.get('content-type')).toBe(frame.type)
      expect(Buffer.from(await res.arrayBuffer())).toEqual(frame.body)
    })
  }

  it('answers a msgpack preference with MessagePack', async () => {
    const res = await writer().writer.toResponse({ a: 1 }, false, 'm.ts#h', msgpackReq)
    expect(res.headers.get('content-type')).toBe('application/msgpack')
    expect(unpack(new Uint8Array(await res.arrayBuffer()))).toEqual({ a: 1 })
  })

  it('gives back a Response the handler returned as it is', () => {
    const own = new Response('mine', { status: 202 })
    expect(writer().writer.toResponse(own, false, 'm.ts#h', req)).toBe(own)
  })

  const thrown: [string, unknown, number, string][] = [
    ['an HttpError with headers', new HttpError(403, 'no', { headers: { 'x-why': 'policy' } }), 403, 'ISOPOOL_ERR_HTTP'],
    ['a 422', new IsopoolError('ISOPOOL_ERR_VALIDATION', { count: 1, listed: 'all' }, { details: [{ in: 'query', path: 'query.n' }] }), 422, 'ISOPOOL_ERR_VALIDATION'],
    ['a bug', new Error('boom'), 500, 'ISOPOOL_ERR_HANDLER'],
    ['a string', 'boom', 500, 'ISOPOOL_ERR_HANDLER']
  ]
  for (const [name, err, status, code] of thrown) {
    it(`answers ${name} thrown as error() would`, async () => {
      const w = writer()
      await quiet(() => w.writer.error(1, err))
      const frame = w.frame()
      const res = await quiet(() => w.writer.toResponse(err, true, 'm.ts#h', req))
      expect(res.status).toBe(status)
      expect(frame.status).toBe(status)
      expect(res.headers.get('content-type')).toBe(frame.type)
      expect(res.headers.get('x-content-type-options')).toBe('nosniff')
      const body = await res.text()
      expect(body).toBe(frame.body.toString())
      expect(JSON.parse(body).error.code).toBe(code)
      if (err instanceof HttpError) expect(res.headers.get('x-why')).toBe('policy')
    })
  }

  it('shows a bug\'s message in development only', async () => {
    const dev = await quiet(() => writer(true).writer.toResponse(new Error('boom'), true, 'm.ts#h', req))
    expect(((await dev.json()) as { error: { message: string } }).error.message).toBe('boom')
    const prod = await quiet(() => writer(false).writer.toResponse(new Error('boom'), true, 'm.ts#h', req))
    expect(((await prod.json()) as { error: { message: string } }).error.message).toBe('Internal server error')
  })
})

describe('ResponseWriter.result of the Response toResponse() made', () => {
  it('writes the very frame it was decided as when nobody touched it', async () => {
    const w = writer()
    await w.writer.result(1, { a: 1 }, 'm.ts#h', req)
    const plain = w.frame()
    await w.writer.result(2, w.writer.toResponse({ a: 1 }, false, 'm.ts#h', req), 'm.ts#h', req)
    const via = w.frame()
    expect(via).toEqual(plain)
    expect(via.headers).toEqual({})
  })

  it('writes its fields when they were touched: combined per name, Set-Cookie apart, the content type still by code', async () => {
    const w = writer()
    const res = w.writer.toResponse({ a: 1 }, false, 'm.ts#h', req) as Response
    res.headers.append('x-order', 'inner')
    res.headers.append('x-order', 'outer')
    res.headers.append('set-cookie', 'a=1')
    res.headers.append('set-cookie', 'b=2')
    res.headers.set('content-length', '999')
    await w.writer.result(1, res, 'm.ts#h', req)
    const sab = w.frame()
    expect(sab.status).toBe(200)
    expect(sab.type).toBe('application/json; charset=utf-8')
    expect(sab.body.toString()).toBe('{"a":1}')
    expect(sab.headers['x-order']).toBe('inner, outer')
    expect(sab.headers['content-length']).toBeUndefined()
    expect(sab.headers['content-type']).toBeUndefined()
  })

  it('writes the answer as decided with the fields a middleware added after it, as the general path would', async () => {
    // Set only (the answer's own fields untouched): its head text stands, the added fields follow.
    // Read first: the fields are all listed and written again. Both must be the same frame.
    for (const [outcome, threw] of [[{ a: 1 }, false], ['<p>', false], [undefined, false], [new HttpError(409, 'taken', { headers: { 'Retry-After': '5' } }), true]] as const) {
      const w = writer()
      const fast = w.writer.toResponse(outcome, threw, 'm.ts#h', req) as Response
      fast.headers.set('x-bench', '1')
      fast.headers.append('set-cookie', 'a=1')
      fast.headers.append('set-cookie', 'b=2')
      fast.headers.set('content-length', '999')
      await w.writer.result(1, fast, 'm.ts#h', req)
      const viaAdded = w.frame()
      const listed = w.writer.toResponse(outcome, threw, 'm.ts#h', req) as Response
      expect(listed.headers.has('x-bench')).toBe(false)
      listed.headers.set('x-bench', '1')
      listed.headers.append('set-cookie', 'a=1')
      listed.headers.append('set-cookie', 'b=2')
      listed.headers.set('content-length', '999')
      await w.writer.result(2, listed, 'm.ts#h', req)
      const viaList = w.frame()
      expect(viaAdded.headers['x-bench']).toBe('1')
      expect(viaAdded.headers['content-length']).toBeUndefined()
      expect({ ...viaAdded, headers: lower(viaAdded.headers) }).toEqual({ ...viaList, headers: lower(viaList.headers) })
    }
  })

  it('writes a changed content type as a field', async () => {
    const w = writer()
    const res = w.writer.toResponse('<p>', false, 'm.ts#h', req) as Response
    res.headers.set('content-type', 'text/html')
    await w.writer.result(1, res, 'm.ts#h', req)
    const f = w.frame()
    expect(f.headers['content-type']).toBe('text/html')
    expect(f.body.toString()).toBe('<p>')
  })

  it('answers a field HTTP cannot carry, or a body already read, with a coded 500', async () => {
    const w = writer()
    const bad = w.writer.toResponse('x', false, 'm.ts#h', req) as Response
    bad.headers.set('x-bad', 'a\u0001b')
    await quiet(() => w.writer.result(1, bad, 'm.ts#h', req))
    const f = w.frame()
    expect(f.status).toBe(500)
    expect(JSON.parse(f.body.toString()).error.code).toBe('ISOPOOL_ERR_RESPONSE_INVALID')
    const read = w.writer.toResponse('x', false, 'm.ts#h', req) as Response
    await read.text()
    await quiet(() => w.writer.result(2, read, 'm.ts#h', req))
    expect(w.frame().status).toBe(500)
  })
})

describe('loadHandlers', () => {
  const module = pathToFileURL(new URL('../fixtures/middleware-routes.ts', import.meta.url).pathname).href
  const mw = pathToFileURL(new URL('../fixtures/middleware.ts', import.meta.url).pathname).href
  const routes = [{ method: 'GET', path: '/a', module: 0, export: 'hello' }, { method: 'GET', path: '/b', module: 0, export: 'text', middleware: [`${mw}#routeTag`] }]
  const h = hooks()

  it('keeps a route without middleware on its plain handler', async () => {
    const ns = await import(module) as Record<string, unknown>
    const loaded = await loadHandlers([module], routes, [], DEFAULT_ADAPTER_OPTIONS, { global: [], hooks: h })
    expect(loaded.handlers[0]).toBe(ns.hello)
    expect(loaded.handlers[1]).not.toBe(ns.text)
    expect(loaded.chained).toBe(true)
    const none = await loadHandlers([module], routes.slice(0, 1), [], DEFAULT_ADAPTER_OPTIONS, { global: [], hooks: h })
    expect(none.handlers[0]).toBe(ns.hello)
    expect(none.chained).toBe(false)
  })

  it('composes the global middleware into every route', async () => {
    const ns = await import(module) as Record<string, unknown>
    const loaded = await loadHandlers([module], routes, [], DEFAULT_ADAPTER_OPTIONS, { global: [`${mw}#tag`], hooks: h })
    expect(loaded.handlers[0]).not.toBe(ns.hello)
    const res = await (loaded.handlers[0]({ prefersMsgpack: () => false }) as Promise<Response>)
    expect(res.headers.get('x-mw')).toBe('global')
  })
})
