// Start-up honesty: a mistake that would fail every request (or that would be ignored) fails
// createServer() or listen() instead, with a coded error that names the route, its handler and
// the module at fault, and leaves nothing running. And the 500 of a handler that throws is logged
// with the request, its route, its handler and what was thrown.
import { afterEach, describe, expect, it } from 'vitest'
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer as createNetServer, connect } from 'node:net'
import type { AddressInfo, Server as NetServer, Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createServer } from 'isopool'
import { fixtures } from './helpers.ts'

const dir = `${fixtures}startup/`

/**
 * Run test/fixtures/startup/`script` in its own process. It must end by itself within `ms`:
 * a listen() that rejected has left no thread and no socket that would keep it alive.
 */
function runScript (script: string, args: string[], env: Record<string, string> = {}, ms = 20_000): Promise<{ out: any, stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [dir + script, ...args], { timeout: ms, killSignal: 'SIGKILL', env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      if (err !== null && (err as { killed?: boolean }).killed === true) reject(new Error(`the process did not exit by itself within ${ms} ms; stderr: ${stderr}`))
      else if (err !== null) reject(new Error(`the script failed: ${err.message}\n${stderr}`))
      else resolve({ out: JSON.parse(stdout.trim().split('\n').at(-1)!), stderr })
    })
  })
}

const listenCase = async (name: string, args: string[] = [], env: Record<string, string> = {}): Promise<any> => (await runScript('script.ts', [name, ...args], env)).out

describe('a typed route whose params schema does not name its path\'s parameters', () => {
  it('fails listen() when the schema names a property the path does not have (id on /posts/:slug)', async () => {
    const out = await listenCase('params-stray')
    expect(out).toEqual({
      code: 'ISOPOOL_ERR_INVALID_ROUTE',
      message: 'Invalid route GET /posts/:slug: the params schema names "id", not a parameter of the path (its parameters: :slug); ' +
        `the path's :slug is not in the params schema (${dir}params-stray/posts.ts#getPost)`,
      isolates: 0
    })
  })

  it('fails listen() when the path has a parameter the schema lacks', async () => {
    const out = await listenCase('params-missing')
    expect(out.code).toBe('ISOPOOL_ERR_INVALID_ROUTE')
    expect(out.message).toBe(`Invalid route GET /posts/:slug/comments/:n: the path's :n is not in the params schema (${dir}params-missing/comments.ts#getComment)`)
  })
})

describe('a schema default that fails its own schema', () => {
  it.each([
    ['query', 'default-query', 'GET /items', 'query.page, 0', 'must be >= 1', 'default-query/items.ts#listItems'],
    ['headers', 'default-headers', 'GET /version', 'headers["x-api-version"], 7', 'must be <= 3', 'default-headers/version.ts#version'],
    ['body (nested)', 'default-body', 'POST /orders', 'body.items[].qty, 0', 'must be >= 1', 'default-body/orders.ts#createOrder']
  ])('fails listen() for a default in %s, naming the field, the route and the handler', async (_part, name, routeName, field, problem, handler) => {
    const out = await listenCase(name)
    expect(out.code).toBe('ISOPOOL_ERR_INVALID_ROUTE')
    expect(out.message).toBe(`Invalid route ${routeName}: the default of ${field}, does not match its own schema (${problem}): ` +
      `every request without it would get 422 (${dir}${handler})`)
    expect(out.isolates).toBe(0)
  })

  it('lets defaults that match (an object default completed by its properties\' defaults) and exact params start and apply', async () => {
    const out = await listenCase('good')
    expect(out).toEqual({
      listening: true,
      isolates: 2,
      answers: {
        '/search/posts/a/b?tags=x': { status: 200, body: { params: { scope: 'posts', '*': 'a/b' }, query: { tags: ['x'], page: 1 } } },
        '/sort': { status: 200, body: { sort: { by: 'date' } } }
      }
    })
  })
})

