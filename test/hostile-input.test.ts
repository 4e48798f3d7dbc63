// Hostile input over real sockets, with default options: each finding of the probe that once took
// an isolate down, pinned one, or let a request through that should not pass. Every test checks
// the answer and that no isolate was restarted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Packr, pack } from 'msgpackr'
import { start } from './helpers.ts'
import type { Running } from './helpers.ts'
import { withConn } from './raw-http.ts'

let app: Running
let port: number

beforeAll(async () => {
  app = await start({ isolates: 2, dev: false, modules: ['./hostile-typed'] }, [
    ['GET', '/', './hostile.ts#hello'],
    ['POST', '/form', './hostile.ts#formCounts'],
    ['GET', '/files/:name', './hostile.ts#params'],
    ['GET', '/rest/*', './hostile.ts#params'],
    ['GET', '/framing-error', './hostile.ts#framingError'],
    ['GET', '/framing-response', './hostile.ts#framingResponse'],
    ['GET', '/huge-header-error', './hostile.ts#hugeHeaderError'],
    ['GET', '/huge-header-response', './hostile.ts#hugeHeaderResponse'],
    ['GET', '/fake-http-error', './hostile.ts#fakeHttpError'],
    ['GET', '/error-response', './hostile.ts#errorResponse'],
    ['GET', '/hostile-throw', './hostile.ts#hostileThrow']
  ])
  port = Number(new URL(app.url).port)
})
afterAll(() => app.close())

const MSGPACK = { 'content-type': 'application/msgpack' }
const JSON_TYPE = { 'content-type': 'application/json' }
const FORM = { 'content-type': 'application/x-www-form-urlencoded' }

/** Runs `fn` and checks that it cost no isolate, and that the server still answers. */
async function noRestart (fn: () => Promise<void>): Promise<void> {
  const before = app.server.restarts
  await fn()
  expect((await app.get('/')).status).toBe(200)
  expect(app.server.restarts).toBe(before)
}

describe('1. a small body cannot crash an isolate through its 422', () => {
  it('a 5-byte MessagePack BigInt is a 422 that describes what came', async () => {
    await noRestart(async () => {
      const r = await app.post('/strict', Buffer.from([0x92, 0xd4, 0x42, 0x01, 0x01]), MSGPACK)
      expect(r.status).toBe(422)
      expect(r.json.error.code).toBe('ISOPOOL_ERR_VALIDATION')
      expect(r.json.error.details[0]).toMatchObject({ path: 'body', received: { type: 'array', preview: '[1n,1]' } })
    })
  })

  it('a BigInt where an array belongs is named with its type', async () => {
    await noRestart(async () => {
      const r = await app.post('/kept', new Packr({ useRecords: false, useBigIntExtension: true }).pack({ customer: 'c', items: 10n ** 30n }), MSGPACK)
      expect(r.status).toBe(422)
      expect(r.json.error.details).toEqual([expect.objectContaining({ path: 'body.items[0]', received: { type: 'bigint', preview: `${10n ** 30n}n` } })])
    })
  })

  it('a cyclic MessagePack value is refused as MessagePack it does not take', async () => {
    const cyclic: Record<string, unknown> = { customer: 'c' }
    cyclic.self = cyclic
    const body = new Packr({ structuredClone: true }).pack(cyclic)
    expect(body.byteLength).toBeLessThan(40)
    await noRestart(async () => {
      for (const path of ['/strict', '/kept', '/anything']) {
        const r = await app.post(path, body, MSGPACK)
        expect(r.status).toBe(400)
        expect(r.json.error.code).toBe('ISOPOOL_ERR_INVALID_MSGPACK')
      }
    })
  })

  it('JSON nested 18,000 deep (36 KB) is a coded 400, on every kind of body schema', async () => {
    const deep = '['.repeat(18_000) + ']'.repeat(18_000)
    const deepObject = '{"children":['.repeat(18_000) + ']}'.repeat(18_000)
    await noRestart(async () => {
      for (const [path, body] of [['/strict', deep], ['/anything', deep], ['/tree', deepObject]]) {
        const r = await app.post(path, body, JSON_TYPE)
        expect(r.status, path).toBe(400)
        expect(r.json.error).toEqual({ code: 'ISOPOOL_ERR_BODY_TOO_DEEP', message: 'The request body nests deeper than the limit of 128 levels', status: 400 })
      }
    })
  })

  it('MessagePack nested deep is refused the same way, or as MessagePack past its decoder', async () => {
    await noRestart(async () => {
      const deep = Buffer.concat([Buffer.alloc(5000, 0x91), Buffer.from([0x90])]) // [[[…[]…]]]
      const r = await app.post('/anything', deep, MSGPACK)
      expect(r.status).toBe(400)
      expect(r.json.error.code).toBe('ISOPOOL_ERR_BODY_TOO_DEEP')
      const deeper = Buffer.concat([Buffer.alloc(1_000_000, 0x91), Buffer.from([0x90])])
      const r2 = await app.post('/anything', deeper, MSGPACK)
      expect(r2.status).toBe(400)
      expect(['ISOPOOL_ERR_BODY_TOO_DEEP', 'ISOPOOL_ERR_INVALID_MSGPACK']).toContain(r2.json.error.code)
    })
  })

  it('a body exactly at the depth limit is served', async () => {
    await noRestart(async () => {
      const r = await app.post('/anything', '['.repeat(128) + ']'.repeat(128), JSON_TYPE)
      expect(r.status).toBe(200)
      expect((await app.post('/anything', '['.repeat(129) + ']'.repeat(129), JSON_TYPE)).status).toBe(400)
    })
  })
})

