// The package as a user gets it: `npm pack`, installed into a fresh project outside the repo with
// its production dependencies only, then used there as the README says — a server from a user's
// TypeScript handler, the user's own `tsc` with `tsc --init`'s defaults (TypeScript 5.9 and 7),
// and `isopool serve` from node_modules/.bin, stopped by SIGTERM.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFile, spawn } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { request } from 'undici'

const repo = fileURLToPath(new URL('..', import.meta.url))
const work = mkdtempSync(join(tmpdir(), 'isopool-package-'))
const app = join(work, 'app')
/** The Node running this suite first on PATH: npm, tsc and the `isopool` bin use it too. */
const env = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' }

function run (file: string, args: string[], cwd: string, timeout = 120_000): Promise<{ code: number, out: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd, env, timeout, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, out: stdout + stderr })
    })
  })
}

const ROUTES = `import { Type } from 'typebox'
import { route } from 'isopool/handler'

export const getItem = route({
  method: 'GET',
  path: '/items/:id',
  params: Type.Object({ id: Type.Integer({ minimum: 1 }) }),
  query: Type.Object({ verbose: Type.Optional(Type.Boolean()) })
}, (req) => {
  const id: number = req.params.id
  return { id, verbose: req.query.verbose ?? false }
})

export const slow = route({ method: 'GET', path: '/slow' }, async () => {
  console.log('slow: started')
  await new Promise(resolve => setTimeout(resolve, 1_000))
  return { slow: true }
})
`

beforeAll(async () => {
  // Pack a copy of the working tree, so packing (which rewrites package.json for a moment) never
  // touches the checkout other suites run from.
  const tree = join(work, 'tree')
  cpSync(repo, tree, {
    recursive: true,
    filter: (src) => {
      const top = relative(repo, src).split(sep)[0]
      return !['node_modules', '.git', 'dist', '.stryker-tmp', 'reports'].includes(top) && !src.endsWith('.tgz')
    }
  })
  symlinkSync(join(repo, 'node_modules'), join(tree, 'node_modules'))
  const packed = await run('npm', ['pack', '--pack-destination', work], tree)
  expect(packed.code, packed.out).toBe(0)
  const tarball = readdirSync(work).find(f => f.endsWith('.tgz'))!
  mkdirSync(join(app, 'routes'), { recursive: true })
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'user-app', version: '1.0.0', type: 'module', private: true }))
  writeFileSync(join(app, 'routes', 'items.ts'), ROUTES)
  const installed = await run('npm', ['install', '--prefer-offline', '--omit=dev', join(work, tarball), 'typebox'], app)
  expect(installed.code, installed.out).toBe(0)
}, 240_000)

afterAll(() => rmSync(work, { recursive: true, force: true }))