describe('two routes of one method whose paths differ only in parameter names', () => {
  const conflict = (first: string, second: string): string =>
    `Route GET /u/:id is declared twice: by ${first} and by ${second} (as /u/:name: the same paths under other parameter names, which one router cannot tell apart)`

  it('fails listen() naming both handlers when both are declared with route()', async () => {
    const out = await listenCase('same-shape')
    expect(out).toEqual({ code: 'ISOPOOL_ERR_ROUTE_CONFLICT', message: conflict(`${dir}same-shape/by-id.ts#byId`, `${dir}same-shape/by-name.ts#byName`), isolates: 0 })
  })

  it('fails listen() naming both when one is given and one declared', async () => {
    const out = await listenCase('same-shape-given')
    expect(out).toEqual({ code: 'ISOPOOL_ERR_ROUTE_CONFLICT', message: conflict(`${fixtures}basic.ts#hello`, `${dir}same-shape/by-name.ts#byName`), isolates: 0 })
  })

  it('fails route() at once when both are given', () => {
    const s = createServer({ isolates: 1, root: fixtures }).route('GET', '/u/:id', './basic.ts#hello')
    expect(() => s.route('GET', '/u/:name', './basic.ts#inspect')).toThrow(expect.objectContaining({
      code: 'ISOPOOL_ERR_ROUTE_CONFLICT',
      message: conflict(`${fixtures}basic.ts#hello`, `${fixtures}basic.ts#inspect`)
    }))
  })

  it('still takes one path shape on two methods', async () => {
    const s = createServer({ isolates: 1, root: fixtures }).route('GET', '/u/:id', './basic.ts#inspect').route('POST', '/u/:name', './basic.ts#inspect')
    const { url } = await s.listen()
    try {
      const params = async (res: Promise<Response>): Promise<unknown> => ((await (await res).json()) as { params: unknown }).params
      expect(await params(fetch(url + '/u/7'))).toEqual({ id: '7' })
      expect(await params(fetch(url + '/u/ada', { method: 'POST' }))).toEqual({ name: 'ada' })
    } finally {
      await s.close()
    }
  })
})

describe('a setup() resource that isopool never opens', () => {
  it('fails listen() when its module is neither a routes module nor in `modules`, naming it, its importer and the route', async () => {
    const out = await listenCase('setup-elsewhere')
    const base = `${dir}setup-elsewhere/`
    expect(out).toEqual({
      code: 'ISOPOOL_ERR_SETUP_NOT_LOADED',
      message: `The setup() resource ${base}lib/db.ts#db is never opened, so GET /posts (${base}routes/posts.ts#listPosts) would fail on every request that reads it: ` +
        `${base}lib/db.ts is neither a routes module nor in \`modules\` (it is imported by ${base}routes/posts.ts); add it to \`modules\`, or export the resource from ${base}routes/posts.ts`,
      isolates: 0
    })
  })

  it('serves once the module is listed, as the error says', async () => {
    const out = await listenCase('setup-listed')
    expect(out.answers).toEqual({ '/posts': { status: 200, body: [{ slug: 'hello', title: 'Hello' }] } })
  })

  it('fails listen() when a served module declares it without exporting it', async () => {
    const out = await listenCase('setup-unexported')
    expect(out.code).toBe('ISOPOOL_ERR_SETUP_NOT_LOADED')
    expect(out.message).toBe(`The setup() resource of ${dir}setup-unexported.ts is never opened, so GET /greet (${dir}setup-unexported.ts#greet) would fail on every request that reads it: ` +
      `${dir}setup-unexported.ts declares it but does not export it, and isopool opens the setup() resources the served modules export; export it`)
  })
})