describe('2. form parsing is linear and bounded', () => {
  it('40,000 repeats of one field are parsed in well under a second of isolate time', async () => {
    await noRestart(async () => {
      const started = performance.now()
      const r = await app.post('/form', 'a=&'.repeat(40_000), FORM)
      const elapsed = performance.now() - started
      expect(r.status).toBe(200)
      expect(r.json.counts).toEqual({ a: 40_000 })
      // The quadratic version took 7.8 s here; linear takes tens of milliseconds.
      expect(r.json.ms).toBeLessThan(1000)
      expect(elapsed).toBeLessThan(5000)
    })
  })

  it('a 1 MiB body of one repeated field is answered, not left to the hard timeout', async () => {
    await noRestart(async () => {
      const body = 'a=&'.repeat(349_000) // 1,047,000 bytes: under maxBodySize
      const r = await app.post('/form', body, FORM)
      expect(r.status).toBe(413)
      expect(r.json.error).toMatchObject({ code: 'ISOPOOL_ERR_FORM_LIMIT', message: 'The form exceeds a limit: number of fields (limit 100000)' })
    })
  })

  it('a multipart body of many tiny parts is bounded the same way', async () => {
    await noRestart(async () => {
      const part = '--X\r\nContent-Disposition: form-data; name="f"; filename="a"\r\n\r\n1\r\n'
      const r = await app.post('/form', part.repeat(1500) + '--X--\r\n', { 'content-type': 'multipart/form-data; boundary=X' })
      expect(r.status).toBe(413)
      expect(r.json.error.message).toBe('The form exceeds a limit: number of files (limit 1000)')
    })
  })

  it('a field name longer than fieldNameSize is refused, not truncated into another name', async () => {
    await noRestart(async () => {
      const r = await app.post('/form', `${'n'.repeat(150)}=1&${'n'.repeat(100)}=2`, FORM)
      expect(r.status).toBe(413)
      expect(r.json.error.code).toBe('ISOPOOL_ERR_FORM_LIMIT')
    })
  })
})

