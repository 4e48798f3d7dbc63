// The published package, built on `npm pack` / `npm publish`. Inside the repo, `exports` names the
// TypeScript sources, which Node runs by stripping their types; under node_modules Node strips no
// types, so what ships is JavaScript and declarations in dist/, and a manifest that names them.
//
//   node scripts/pack.ts build      dist/ from src/ (tsc -p tsconfig.build.json)
//   node scripts/pack.ts prepack    build, then put the published manifest in package.json
//                                   (the repo's is kept in package.json.dev)
//   node scripts/pack.ts postpack   put the repo's manifest back
//
// npm runs prepack before it reads the files it packs, and postpack after.

import { execFileSync } from 'node:child_process'
import { copyFileSync, existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const repo = fileURLToPath(new URL('..', import.meta.url))
const manifestFile = join(repo, 'package.json')
const kept = join(repo, 'package.json.dev')

type Manifest = Record<string, unknown> & { exports: Record<string, unknown> }

function build (): void {
  const dist = join(repo, 'dist')
  rmSync(dist, { recursive: true, force: true })
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
  execFileSync(process.execPath, [tsc, '-p', join(repo, 'tsconfig.build.json')], { stdio: 'inherit' })
  // tsc rewrites `./x.ts` to `./x.js` in the JavaScript it emits, not in declarations: a user's
  // compiler then looks for .ts files that are not shipped. Point the declarations at .js too.
  const relative = /(from\s+|import\s*\(\s*)(['"])(\.\.?\/[^'"]+)\.ts\2/g
  for (const file of readdirSync(dist, { recursive: true }) as string[]) {
    if (!file.endsWith('.d.ts')) continue
    const path = join(dist, file)
    const text = readFileSync(path, 'utf8')
    const fixed = text.replace(relative, (_m, lead: string, q: string, spec: string) => `${lead}${q}${spec}.js${q}`)
    if (fixed !== text) writeFileSync(path, fixed)
  }
}

/** The manifest users install: entries in dist/, and nothing that only the repo needs. */
function publishedManifest (dev: Manifest): Manifest {
  const entry = (source: string) => ({
    types: source.replace(/^\.\/src\//, './dist/').replace(/\.ts$/, '.d.ts'),
    default: source.replace(/^\.\/src\//, './dist/').replace(/\.ts$/, '.js')
  })
  const exports: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(dev.exports)) {
    exports[key] = typeof value === 'object' && value !== null ? entry((value as { default: string }).default) : value
  }
  const { scripts: _s, devDependencies: _d, allowScripts: _a, overrides: _o, ...rest } = dev
  return { ...rest, exports }
}

const step = process.argv[2]
if (step === 'build') {
  build()
} else if (step === 'prepack') {
  if (existsSync(kept)) throw new Error(`${kept} exists: an earlier pack did not finish; check it and move it back to package.json`)
  build()
  const dev = JSON.parse(readFileSync(manifestFile, 'utf8')) as Manifest
  copyFileSync(manifestFile, kept)
  writeFileSync(manifestFile, JSON.stringify(publishedManifest(dev), null, 2) + '\n')
} else if (step === 'postpack') {
  if (existsSync(kept)) renameSync(kept, manifestFile)
} else {
  console.error('usage: node scripts/pack.ts build | prepack | postpack')
  process.exitCode = 2
}
