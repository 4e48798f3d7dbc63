// The example app as `npm start` runs it (`isopool serve handlers/routes` through npm): it serves,
// its users live in one SQLite file every isolate sees, and a SIGTERM or SIGINT sent to npm itself
// reaches the server, which answers what is in flight and exits 0.
import { describe, expect, it } from 'vitest'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { request } from 'undici'

const repo = fileURLToPath(new URL('..', import.meta.url))

function startApp (isolates: number): Promise<{ url: string, exited: Promise<number | null>, kill: (signal: NodeJS.Signals) => void, output: () => string, cleanup: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'isopool-example-'))
  // `npm start` as a user types it; npm puts the project's Node first on PATH for the script.
  const child = spawn('npm', ['start'], {
    cwd: repo,
    env: { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`, PORT: '0', ISOPOOL_ISOLATES: String(isolates), USERS_DB: join(dir, 'users.sqlite') },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let out = ''
  child.stdout.on('data', (d) => { out += d })
  child.stderr.on('data', (d) => { out += d })
  const exited = new Promise<number | null>(resolve => child.on('exit', code => resolve(code)))
  const cleanup = () => rmSync(dir, { recursive: true, force: true })
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listening line in: ${out}`)), 20_000)
    void exited.then(code => { clearTimeout(timer); reject(new Error(`npm start exited with ${code}: ${out}`)) })
    child.stdout.on('data', () => {
      const m = /listening on (http:\/\/\S+) with (\d+) isolates?/.exec(out)
      if (m === null) return
      clearTimeout(timer)
      resolve({ url: m[1], exited, kill: s => child.kill(s), output: () => out, cleanup })
    })
  })
}

describe('npm start', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)('serves the example app and on %s sent to npm answers what is in flight, then exits 0', async (signal) => {
    const app = await startApp(2)
    try {
      expect((await (await request(app.url + '/')).body.json())).toEqual({ hello: 'world' })
      const user = await request(app.url + '/users/1')
      expect((await user.body.json() as { name: string }).name).toBe('Ada Lovelace')
      const invalid = await request(app.url + '/users/zero')
      expect(invalid.statusCode).toBe(422)
      await invalid.body.dump()
      const docs = await request(app.url + '/openapi.json')
      const doc = await docs.body.json() as { info: { title: string }, paths: Record<string, unknown> }
      expect(doc.info.title).toBe('isopool example app')
      expect(Object.keys(doc.paths).sort()).toEqual(['/', '/echo', '/hash/{text}', '/upload', '/users', '/users/{id}'])
      // Requests that take a while (200,000 PBKDF2 iterations), in flight when the signal comes.
      const inFlight = Array.from({ length: 4 }, (_, i) => request(`${app.url}/hash/x${i}?iterations=200000`).then(async r => ({ status: r.statusCode, body: await r.body.json() as { text: string } })))
      // A request sent after them has been answered: they have been accepted.
      await (await request(app.url + '/')).body.dump()
      app.kill(signal)
      for (const [i, r] of (await Promise.all(inFlight)).entries()) {
        expect(r.status).toBe(200)
        expect(r.body.text).toBe(`x${i}`)
      }
      expect(await app.exited).toBe(0)
      expect(app.output()).toContain(`${signal}: answering the requests accepted`)
    } finally {
      app.kill('SIGKILL')
      app.cleanup()
    }
  })

  it('keeps users in one store: a user created through one isolate is read by every isolate', async () => {
    const app = await startApp(3)
    try {
      const created = await request(app.url + '/users', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Grace Hopper', email: 'grace@example.com' }) })
      expect(created.statusCode).toBe(201)
      const user = await created.body.json() as { id: number }
      expect(created.headers.location).toBe(`/users/${user.id}`)
      // Many at once, so that every isolate answers some of them.
      const reads = await Promise.all(Array.from({ length: 60 }, async () => {
        const r = await request(`${app.url}/users/${user.id}`)
        return { status: r.statusCode, body: await r.body.json() as { name: string, servedBy: number } }
      }))
      for (const r of reads) expect(r).toMatchObject({ status: 200, body: { name: 'Grace Hopper' } })
      expect(new Set(reads.map(r => r.body.servedBy)).size).toBeGreaterThan(1)
      const list = await (await request(app.url + '/users')).body.json() as { name: string }[]
      expect(list.map(u => u.name)).toEqual(['Ada Lovelace', 'Alan Turing', 'Grace Hopper'])
    } finally {
      app.kill('SIGTERM')
      await app.exited
      app.cleanup()
    }
  })
})