describe('the packed package', () => {
  it('ships compiled JavaScript and declarations, a bin and a LICENSE, and no tests, benchmarks or CI', () => {
    const root = join(app, 'node_modules', 'isopool')
    const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
    expect(manifest.private).toBeUndefined()
    expect(manifest.exports['.']).toEqual({ types: './dist/index.d.ts', default: './dist/index.js' })
    expect(manifest.exports['./handler']).toEqual({ types: './dist/handler.d.ts', default: './dist/handler.js' })
    expect(manifest.bin.isopool).toBe('./bin/isopool.js')
    expect(manifest.engines.node).toMatch(/24/)
    expect(manifest.engines.node).toMatch(/26/)
    const shipped = readdirSync(root)
    expect(shipped).toContain('LICENSE')
    for (const dir of ['test', 'bench', '.ci', 'src', 'handlers', 'scripts']) expect(shipped).not.toContain(dir)
    expect(readdirSync(join(root, 'dist'))).toEqual(expect.arrayContaining(['index.js', 'index.d.ts', 'handler.js', 'handler.d.ts', 'cli.js']))
  })

  it('serves a user\'s TypeScript handler from node_modules', async () => {
    writeFileSync(join(app, 'server.ts'), `import { createServer } from 'isopool'
const server = createServer({ isolates: 1, modules: ['./routes'], root: ${JSON.stringify(app)} })
const { url } = await server.listen()
const res = await fetch(url + '/items/7?verbose=true')
console.log(res.status, await res.text())
const bad = await fetch(url + '/items/0')
console.log(bad.status, (await bad.json()).error.code)
await server.close()
`)
    const r = await run(process.execPath, ['server.ts'], app, 60_000)
    expect(r.out).toContain('200 {"id":7,"verbose":true}')
    expect(r.out).toContain('422 ISOPOOL_ERR_VALIDATION')
    expect(r.code, r.out).toBe(0)
  })

  for (const [name, pkg] of [['5.9', 'typescript'], ['7', 'typescript-7']] as const) {
    it(`type-checks a user's typed routes with TypeScript ${name} and tsc --init's defaults, and reports a real error`, async () => {
      const dir = join(work, `tsc-${name}`)
      mkdirSync(dir)
      cpSync(join(app, 'package.json'), join(dir, 'package.json'))
      symlinkSync(join(app, 'node_modules'), join(dir, 'node_modules'))
      const tsc = join(repo, 'node_modules', pkg, 'bin', 'tsc')
      const version = await run(process.execPath, [tsc, '--version'], dir)
      expect(version.out).toMatch(name === '7' ? /Version 7\./ : /Version 5\.9\./)
      expect((await run(process.execPath, [tsc, '--init'], dir)).code).toBe(0)
      const config = readFileSync(join(dir, 'tsconfig.json'), 'utf8')
      // tsc --init's defaults include strict and declaration; the README asks for nodenext.
      expect(config).toMatch(/"strict": true/)
      expect(config).toMatch(/"declaration": true/)
      writeFileSync(join(dir, 'tsconfig.json'), config.replace(/"module": "[^"]*"/, '"module": "nodenext"'))
      mkdirSync(join(dir, 'routes'))
      writeFileSync(join(dir, 'routes', 'items.ts'), ROUTES)
      const clean = await run(process.execPath, [tsc, '--noEmit', '-p', '.'], dir)
      expect(clean.out).toBe('')
      expect(clean.code).toBe(0)
      writeFileSync(join(dir, 'routes', 'items.ts'), ROUTES.replace('const id: number', 'const id: string'))
      const wrong = await run(process.execPath, [tsc, '--noEmit', '-p', '.'], dir)
      expect(wrong.code).not.toBe(0)
      expect(wrong.out).toMatch(/routes\/items\.ts\(10,\d+\): error TS2322: Type 'number' is not assignable to type 'string'/)
    }, 60_000)
  }

  it('runs the README\'s first handler and its server.request() tests with vitest', async () => {
    const readme = readFileSync(join(repo, 'README.md'), 'utf8')
    const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map(m => m[1])
    const handler = blocks.find(b => b.includes("path: '/items/:id'"))
    const suite = blocks.find(b => b.startsWith('// test/items.test.ts'))
    expect(handler).toBeDefined()
    expect(suite).toBeDefined()
    const dir = join(work, 'readme')
    mkdirSync(join(dir, 'routes'), { recursive: true })
    mkdirSync(join(dir, 'test'))
    mkdirSync(join(dir, 'node_modules'))
    cpSync(join(app, 'package.json'), join(dir, 'package.json'))
    for (const dep of readdirSync(join(app, 'node_modules'))) symlinkSync(join(app, 'node_modules', dep), join(dir, 'node_modules', dep))
    symlinkSync(join(repo, 'node_modules', 'vitest'), join(dir, 'node_modules', 'vitest')) // the user's devDependency
    writeFileSync(join(dir, 'routes', 'items.ts'), handler!)
    writeFileSync(join(dir, 'test', 'items.test.ts'), suite!)
    const r = await run(process.execPath, [join(repo, 'node_modules', 'vitest', 'vitest.mjs'), 'run', '--root', dir], dir, 60_000)
    expect(r.out.replace(/\x1b\[[0-9;]*m/g, '')).toMatch(/Tests\s+3 passed \(3\)/)
    expect(r.code, r.out).toBe(0)
  }, 60_000)

  it('runs `isopool serve` from node_modules/.bin; SIGTERM answers the request in flight and exits 0', async () => {
    const child = spawn(join(app, 'node_modules', '.bin', 'isopool'), ['serve', 'routes', '--port', '0', '--isolates', '1'], { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    const seen = (pattern: RegExp) => new Promise<RegExpExecArray>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${pattern} in: ${out}`)), 30_000)
      const look = () => {
        const m = pattern.exec(out)
        if (m !== null) { clearTimeout(timer); resolve(m) }
      }
      child.stdout.on('data', (d) => { out += d; look() })
      child.stderr.on('data', (d) => { out += d; look() })
      look()
    })
    const exited = new Promise<number | null>(resolve => child.on('exit', code => resolve(code)))
    const [, url] = await seen(/listening on (http:\/\/\S+) with 1 isolate/)
    const inFlight = request(url + '/slow').then(async r => ({ status: r.statusCode, body: await r.body.json() }))
    await seen(/slow: started/)
    child.kill('SIGTERM')
    expect(await inFlight).toEqual({ status: 200, body: { slow: true } })
    expect(await exited).toBe(0)
    expect(out).toContain('SIGTERM')
  })
})
