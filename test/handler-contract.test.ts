// The handler contract over real sockets: what a handler receives and how what it returns or
// throws becomes a response.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connect } from 'node:net'
import { Readable } from 'node:stream'
import { request } from 'undici'
import { start } from './helpers.ts'
import { until } from './observe.ts'
import type { Running } from './helpers.ts'

let app: Running

beforeAll(async () => {
  app = await start({ isolates: 2, dev: false, routes: [
    { method: 'GET', path: '/', handler: './basic.ts#hello' },
    { method: 'GET', path: '/default', handler: './basic.ts' },
    { method: 'GET', path: '/users/:id/posts/:post', handler: './basic.ts#inspect' },
    { method: 'POST', path: '/inspect/:id', handler: './basic.ts#inspect' }
  ] }, [
    ['POST', '/echo', './basic.ts#echo'],
    ['POST', '/text', './basic.ts#echoText'],
    ['POST', '/json', './basic.ts#echoJson'],
    ['GET', '/list', './basic.ts#list'],
    ['GET', '/string', './basic.ts#text'],
    ['GET', '/bytes', './basic.ts#bytes'],
    ['DELETE', '/nothing', './basic.ts#nothing'],
    ['GET', '/later', './basic.ts#later'],
    ['GET', '/response', './basic.ts#webResponse'],
    ['GET', '/teapot', './basic.ts#teapot'],
    ['GET', '/coded', './basic.ts#coded'],
    ['GET', '/crash', './basic.ts#crash'],
    ['GET', '/async-crash', './basic.ts#asyncCrash'],
    ['GET', '/bad-result', './basic.ts#badResult'],
    ['GET', '/bad-header', './basic.ts#badHeader'],
    ['GET', '/files/*', './basic.ts#inspect'],
    ['GET', '/own-head', './basic.ts#hello'],
    ['HEAD', '/own-head', './basic.ts#headOnly']
  ])
})
afterAll(() => app.close())

describe('the request a handler sees', () => {
  it('has method, path, url, decoded params, query with repeated keys as arrays and lower-case headers', async () => {
    const r = await app.get('/users/j%C3%BCrgen/posts/7?tag=a&tag=b&q=x%20y&empty=', { 'X-Trace-Id': 'abc', Cookie: 'a=1' })
    expect(r.status).toBe(200)
    expect(r.json).toMatchObject({
      method: 'GET',
      path: '/users/j%C3%BCrgen/posts/7',
      url: '/users/j%C3%BCrgen/posts/7?tag=a&tag=b&q=x%20y&empty=',
      params: { id: 'jürgen', post: '7' },
      query: { tag: ['a', 'b'], q: 'x y', empty: '' },
      bodyLength: 0
    })
    expect(r.json.headers['x-trace-id']).toBe('abc')
    expect(r.json.headers.cookie).toBe('a=1')
    expect(r.json.headers.host).toMatch(/^127\.0\.0\.1:\d+$/)
    expect(Object.keys(r.json.headers).every((k: string) => k === k.toLowerCase())).toBe(true)
  })

  it('joins repeated headers the way node:http does', async () => {
    const r = await app.get('/users/1/posts/2', { 'x-a': ['1', '2'] } as never)
    expect(r.json.headers['x-a']).toBe('1, 2')
  })

  it('captures the rest of the path for a * route', async () => {
    const r = await app.get('/files/a/b%20c.txt')
    expect(r.json.params).toEqual({ '*': 'a/b c.txt' })
  })

  it('gets the raw body bytes, as text and as JSON', async () => {
    const bytes = Uint8Array.from({ length: 300 }, (_, i) => (i * 7) % 256)
    const echo = await app.post('/echo', bytes)
    expect(echo.status).toBe(200)
    expect(echo.headers['content-type']).toBe('application/octet-stream')
    expect(Buffer.compare(echo.body, Buffer.from(bytes))).toBe(0)

    const text = await app.post('/text', 'grüße')
    expect(text.text).toBe('5:grüße')

    const json = await app.post('/json', JSON.stringify({ a: [1, { b: null }] }), { 'content-type': 'application/json' })
    expect(json.json).toEqual({ got: { a: [1, { b: null }] } })

    const inspected = await app.post('/inspect/9', 'abcd')
    expect(inspected.json).toMatchObject({ method: 'POST', params: { id: '9' }, bodyLength: 4 })
  })

  it('answers invalid JSON with a coded 400', async () => {
    const r = await app.post('/json', '{"a":', { 'content-type': 'application/json' })
    expect(r.status).toBe(400)
    expect(r.json.error.code).toBe('ISOPOOL_ERR_INVALID_JSON')
    expect(r.json.error.status).toBe(400)
  })

  it('reads a chunked body of unknown length', async () => {
    const res = await request(app.url + '/echo', {
      method: 'POST',
      body: Readable.from((function * () { yield Buffer.from('part one, '); yield Buffer.from('part two') })()),
      dispatcher: app.agent
    })
    expect(res.statusCode).toBe(200)
    expect(await res.body.text()).toBe('part one, part two')
  })
})

