// Headless-browser check that /docs renders the example app's operations: start `npm start`'s
// app on a free port, load /docs in Debian's Chromium (installed by install-chromium.sh), and
// look for every operation in the rendered page. Writes a screenshot to bench/results/docs.png.
// Usage: npm run check:docs
import { execFileSync, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const repo = join(import.meta.dirname, '..')
execFileSync('bash', [join(repo, 'scripts/install-chromium.sh')], { stdio: 'inherit' })

const app = spawn(process.execPath, [join(repo, 'handlers/server.ts')], { env: { ...process.env, PORT: '0' }, stdio: ['ignore', 'pipe', 'inherit'] })
const url = await new Promise<string>((resolve, reject) => {
  let out = ''
  const timer = setTimeout(() => reject(new Error('the example app did not start')), 20_000)
  app.stdout.on('data', (d) => {
    out += d
    const m = /listening on (http:\/\/\S+) /.exec(out)
    if (m !== null) { clearTimeout(timer); resolve(m[1]) }
  })
})

// Flags as this machine needs them: no sandbox as root, and nothing that reaches the network.
const profile = mkdtempSync(join(tmpdir(), 'isopool-chromium-'))
const flags = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  `--user-data-dir=${profile}`, '--virtual-time-budget=10000', '--window-size=1280,1800'
]
let failed = false
try {
  const dom = execFileSync('chromium', [...flags, '--dump-dom', `${url}/docs`], { encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'ignore'] })
  const expected = ['Read one user', 'List users', 'Create a user', 'Upload files', 'PBKDF2 of a text', '/users/{id}', '/hash/{text}', 'isopool example app']
  for (const text of expected) {
    const found = dom.includes(text)
    console.log(`${found ? 'ok  ' : 'MISSING'} ${text}`)
    if (!found) failed = true
  }
  mkdirSync(join(repo, 'bench/results'), { recursive: true })
  execFileSync('chromium', [...flags, `--screenshot=${join(repo, 'bench/results/docs.png')}`, `${url}/docs`], { stdio: 'ignore' })
  console.log('screenshot: bench/results/docs.png')
} finally {
  app.kill('SIGTERM')
  rmSync(profile, { recursive: true, force: true })
}
if (failed) {
  console.error('/docs did not render every operation')
  process.exit(1)
}
console.log('/docs renders every operation of the example app')
