// The example app as `npm start` runs it: it serves, and SIGTERM / SIGINT drain it and exit 0.
import { describe, expect, it } from 'vitest'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { request } from 'undici'

const server = fileURLToPath(new URL('../handlers/server.ts', import.meta.url))

function startApp (): Promise<{ url: string, exited: Promise<number | null>, kill: (signal: NodeJS.Signals) => void, output: () => string }> {
  const child = spawn(process.execPath, [server], { env: { ...process.env, PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', (d) => { out += d })
  child.stderr.on('data', (d) => { out += d })
  const exited = new Promise<number | null>(resolve => child.on('exit', code => resolve(code)))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listening line in: ${out}`)), 15_000)
    child.stdout.on('data', () => {
      const m = /listening on (http:\/\/\S+) with (\d+) isolates?/.exec(out)
      if (m === null) return
      clearTimeout(timer)
      resolve({ url: m[1], exited, kill: s => child.kill(s), output: () => out })
    })
  })
}

describe('npm start', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)('serves the example app and on %s answers what is in flight, then exits 0', async (signal) => {
    const app = await startApp()
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
    // Accepted by now (the hashing takes a few hundred ms per pair of requests).
    await new Promise(resolve => setTimeout(resolve, 100))
    app.kill(signal)
    for (const [i, r] of (await Promise.all(inFlight)).entries()) {
      expect(r.status).toBe(200)
      expect(r.body.text).toBe(`x${i}`)
    }
    expect(await app.exited).toBe(0)
    expect(app.output()).toContain(`${signal}: finishing requests in flight`)
  })
})