describe('unknown options', () => {
  const invalid = (message: string | RegExp) => expect.objectContaining({ code: 'ISOPOOL_ERR_INVALID_OPTION', message: typeof message === 'string' ? message : expect.stringMatching(message) })

  it('fail createServer(), naming the option and the closest known name', () => {
    expect(() => createServer({ isolate: 2 } as never)).toThrow(invalid('Invalid option isolate: unknown option; did you mean "isolates"?'))
    expect(() => createServer({ http: { maxHeaderSise: 1 } } as never)).toThrow(invalid('Invalid option http.maxHeaderSise: unknown option; did you mean "maxHeaderSize"?'))
    expect(() => createServer({ health: { redy: '/r' } } as never)).toThrow(invalid('Invalid option health.redy: unknown option; did you mean "ready"?'))
    expect(() => createServer({ docs: { titel: 'x' } } as never)).toThrow(invalid('Invalid option docs.titel: unknown option; did you mean "title"?'))
    expect(() => createServer({ resourceLimits: { maxOldGenerationSizeMB: 64 } } as never))
      .toThrow(invalid('Invalid option resourceLimits.maxOldGenerationSizeMB: unknown option; did you mean "maxOldGenerationSizeMb"?'))
    expect(() => createServer({ frobnicate: true } as never)).toThrow(invalid(/^Invalid option frobnicate: unknown option; known: modules, isolates, root, /))
  })

  it('and nested options that are not objects', () => {
    expect(() => createServer({ http: 5 } as never)).toThrow(invalid('Invalid option http: must be an object, got number'))
    expect(() => createServer({ routes: '/a' } as never)).toThrow(invalid('Invalid option routes: must be an array of { method, path, handler } routes'))
  })

  it('fail for a route, in `routes` or given to route(), naming the route', () => {
    expect(() => createServer({ root: fixtures, routes: [{ method: 'GET', path: '/a', handler: './basic.ts#hello', timout: 5 } as never] }))
      .toThrow(invalid('Invalid option routes[0].timout: unknown option of route GET /a; did you mean "timeout"?'))
    const s = createServer({ root: fixtures })
    expect(() => s.route('GET', '/b', './basic.ts#hello', { timout: 5 } as never))
      .toThrow(invalid('Invalid option timout: unknown option of route GET /b; did you mean "timeout"?'))
  })

  it('leave the known ones alone', () => {
    const s = createServer({
      isolates: 1,
      root: fixtures,
      http: { maxHeaderSize: 2048, keepAliveTimeout: 1000 },
      health: { live: '/live', ready: false },
      docs: { title: 'x', version: '2' },
      resourceLimits: { maxOldGenerationSizeMb: 64 },
      routes: [{ method: 'GET', path: '/a', handler: './basic.ts#hello', timeout: 5 }]
    })
    expect(s.options.http.maxHeaderSize).toBe(2048)
    expect(() => s.route('GET', '/b', './basic.ts#hello', { timeout: 10 })).not.toThrow()
  })
})

describe('a port already taken', () => {
  let blocker: NetServer | null = null
  let tmp: string | null = null
  afterEach(async () => {
    await new Promise<void>(resolve => blocker === null ? resolve() : blocker.close(() => resolve()))
    blocker = null
    if (tmp !== null) rmSync(tmp, { recursive: true, force: true })
    tmp = null
  })

  it('fails listen() with ISOPOOL_ERR_LISTEN naming host:port and the reason, before any isolate starts', async () => {
    tmp = mkdtempSync(join(tmpdir(), 'isopool-startup-'))
    const marker = join(tmp, 'marker')
    // The control: on a free port, each of the two isolates imports the marker module.
    const ok = await listenCase('port', ['0'], { ISOPOOL_STARTUP_MARKER: marker })
    expect(ok).toMatchObject({ listening: true, isolates: 2, answers: { '/': { status: 200 } } })
    expect(readFileSync(marker, 'utf8').trim().split('\n')).toHaveLength(2)
    rmSync(marker)

    const taken = createNetServer()
    blocker = taken
    const port = await new Promise<number>(resolve => taken.listen(0, '127.0.0.1', () => resolve((taken.address() as AddressInfo).port)))
    const out = await listenCase('port', [String(port)], { ISOPOOL_STARTUP_MARKER: marker })
    expect(out).toEqual({
      code: 'ISOPOOL_ERR_LISTEN',
      message: `Cannot listen on 127.0.0.1:${port}: the address is already in use (EADDRINUSE): another process listens on it`,
      cause: 'EADDRINUSE',
      isolates: 0
    })
    expect(existsSync(marker)).toBe(false) // no isolate imported anything
  })

  it('keeps the system error as the cause, in this process too', async () => {
    const taken = createNetServer()
    blocker = taken
    const port = await new Promise<number>(resolve => taken.listen(0, '127.0.0.1', () => resolve((taken.address() as AddressInfo).port)))
    const s = createServer({ isolates: 1, root: fixtures }).route('GET', '/', './basic.ts#hello')
    const err = await s.listen({ port }).then(() => null, (e: unknown) => e)
    expect(err).toMatchObject({ name: 'IsopoolError', code: 'ISOPOOL_ERR_LISTEN', cause: { code: 'EADDRINUSE', port } })
    expect(s.isolateCount).toBe(0)
    await s.close() // nothing to close: it never started
  })
})

