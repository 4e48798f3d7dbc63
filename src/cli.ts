// The `isopool` command: `isopool serve [files or folders...]` serves the typed routes (route()
// exports) found there, as createServer({ modules }) does, and stops gracefully on SIGTERM and
// SIGINT: it stops accepting, answers every request it has accepted, then exits 0.
//
// Flags win over environment variables, which win over the defaults. Pure parsing is apart from
// running (parseCli returns what to do), so it is tested without starting anything.

import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { IsopoolError } from './shared/errors.ts'
import { Server } from './main/server.ts'
import type { ServerOptions } from './main/options.ts'

export const HELP = `Usage: isopool serve [files or folders...] [options]

Serves the typed routes (route() exports) and WebSocket routes (websocket() exports) of the
given modules; folders are searched recursively. Default: ./routes

Options:
  --isolates <n|auto>   isolates to run handlers in       env ISOPOOL_ISOLATES   default auto (one per core)
  --port <n>            port to listen on (0: any free)   env PORT               default 3000
  --host <address>      address to listen on              env HOST               default 127.0.0.1
  --timeout <ms>        time a handler has before 504     env ISOPOOL_TIMEOUT    default 30000
  --watch               reload when a source file changes env ISOPOOL_WATCH=1
  --root <dir>          base of relative module paths     env ISOPOOL_ROOT       default the current directory
  --title <text>        title of the API docs at /docs    env ISOPOOL_TITLE
  --no-docs             serve neither /openapi.json nor /docs
  --no-log              no access log (default: one JSON line per request on stdout)
                                                          env ISOPOOL_LOG=0
  --metrics             Prometheus metrics at /metrics    env ISOPOOL_METRICS=1
  --cors                allow cross-origin requests from any origin
                                                          env ISOPOOL_CORS=1
  --compression         compress answers by Accept-Encoding
                                                          env ISOPOOL_COMPRESSION=1
  --trust-proxy <v>     believe X-Forwarded-For: true, a hop count, or proxy addresses
                                                          env ISOPOOL_TRUST_PROXY
  --static <p=dir>      serve the files of dir under URL prefix p (e.g. /assets=./public)
                                                          env ISOPOOL_STATIC
  -h, --help            print this help
  -v, --version         print isopool's version

SIGTERM or SIGINT: stop accepting, answer the requests accepted, then exit 0; a second
signal exits at once with 1. In a container, listen on all addresses: HOST=0.0.0.0.`

export type CliCommand =
  | { kind: 'help' }
  | { kind: 'version' }
  | { kind: 'serve', options: ServerOptions, port: number, host: string }