describe('what a handler returns', () => {
  it('a plain object is 200 JSON', async () => {
    const r = await app.get('/')
    expect(r.status).toBe(200)
    expect(r.headers['content-type']).toBe('application/json; charset=utf-8')
    expect(r.headers['content-length']).toBe(String(r.body.byteLength))
    expect(r.json).toEqual({ hello: 'world' })
  })

  it('an array is 200 JSON', async () => {
    const r = await app.get('/list')
    expect(r.json).toEqual([1, 'two', { three: 3 }])
  })

  it('a string is 200 text/plain in UTF-8', async () => {
    const r = await app.get('/string')
    expect(r.status).toBe(200)
    expect(r.headers['content-type']).toBe('text/plain; charset=utf-8')
    expect(r.text).toBe('plain text, ünïcødé')
    expect(r.headers['content-length']).toBe(String(Buffer.byteLength('plain text, ünïcødé')))
  })

  it('a Uint8Array is 200 application/octet-stream', async () => {
    const r = await app.get('/bytes')
    expect(r.headers['content-type']).toBe('application/octet-stream')
    expect([...r.body]).toEqual([0, 1, 2, 253, 254, 255])
  })

  it('undefined is 204 with no body', async () => {
    const res = await request(app.url + '/nothing', { method: 'DELETE', dispatcher: app.agent })
    expect(res.statusCode).toBe(204)
    expect(res.headers['content-length']).toBeUndefined()
    expect(await res.body.text()).toBe('')
  })

  it('the default export serves a handler given without #', async () => {
    expect((await app.get('/default')).text).toBe('the default export')
  })

  it('an async handler is awaited', async () => {
    const r = await app.get('/later?ms=20')
    expect(r.json).toMatchObject({ waited: 20 })
  })

  it('a Web Response keeps its status, headers, cookies and body', async () => {
    const r = await app.get('/response')
    expect(r.status).toBe(201)
    expect(r.headers['content-type']).toBe('text/csv')
    expect(r.headers['x-custom']).toBe('yes')
    expect(r.headers['set-cookie']).toEqual(['a=1', 'b=2'])
    expect(r.text).toBe('a,b\n1,2\n')
  })
})