describe('bind first, serve once the isolates are ready', () => {
  let tmp: string | null = null
  afterEach(() => {
    delete process.env.ISOPOOL_STARTUP_GATE
    if (tmp !== null) rmSync(tmp, { recursive: true, force: true })
    tmp = null
  })

  it('takes a connection while the isolates start, and answers it once they are ready', async () => {
    tmp = mkdtempSync(join(tmpdir(), 'isopool-gate-'))
    const gate = join(tmp, 'gate')
    // The isolates' environment is this process's when they start: gate.ts waits for the file.
    process.env.ISOPOOL_STARTUP_GATE = gate
    const free = createNetServer()
    const port = await new Promise<number>(resolve => free.listen(0, '127.0.0.1', () => resolve((free.address() as AddressInfo).port)))
    await new Promise<void>(resolve => free.close(() => resolve()))

    const s = createServer({ isolates: 1, root: fixtures }).route('GET', '/', './startup/gate.ts#hello')
    let listened = false
    const listening = s.listen({ port }).then((r) => { listened = true; return r })
    // listen() cannot resolve before the gate opens, so a connection made now is made while the
    // isolate starts: it succeeds only because the port was bound first.
    let socket: Socket | null = null
    for (let attempt = 0; socket === null && attempt < 500; attempt++) {
      socket = await new Promise<Socket | null>((resolve) => {
        const c = connect(port, '127.0.0.1', () => resolve(c))
        c.once('error', () => { c.destroy(); setTimeout(() => resolve(null), 10) })
      })
    }
    expect(socket).not.toBeNull()
    expect(listened).toBe(false)
    let response = ''
    socket!.on('data', (d: Buffer) => { response += d.toString('latin1') })
    const ended = new Promise<void>(resolve => socket!.on('close', () => resolve()))
    socket!.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    writeFileSync(gate, '')
    await listening
    await ended
    expect(response).toMatch(/^HTTP\/1\.1 200 /)
    expect(response).toContain('{"hello":"after the gate"}')
    await s.close()
  })
})

describe('the log of a handler that throws', () => {
  it('names the method, URL, route, module#export and what was thrown, once per error', async () => {
    const { out, stderr } = await runScript('log-script.ts', [])
    expect(out.statuses).toEqual([500, 500, 500, 500, 500])
    const at = (name: string): string => `${dir}throws.ts#${name}`
    expect(stderr).toContain(`isopool: GET /s/1?x=y (route GET /s/:n, ${at('throwString')}) threw a string: 'boom'\n`)
    expect(stderr).toMatch(new RegExp(`isopool: GET /e/2 \\(route GET /e/:n, ${escape(at('throwError'))}\\) threw Error: kaput\\n\\s+at (?:\\S+\\.)?throwError \\(file://${escape(dir)}throws\\.ts:\\d+:\\d+\\)`))
    expect(stderr).toContain(`isopool: GET /u (route GET /u, ${at('rejectUndefined')}) threw undefined\n`)
    expect(stderr).toContain(`isopool: GET /o (route GET /o, ${at('throwObject')}) threw an object: {"reason":"not an error","code":7}\n`)
    expect(stderr).toContain(`isopool: GET /typed/5 (route GET /typed/:id, ${at('typedThrow')}) threw a string: 'typed 5'\n`)
    // One record each: the request is named once, and the Error's stack is not logged again.
    for (const request of ['GET /s/1?x=y', 'GET /e/2', 'GET /u ', 'GET /o ', 'GET /typed/5']) expect(count(stderr, `isopool: ${request}`)).toBe(1)
    expect(count(stderr, 'Error: kaput')).toBe(1)
    expect(count(stderr, 'isopool:')).toBe(5)
  })
})

function escape (s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

function count (haystack: string, needle: string): number {
  return haystack.split(needle).length - 1
}
