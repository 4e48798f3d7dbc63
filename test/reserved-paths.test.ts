// Routes at the paths the main thread answers before routing (health checks, the OpenAPI spec
// and its page, the metrics scrape) would never be reached: they are refused with a coded error
// naming the option, when given (route()) or when the isolates declare them (listen()).
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { createServer } from '../src/index.ts'
import { start } from './helpers.ts'
import type { Running } from './helpers.ts'

const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url))
const conflict = (option: string): unknown => expect.objectContaining({
  code: 'ISOPOOL_ERR_ROUTE_CONFLICT',
  message: expect.stringContaining(`by the server itself (the ${option} option`)
})

let app: Running | undefined
afterEach(async () => {
  await app?.close()
  app = undefined
})

describe('a route at a path the server answers itself', () => {
  it('is refused by route(), whatever its method, naming the option that takes the path', () => {
    const s = createServer({ isolates: 1, root: fixtures, metrics: true })
    expect(() => s.route('GET', '/healthz', './basic.ts#hello')).toThrow(conflict('health.live'))
    expect(() => s.route('POST', '/readyz', './basic.ts#hello')).toThrow(conflict('health.ready'))
    expect(() => s.route('GET', '/openapi.json', './basic.ts#hello')).toThrow(conflict('docs.openapi'))
    expect(() => s.route('GET', '/docs', './basic.ts#hello')).toThrow(conflict('docs.ui'))
    expect(() => s.route('GET', '/docs/swagger-ui.css', './basic.ts#hello')).toThrow(conflict('docs.ui'))
    expect(() => s.route('GET', '/metrics', './basic.ts#hello')).toThrow(conflict('metrics.path'))
    expect(() => s.route('HEAD', '/metrics', './basic.ts#hello')).toThrow(conflict('metrics.path'))
    // The message names the route's handler too.
    expect(() => s.route('DELETE', '/healthz', './basic.ts#hello')).toThrow(expect.objectContaining({ message: expect.stringMatching(/^Route DELETE \/healthz is declared twice: .*basic\.ts#hello$/) }))
    // The scrape answers GET and HEAD only; other methods go on to the router.
    s.route('POST', '/metrics', './basic.ts#hello')
    // Paths near them, and paths with parameters that may match them, are routes like any other.
    s.route('GET', '/healthz/deep', './basic.ts#hello')
    s.route('GET', '/:page', './basic.ts#hello')
  })

  it('follows the options: a moved or turned-off endpoint frees its path, a moved one takes the new', () => {
    const s = createServer({ isolates: 1, root: fixtures, health: { live: '/live', ready: false }, docs: false, metrics: { path: '/stats' } })
    s.route('GET', '/healthz', './basic.ts#hello')
    s.route('GET', '/readyz', './basic.ts#hello')
    s.route('GET', '/openapi.json', './basic.ts#hello')
    s.route('GET', '/metrics', './basic.ts#hello')
    expect(() => s.route('GET', '/live', './basic.ts#hello')).toThrow(conflict('health.live'))
    expect(() => s.route('GET', '/stats', './basic.ts#hello')).toThrow(conflict('metrics.path'))
  })

  it('is refused under a static prefix, which answers every request there', () => {
    const s = createServer({ isolates: 1, root: fixtures, static: { '/assets/': '.' } })
    expect(() => s.route('GET', '/assets', './basic.ts#hello')).toThrow(conflict('static["/assets"]'))
    expect(() => s.route('POST', '/assets/upload', './basic.ts#hello')).toThrow(conflict('static["/assets"]'))
    expect(() => s.route('GET', '/assets/:file', './basic.ts#hello')).toThrow(conflict('static["/assets"]'))
    s.route('GET', '/assetsx', './basic.ts#hello')
  })

  it('is refused as a WebSocket route too', () => {
    const s = createServer({ isolates: 1, root: fixtures })
    expect(() => s.websocket('/healthz', './websocket.ts#echo')).toThrow(conflict('health.live'))
    expect(() => createServer({ isolates: 1, root: fixtures, metrics: true }).websocket('/metrics', './websocket.ts#echo')).toThrow(conflict('metrics.path'))
  })

  it('is the endpoint whatever the query string', async () => {
    app = await start({ isolates: 1 }, [['GET', '/:page', './basic.ts#hello']])
    // A route that matches these paths too answers { hello: 'world' }: what comes is the server's.
    expect((await app.get('/healthz?probe=1')).json).toMatchObject({ status: 'ok' })
    expect((await app.get('/readyz?')).json).toMatchObject({ status: 'ok' })
    expect((await app.get('/openapi.json?v=2')).json).toHaveProperty('openapi')
    expect((await app.get('/other?probe=1')).json).toEqual({ hello: 'world' })
  })

  it('fails listen() when an isolate declares a WebSocket route at one', async () => {
    const s = createServer({ isolates: 1, root: fixtures, modules: ['./reserved-declared-ws'] })
    await expect(s.listen({ port: 0, host: '127.0.0.1' })).rejects.toEqual(conflict('health.live'))
  })

  it('fails listen() when an isolate declares one, and serves once the path is freed', async () => {
    const s = createServer({ isolates: 1, root: fixtures, modules: ['./reserved-declared'], metrics: true })
    await expect(s.listen({ port: 0, host: '127.0.0.1' })).rejects.toEqual(conflict('metrics.path'))
    app = await start({ isolates: 1, modules: ['./reserved-declared'] })
    const r = await app.get('/metrics')
    expect([r.status, r.text]).toEqual([200, 'mine'])
  })
})