describe('what a handler throws', () => {
  it('an HttpError is its status with a JSON error body and its headers', async () => {
    const r = await app.get('/teapot')
    expect(r.status).toBe(418)
    expect(r.headers['x-tea']).toBe('earl grey')
    expect(r.json).toEqual({ error: { code: 'ISOPOOL_ERR_HTTP', message: 'I am a teapot', status: 418 } })
    const coded = await app.get('/coded')
    expect(coded.json).toEqual({ error: { code: 'APP_NAME_TAKEN', message: 'Name taken', status: 409 } })
  })

  it('any other error is a 500 that leaks neither message nor stack', async () => {
    for (const path of ['/crash', '/async-crash']) {
      const r = await app.get(path)
      expect(r.status).toBe(500)
      expect(r.json).toEqual({ error: { code: 'ISOPOOL_ERR_HANDLER', message: 'Internal server error', status: 500 } })
      expect(r.text).not.toMatch(/secret|at .*\.ts/)
    }
  })

  it('a value that cannot be sent is a coded 500', async () => {
    const r = await app.get('/bad-result')
    expect(r.status).toBe(500)
    expect(r.json.error.code).toBe('ISOPOOL_ERR_INVALID_RESULT')
  })

  it('an HttpError whose headers HTTP cannot carry still answers, without them, and the server goes on', async () => {
    const r = await app.get('/bad-header')
    expect(r.status).toBe(400)
    expect(r.json.error.message).toBe('header smuggling attempt')
    expect(r.headers['x-bad']).toBeUndefined()
    expect(r.headers['set-cookie']).toBeUndefined()
    expect((await app.get('/')).status).toBe(200)
  })
})

describe('routing', () => {
  it('an unknown path is a coded 404', async () => {
    const r = await app.get('/nowhere')
    expect(r.status).toBe(404)
    expect(r.json.error).toEqual({ code: 'ISOPOOL_ERR_NOT_FOUND', message: 'No route matches GET /nowhere', status: 404 })
  })

  it('a known path with the wrong method is a 405 with Allow', async () => {
    const r = await app.post('/', 'x')
    expect(r.status).toBe(405)
    expect(r.headers.allow).toBe('GET, HEAD')
    expect(r.json.error.code).toBe('ISOPOOL_ERR_METHOD_NOT_ALLOWED')
  })

  it('a HEAD route of its own takes precedence over the GET route\'s', async () => {
    const res = await request(app.url + '/own-head', { method: 'HEAD', dispatcher: app.agent })
    expect(res.headers['x-head']).toBe('own')
    await res.body.dump()
    expect((await app.get('/own-head')).json).toEqual({ hello: 'world' })
  })

  it('HEAD is served for a GET route, with the length and no body', async () => {
    const res = await request(app.url + '/', { method: 'HEAD', dispatcher: app.agent })
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-length']).toBe(String(JSON.stringify({ hello: 'world' }).length))
    expect(await res.body.text()).toBe('')
  })
})

describe('development mode', () => {
  it('a 500 carries the message and stack only in development', async () => {
    const dev = await start({ isolates: 1, dev: true }, [['GET', '/crash', './basic.ts#crash']])
    try {
      const r = await dev.get('/crash')
      expect(r.status).toBe(500)
      expect(r.json.error.code).toBe('ISOPOOL_ERR_HANDLER')
      expect(r.json.error.message).toBe('secret database password is hunter2')
      expect(r.json.error.stack).toMatch(/basic\.ts/)
    } finally {
      await dev.close()
    }
  })
})

describe('malformed requests', () => {
  it('a path with broken percent-encoding is a coded 400, and the server goes on', async () => {
    const r = await app.get('/users/%E0%A4%A/posts/1')
    expect(r.status).toBe(400)
    expect(r.json.error.code).toBe('ISOPOOL_ERR_BAD_REQUEST')
    expect((await app.get('/')).status).toBe(200)
  })
})

