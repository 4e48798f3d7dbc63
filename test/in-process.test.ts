// server.request(): the same answers as over a socket — status, headers, body — for the same
// routes, limits and errors, with no socket; it starts the isolates itself, and close() stops them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { request as undiciRequest } from 'undici'
import { createServer } from 'isopool'
import type { Server } from 'isopool'
import { fixtures } from './helpers.ts'

const options = {
  isolates: 2,
  root: fixtures,
  modules: ['./typed'],
  maxBodySize: 1024,
  routes: [
    { method: 'GET' as const, path: '/hello', handler: './basic.ts#hello' },
    { method: 'GET' as const, path: '/inspect/:id', handler: './basic.ts#inspect' },
    { method: 'POST' as const, path: '/echo', handler: './basic.ts#echo' },
    { method: 'GET' as const, path: '/web', handler: './basic.ts#webResponse' },
    { method: 'GET' as const, path: '/teapot', handler: './basic.ts#teapot' },
    { method: 'GET' as const, path: '/bytes', handler: './basic.ts#bytes' }
  ]
}

interface Seen { status: number, headers: Record<string, string | string[]>, body: string }

/** Headers that differ by transport or by the clock: a socket client keeps the connection. */
const TRANSPORT = new Set(['date', 'connection', 'keep-alive'])

function normal (headers: Iterable<[string, string]> | Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  const entries = Symbol.iterator in headers ? [...headers as Iterable<[string, string]>] : Object.entries(headers).flatMap(([k, v]) => Array.isArray(v) ? v.map(x => [k, x] as [string, string]) : v === undefined ? [] : [[k, v] as [string, string]])
  for (const [k, v] of entries) {
    if (TRANSPORT.has(k)) continue
    const had = out[k]
    out[k] = had === undefined ? v : Array.isArray(had) ? [...had, v] : [had, v]
  }
  return out
}

let socketServer: Server
let url: string
let inProcess: Server

beforeAll(async () => {
  socketServer = createServer(options)
  url = (await socketServer.listen()).url
  inProcess = createServer(options) // never listens
})
afterAll(async () => {
  await socketServer.close()
  await inProcess.close()
})

async function both (path: string, given: { method?: string, headers?: Record<string, string>, body?: string } = {}): Promise<[Seen, Seen]> {
  // The same request id on both: each server would make its own (a random UUID) otherwise.
  const init = { ...given, headers: { 'x-request-id': `same-${path}`, ...given.headers } }
  const s = await undiciRequest(url + path, { method: (init.method ?? 'GET') as 'GET', headers: init.headers, body: init.body })
  const overSocket = { status: s.statusCode, headers: normal(s.headers), body: await s.body.text() }
  // Web headers join repeated fields but set-cookie; undici's keep them apart: compare set-cookie
  // from getSetCookie() and the rest as lists.
  const r = await inProcess.request(path, init)
  const headers = new Headers(r.headers)
  const list: [string, string][] = []
  for (const [k, v] of headers) if (k !== 'set-cookie') list.push([k, v])
  for (const c of headers.getSetCookie()) list.push(['set-cookie', c])
  const inMemory = { status: r.status, headers: normal(list), body: await r.text() }
  return [overSocket, inMemory]
}

