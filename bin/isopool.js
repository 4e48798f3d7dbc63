#!/usr/bin/env node
// The `isopool` command. Installed as a package, it runs the compiled CLI in dist/ (Node strips no
// types under node_modules); in a clone of the repository it runs the TypeScript sources directly.
import { existsSync } from 'node:fs'

const source = new URL('../src/cli.ts', import.meta.url)
const installed = import.meta.url.includes('/node_modules/') || !existsSync(source)
const { main } = await import(installed ? new URL('../dist/cli.js', import.meta.url).href : source.href)
await main()