describe('3. extraBody: "reject" sees prototype names as the keys they are', () => {
  const names = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf']

  it('over JSON, at the top and nested', async () => {
    await noRestart(async () => {
      for (const name of names) {
        const body = `{"customer":"c","items":[{"name":"i","${name}":{"polluted":true}}],"${name}":{"polluted":true}}`
        const r = await app.post('/strict', body, JSON_TYPE)
        expect(r.status, name).toBe(422)
        const paths = r.json.error.details.map((d: { path: string }) => d.path)
        expect(paths).toEqual(expect.arrayContaining([`body.${name}`, `body.items[0].${name}`]))
      }
    })
  })

  it('over a form and over MessagePack', async () => {
    await noRestart(async () => {
      const form = await app.post('/strict-form', 'customer=c&constructor=x&toString=y', FORM)
      expect(form.status).toBe(422)
      expect(form.json.error.details.map((d: { path: string }) => d.path).sort()).toEqual(['body.constructor', 'body.toString'])
      const msgpack = await app.post('/strict', pack({ customer: 'c', hasOwnProperty: 1, valueOf: 2 }), MSGPACK)
      expect(msgpack.status).toBe(422)
      expect(msgpack.json.error.details.map((d: { path: string }) => d.path).sort()).toEqual(['body.hasOwnProperty', 'body.valueOf'])
    })
  })

  it('"strip" drops them and "keep" hands them over as plain own keys', async () => {
    const body = '{"customer":"c","__proto__":{"polluted":true},"constructor":1}'
    const stripped = await app.post('/stripped', body, JSON_TYPE)
    expect(stripped.json).toEqual({ ok: true, keys: ['customer'] })
    const kept = await app.post('/kept', body, JSON_TYPE)
    expect(kept.status).toBe(200)
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })
})

describe('4. a route parameter is decoded once', () => {
  it('whether or not a static segment of the path is percent-encoded', async () => {
    await noRestart(async () => {
      for (const path of ['/files/%252e%252e%252fetc', '/%66iles/%252e%252e%252fetc', '/fil%65s/%252e%252e%252fetc']) {
        const r = await app.get(path)
        expect(r.status, path).toBe(200)
        expect(r.json.params, path).toEqual({ name: '%2e%2e%2fetc' })
      }
      const typed = await app.get('/typed-%66iles/%252e%252e')
      expect(typed.json).toEqual({ name: '%2e%2e' })
    })
  })

  it('as documented: an encoded dot segment, slash or NUL reaches the handler decoded, as data', async () => {
    // Raw requests: undici, as a browser would, resolves dot segments (even encoded ones) before
    // sending; a hostile client does not.
    const raw = async (target: string): Promise<unknown> => withConn(port, async (c) => {
      c.write(`GET ${target} HTTP/1.1\r\nHost: x\r\n\r\n`)
      const [r] = await c.responses(['GET'])
      expect(r.status, target).toBe(200)
      return JSON.parse(r.body.toString()).params
    })
    expect(await raw('/files/%2e%2e')).toEqual({ name: '..' })
    expect(await raw('/files/..')).toEqual({ name: '..' })
    expect(await raw('/files/a%2Fb')).toEqual({ name: 'a/b' })
    expect(await raw('/files/%00')).toEqual({ name: '\0' })
    expect(await raw('/rest/a/%2e%2e/b%2Fc%2525')).toEqual({ '*': 'a/../b/c%25' })
    expect(await raw('/%72est/x%252f')).toEqual({ '*': 'x%2f' })
  })
})

describe('5. a 422 lists the first 100 problems and counts the rest', () => {
  it('50,000 extra keys give a small body', async () => {
    await noRestart(async () => {
      const body: Record<string, unknown> = { customer: 'c' }
      for (let i = 0; i < 50_000; i++) body[`k${i}`] = i
      const text = JSON.stringify(body)
      const r = await app.post('/strict', text, JSON_TYPE)
      expect(r.status).toBe(422)
      expect(r.json.error.details).toHaveLength(100)
      expect(r.json.error.message).toBe('The request does not match the route\'s schema: 50000 problem(s), the first 100 listed in details')
      expect(r.body.byteLength).toBeLessThan(20_000)
    })
  })

  it('a long string is shown truncated', async () => {
    const r = await app.post('/kept', JSON.stringify({ customer: 'c', count: 'x'.repeat(100_000) }), JSON_TYPE)
    expect(r.status).toBe(422)
    const received = r.json.error.details[0].received as string
    expect(received.length).toBeLessThanOrEqual(121)
    expect(received.endsWith('…')).toBe(true)
  })
})