/** What `argv` (the arguments after the program) and `env` ask for. Throws ISOPOOL_ERR_INVALID_OPTION on a mistake. */
export function parseCli (argv: readonly string[], env: Readonly<Record<string, string | undefined>>, cwd: string): CliCommand {
  if (argv.length === 0 || argv.includes('-h') || argv.includes('--help') || argv[0] === 'help') return { kind: 'help' }
  if (argv.includes('-v') || argv.includes('--version')) return { kind: 'version' }
  const [command, ...rest] = argv
  if (command !== 'serve') throw new IsopoolError('ISOPOOL_ERR_INVALID_OPTION', { option: command, reason: 'the only command is serve (isopool --help)' })
  const paths: string[] = []
  const flags = new Map<string, string | true>()
  const VALUED = new Set(['--isolates', '--port', '--host', '--timeout', '--root', '--title', '--trust-proxy', '--static'])
  const BARE = new Set(['--watch', '--no-docs', '--no-log', '--metrics', '--cors', '--compression'])
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]
    if (!arg.startsWith('-')) { paths.push(arg); continue }
    const eq = arg.indexOf('=')
    const name = eq === -1 ? arg : arg.slice(0, eq)
    if (BARE.has(name) && eq === -1) { flags.set(name, true); continue }
    if (!VALUED.has(name)) throw new IsopoolError('ISOPOOL_ERR_INVALID_OPTION', { option: arg, reason: 'unknown flag (isopool --help)' })
    const value = eq === -1 ? rest[++i] : arg.slice(eq + 1)
    if (value === undefined || value === '') throw new IsopoolError('ISOPOOL_ERR_INVALID_OPTION', { option: name, reason: 'needs a value' })
    flags.set(name, value)
  }
  const pick = (flag: string, variable: string): string | undefined => {
    const f = flags.get(flag)
    if (typeof f === 'string') return f
    const e = env[variable]
    return e === undefined || e === '' ? undefined : e
  }
  const integer = (flag: string, variable: string, fallback: number, min: number, max: number): number => {
    const text = pick(flag, variable)
    if (text === undefined) return fallback
    const n = /^\d+$/.test(text) ? Number(text) : NaN
    if (!(n >= min && n <= max)) throw new IsopoolError('ISOPOOL_ERR_INVALID_OPTION', { option: flags.has(flag) ? flag : variable, reason: `must be an integer from ${min} to ${max}, got ${JSON.stringify(text)}` })
    return n
  }
  const isolatesText = pick('--isolates', 'ISOPOOL_ISOLATES') ?? 'auto'
  const isolates = isolatesText === 'auto' ? 'auto' : integer('--isolates', 'ISOPOOL_ISOLATES', 0, 1, 1024)
  const root = resolve(cwd, pick('--root', 'ISOPOOL_ROOT') ?? '.')
  /** A switch: its bare flag, else its variable (1/true or 0/false), else `fallback`. */
  const toggle = (flag: string | null, variable: string, fallback: boolean): boolean => {
    const e = env[variable]
    if (e !== undefined && !['', '0', '1', 'true', 'false'].includes(e)) {
      throw new IsopoolError('ISOPOOL_ERR_INVALID_OPTION', { option: variable, reason: `must be 1 or 0, got ${JSON.stringify(e)}` })
    }
    if (flag !== null && flags.has(flag)) return !flag.startsWith('--no-')
    return e === undefined || e === '' ? fallback : e === '1' || e === 'true'
  }
  const watch = toggle('--watch', 'ISOPOOL_WATCH', false)
  const title = pick('--title', 'ISOPOOL_TITLE')
  const trust = pick('--trust-proxy', 'ISOPOOL_TRUST_PROXY')
  const statics = pick('--static', 'ISOPOOL_STATIC')
  const staticDirs: Record<string, string> = {}
  for (const entry of statics === undefined ? [] : statics.split(',')) {
    const eq = entry.indexOf('=')
    if (eq <= 0 || eq === entry.length - 1 || !entry.startsWith('/')) {
      throw new IsopoolError('ISOPOOL_ERR_INVALID_OPTION', { option: flags.has('--static') ? '--static' : 'ISOPOOL_STATIC', reason: `must be /prefix=folder (comma-separated for more), got ${JSON.stringify(entry)}` })
    }
    staticDirs[entry.slice(0, eq)] = entry.slice(eq + 1)
  }
  const options: ServerOptions = {
    isolates,
    root,
    modules: paths.length > 0 ? paths : ['./routes'],
    timeout: integer('--timeout', 'ISOPOOL_TIMEOUT', 30_000, 0, 2 ** 31 - 1),
    watch,
    docs: flags.has('--no-docs') ? false : title === undefined ? {} : { title },
    logger: toggle('--no-log', 'ISOPOOL_LOG', true),
    metrics: toggle('--metrics', 'ISOPOOL_METRICS', false),
    cors: toggle('--cors', 'ISOPOOL_CORS', false),
    compression: toggle('--compression', 'ISOPOOL_COMPRESSION', false),
    ...(trust === undefined ? {} : { trustProxy: trustProxyValue(trust) }),
    ...(statics === undefined ? {} : { static: staticDirs })
  }
  return {
    kind: 'serve',
    options,
    port: integer('--port', 'PORT', 3000, 0, 65_535),
    host: pick('--host', 'HOST') ?? '127.0.0.1'
  }
}

/** --trust-proxy's text as the trustProxy option: true/false, a hop count, or addresses. */
function trustProxyValue (text: string): boolean | number | string {
  if (text === 'true' || text === 'false') return text === 'true'
  if (/^\d+$/.test(text)) return Number(text)
  return text
}

export function version (): string {
  const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
  return manifest.version
}

/** Run the command line: prints, serves until a signal, or exits 2 on a mistake. */
export async function main (argv: readonly string[] = process.argv.slice(2)): Promise<void> {
  let command: CliCommand
  try {
    command = parseCli(argv, process.env, process.cwd())
  } catch (err) {
    console.error(`isopool: ${(err as Error).message}`)
    process.exitCode = 2
    return
  }
  if (command.kind === 'help') { console.log(HELP); return }
  if (command.kind === 'version') { console.log(version()); return }
  let server: Server
  try {
    server = new Server(command.options)
    const { url } = await server.listen({ port: command.port, host: command.host })
    const n = server.isolateCount
    console.log(`isopool listening on ${url} with ${n} isolate${n === 1 ? '' : 's'}`)
  } catch (err) {
    const e = err as Error & { code?: string }
    console.error(`isopool: ${e.code === undefined ? '' : e.code + ': '}${e.message}`)
    process.exitCode = 1
    return
  }
  let stopping = false
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (stopping) {
        console.error(`isopool: ${signal} again, exiting now`)
        process.exit(1)
      }
      stopping = true
      console.log(`isopool: ${signal}: answering the requests accepted, then stopping`)
      server.close().then(
        () => { process.exitCode = 0; process.exit() },
        (err: unknown) => { console.error('isopool: closing failed:', err); process.exit(1) }
      )
    })
  }
}