describe('server.request()', () => {
  it.each([
    ['a plain handler', '/hello', {}],
    ['a typed route with coerced params and query', '/users/5?verbose=true&fields=a&fields=b', {}],
    ['a typed route\'s 422', '/users/zero', {}],
    ['a typed route\'s HttpError', '/users/404', {}],
    ['an unknown path (404)', '/nowhere', {}],
    ['a method the path does not take (405, Allow)', '/hello', { method: 'DELETE' }],
    ['HEAD of a GET route', '/hello', { method: 'HEAD' }],
    ['a Response with set-cookie twice', '/web', {}],
    ['an HttpError with a header', '/teapot', {}],
    ['a JSON body, validated', '/orders', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ customer: 'c', items: [{ sku: 'a', price: 2, qty: 3 }] }) }],
    ['a body past maxBodySize (413)', '/echo', { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: 'x'.repeat(2000) }],
    ['a body of a type the route does not take (415)', '/orders', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{}' }],
    ['the OpenAPI document', '/openapi.json', {}]
  ] as const)('answers %s as a socket request is answered', async (_name, path, init) => {
    const [overSocket, inMemory] = await both(path, init as Parameters<typeof both>[1])
    expect(inMemory).toEqual(overSocket)
    expect(overSocket.headers['x-request-id']).toBe(`same-${path}`)
    expect(overSocket.status).toBeGreaterThanOrEqual(200)
  })

  it('hands the handler the method, path, params, query and headers a socket request gives it', async () => {
    const r = await inProcess.request('/inspect/7?a=1&b=two', { headers: { 'x-one': '1' } })
    expect(r.status).toBe(200)
    expect(await r.json()).toEqual({
      method: 'GET', path: '/inspect/7', url: '/inspect/7?a=1&b=two', params: { id: '7' }, query: { a: '1', b: 'two' },
      headers: { host: 'localhost', 'x-one': '1', connection: 'close' }, bodyLength: 0
    })
  })

  it('keeps the body\'s bytes and takes a Request or a URL', async () => {
    const bytes = await inProcess.request(new URL('http://localhost/bytes'))
    expect([...new Uint8Array(await bytes.arrayBuffer())]).toEqual([0, 1, 2, 253, 254, 255])
    const echoed = await inProcess.request(new Request('http://example.test/echo', { method: 'POST', body: new Uint8Array([9, 8, 7]), headers: { 'content-type': 'application/octet-stream' } }))
    expect(echoed.status).toBe(200)
    expect([...new Uint8Array(await echoed.arrayBuffer())]).toEqual([9, 8, 7])
    const host = await inProcess.request(new Request('http://example.test:8080/inspect/1'))
    expect((await host.json() as { headers: { host: string } }).headers.host).toBe('example.test:8080')
  })

  it('answers many at once, on every isolate', async () => {
    const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => inProcess.request(`/inspect/${i}`).then(r => r.json() as Promise<{ params: { id: string } }>)))
    expect(answers.map(a => a.params.id)).toEqual(Array.from({ length: 50 }, (_, i) => String(i)))
  })
})

describe('server.request() and the server\'s life', () => {
  it('starts the isolates on the first request and close() stops them; a request after close is refused', async () => {
    const server = createServer({ isolates: 2, root: fixtures, routes: [{ method: 'GET', path: '/hello', handler: './basic.ts#hello' }] })
    expect(server.isolateCount).toBe(0)
    const res = await server.request('/hello')
    expect(await res.json()).toEqual({ hello: 'world' })
    expect(server.isolateCount).toBe(2)
    await server.close()
    expect(server.isolateCount).toBe(0)
    await expect(server.request('/hello')).rejects.toMatchObject({ code: 'ISOPOOL_ERR_NOT_LISTENING' })
  })

  it('rejects with the start-up error when a module cannot be imported', async () => {
    const server = createServer({ isolates: 1, root: fixtures, routes: [{ method: 'GET', path: '/x', handler: './throws-at-import.ts#x' }] })
    await expect(server.request('/x')).rejects.toMatchObject({ code: 'ISOPOOL_ERR_MODULE_IMPORT' })
    expect(server.isolateCount).toBe(0)
  })

  it('serves over a socket too once listen() is called after it', async () => {
    const server = createServer({ isolates: 1, root: fixtures, routes: [{ method: 'GET', path: '/hello', handler: './basic.ts#hello' }] })
    try {
      expect((await server.request('/hello')).status).toBe(200)
      const { url } = await server.listen()
      const r = await undiciRequest(url + '/hello')
      expect(await r.body.json()).toEqual({ hello: 'world' })
      await expect(server.listen()).rejects.toMatchObject({ code: 'ISOPOOL_ERR_ALREADY_LISTENING' })
    } finally {
      await server.close()
    }
  })
})