describe('6. a handler cannot frame the response itself', () => {
  it('Content-Length, Transfer-Encoding and Keep-Alive from an HttpError or a Response are dropped', async () => {
    await noRestart(async () => {
      await withConn(port, async (c) => {
        c.write('GET /framing-error HTTP/1.1\r\nHost: x\r\n\r\nGET /framing-response HTTP/1.1\r\nHost: x\r\n\r\n')
        const [error, response] = await c.responses(['GET', 'GET'])
        expect(error.status).toBe(409)
        expect(error.headers['content-length']).toBe(String(error.body.byteLength))
        expect(error.headers['transfer-encoding']).toBeUndefined()
        expect(error.headers['keep-alive']).not.toContain('999')
        expect(error.headers['x-kept']).toBe('yes')
        expect(JSON.parse(error.body.toString()).error.message).toBe('framed')
        expect(response.status).toBe(201)
        expect(response.headers['content-length']).toBe('12')
        expect(response.headers['transfer-encoding']).toBeUndefined()
        expect(response.body.toString()).toBe('twelve bytes')
      })
    })
  })

  it('a header too large for a response head: an HttpError keeps its status without it, a Response is a 500', async () => {
    await noRestart(async () => {
      const error = await app.get('/huge-header-error')
      expect(error.status).toBe(403)
      expect(error.headers['x-huge']).toBeUndefined()
      expect(error.json.error.message).toBe('too big to carry')
      const response = await app.get('/huge-header-response')
      expect(response.status).toBe(500)
      expect(response.json.error.code).toBe('ISOPOOL_ERR_RESPONSE_INVALID')
    })
  })
})

describe('7. statuses, heads and what isopool answers itself', () => {
  it('an HttpError look-alike with status 65736, and Response.error(), are coded 500s', async () => {
    await noRestart(async () => {
      const fake = await app.get('/fake-http-error')
      expect(fake.status).toBe(500)
      expect(fake.json.error).toEqual({ code: 'ISOPOOL_ERR_HANDLER', message: 'Internal server error', status: 500 })
      const error = await app.get('/error-response')
      expect(error.status).toBe(500)
      expect(error.json.error.code).toBe('ISOPOOL_ERR_RESPONSE_INVALID')
    })
  })

  it('a thrown proxy whose every trap throws is a coded 500', async () => {
    await noRestart(async () => {
      const r = await app.get('/hostile-throw')
      expect(r.status).toBe(500)
      expect(r.json.error.status).toBe(500)
    })
  })

  it('a head larger than the ring takes is a 431, not a 500', async () => {
    const small = await start({ isolates: 1, ringSize: 4096 }, [['GET', '/', './hostile.ts#hello']])
    try {
      const before = small.server.restarts
      const r = await small.get('/', { 'x-big': 'b'.repeat(3000) })
      expect(r.status).toBe(431)
      expect(r.json.error.code).toBe('ISOPOOL_ERR_HEADERS_TOO_LARGE')
      expect((await small.get('/')).status).toBe(200)
      expect(small.server.restarts).toBe(before)
    } finally {
      await small.close()
    }
  })

  it('X-Content-Type-Options: nosniff on errors from either thread, health, the API document and the docs page', async () => {
    const answers = [
      await app.get('/nowhere'), // main thread: 404
      await app.post('/strict', '{}', JSON_TYPE), // isolate: 422
      await app.get('/framing-error'), // isolate: an HttpError
      await app.get('/healthz'),
      await app.get('/openapi.json'),
      await app.get('/docs')
    ]
    for (const r of answers) expect(r.headers['x-content-type-options']).toBe('nosniff')
    await withConn(port, async (c) => {
      c.write('GET / HTTP/1.1\r\n\r\n') // no Host: the HTTP layer's own 400
      const [bad] = await c.responses(['GET'])
      expect(bad.status).toBe(400)
      expect(bad.headers['x-content-type-options']).toBe('nosniff')
    })
  })
})