describe('a body read in place', () => {
  // One isolate and the smallest ring that holds these bodies whole: 40 requests of ~10 KiB
  // reuse the same ring space several times over while earlier handlers still run.
  let lent: Running
  beforeAll(async () => {
    lent = await start({ isolates: 1, dev: false, ringSize: 64 * 1024 }, [
      ['POST', '/stash', './lent-body.ts#stash'],
      ['GET', '/stashed', './lent-body.ts#readStashed'],
      ['POST', '/late', './lent-body.ts#late'],
      ['POST', '/late-bytes', './lent-body.ts#lateBytes'],
      ['POST', '/sum', './lent-body.ts#sum']
    ])
  })
  afterAll(() => lent.close())

  /** ~10 KiB of text that is different for every i, with multi-byte characters in it. */
  const bodyFor = (i: number): string => `#${i}ü;`.repeat(10_000 / `#${i}ü;`.length | 0) + `end of ${i}`

  it('a synchronous handler decodes its body where it lies, for every request in a burst', async () => {
    const replies = await Promise.all(Array.from({ length: 40 }, (_, i) => lent.post('/sum', bodyFor(i))))
    replies.forEach((r, i) => {
      const text = bodyFor(i)
      let h = 0
      for (let k = 0; k < text.length; k++) h = (h * 31 + text.charCodeAt(k)) | 0
      expect(r.status).toBe(200)
      expect(r.json).toEqual({ length: text.length, h, head: text.slice(0, 16), tail: text.slice(-16) })
    })
  })

  it('an async handler that reads its body after an await gets its own bytes, not what reused the ring', async () => {
    const texts = await Promise.all(Array.from({ length: 40 }, (_, i) => lent.post(`/late?ms=${40 - i}`, bodyFor(i))))
    texts.forEach((r, i) => {
      expect(r.status).toBe(200)
      expect(r.text).toBe(bodyFor(i))
    })
    const bytes = await Promise.all(Array.from({ length: 40 }, (_, i) => lent.post('/late-bytes', Buffer.from(bodyFor(i)))))
    bytes.forEach((r, i) => expect(r.body.equals(Buffer.from(bodyFor(i)))).toBe(true))
  })

  it('a body first read after its synchronous handler returned is a coded 500, not reused memory', async () => {
    expect((await lent.post('/stash', 'kept for later')).text).toBe('stashed')
    // Later requests take the ring space the stashed body was lent from.
    await Promise.all(Array.from({ length: 10 }, (_, i) => lent.post('/sum', bodyFor(i))))
    for (const as of ['text', 'json', 'bytes']) {
      const r = await lent.get(`/stashed?as=${as}`)
      expect(r.status).toBe(500)
      expect(r.json.error.code).toBe('ISOPOOL_ERR_BODY_RELEASED')
    }
    expect((await lent.post('/sum', 'still serving')).json.length).toBe(13)
  })

  it('uploads given up halfway do not use up what the main thread may hold for whole frames', async () => {
    // Ten clients announce 32,000 bytes each (five times the 64 KiB the main thread collects at
    // once for this isolate), send a little of it and hang up once their request is in.
    const port = Number(new URL(lent.url).port)
    const socks = await Promise.all(Array.from({ length: 10 }, () => new Promise<ReturnType<typeof connect>>((resolve) => {
      const sock = connect(port, '127.0.0.1', () => {
        sock.write('POST /sum HTTP/1.1\r\nhost: x\r\ncontent-length: 32000\r\n\r\n' + 'x'.repeat(100))
        resolve(sock)
      })
    })))
    await until('the ten uploads to be accepted', () => lent.server.inFlight + lent.server.waiting === 10)
    for (const sock of socks) sock.destroy()
    await until('the ten uploads to be dropped', () => lent.server.inFlight + lent.server.waiting === 0)
    // Had their bytes stayed counted, this body would now stream in frames and be copied,
    // and reading it after its handler returned would still work.
    await lent.post('/stash', 'k'.repeat(4096))
    const r = await lent.get('/stashed?as=text')
    expect(r.json?.error?.code).toBe('ISOPOOL_ERR_BODY_RELEASED')
  })

  it('what a synchronous handler read before returning stays readable', async () => {
    await lent.post('/stash?read=1', '{"kept":true}')
    await Promise.all(Array.from({ length: 10 }, (_, i) => lent.post('/sum', bodyFor(i))))
    expect((await lent.get('/stashed?as=text')).text).toBe('{"kept":true}')
    expect((await lent.get('/stashed?as=json')).json).toEqual({ json: { kept: true } })
  })
})
