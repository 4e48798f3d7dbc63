// The CLI's parsing: flags, environment variables and defaults, without starting anything.
import { describe, expect, it } from 'vitest'
import { HELP, parseCli, version } from '../../src/cli.ts'

const serve = (argv: string[], env: Record<string, string> = {}) => {
  const c = parseCli(argv, env, '/app')
  if (c.kind !== 'serve') throw new Error(`not serve: ${c.kind}`)
  return c
}

describe('isopool serve', () => {
  it('defaults: ./routes under the current directory, port 3000, 127.0.0.1, auto isolates, 30 s timeout', () => {
    const c = serve(['serve'])
    expect(c).toMatchObject({ port: 3000, host: '127.0.0.1' })
    expect(c.options).toMatchObject({ isolates: 'auto', root: '/app', modules: ['./routes'], timeout: 30_000, watch: false, docs: {} })
  })

  it('takes files and folders and every flag, in both spellings', () => {
    const c = serve(['serve', 'api', 'extra/one.ts', '--isolates', '3', '--port=8080', '--host', '0.0.0.0', '--timeout', '5000', '--watch', '--root', 'srv', '--title', 'My API'])
    expect(c).toMatchObject({ port: 8080, host: '0.0.0.0' })
    expect(c.options).toMatchObject({ isolates: 3, root: '/app/srv', modules: ['api', 'extra/one.ts'], timeout: 5000, watch: true, docs: { title: 'My API' } })
    expect(serve(['serve', '--no-docs']).options.docs).toBe(false)
  })

  it('reads the environment, and a flag wins over it', () => {
    const env = { PORT: '4000', HOST: '::', ISOPOOL_ISOLATES: '2', ISOPOOL_TIMEOUT: '100', ISOPOOL_WATCH: '1', ISOPOOL_ROOT: '/srv', ISOPOOL_TITLE: 'T' }
    const c = serve(['serve'], env)
    expect(c).toMatchObject({ port: 4000, host: '::' })
    expect(c.options).toMatchObject({ isolates: 2, timeout: 100, watch: true, root: '/srv', docs: { title: 'T' } })
    const f = serve(['serve', '--port', '5000', '--isolates', 'auto'], env)
    expect(f.port).toBe(5000)
    expect(f.options.isolates).toBe('auto')
    expect(serve(['serve'], { PORT: '' }).port).toBe(3000)
  })

  it('turns the services on and off: the access log on by default, the others off', () => {
    expect(serve(['serve']).options).toMatchObject({ logger: true, metrics: false, cors: false, compression: false })
    expect(serve(['serve']).options.trustProxy).toBeUndefined()
    expect(serve(['serve']).options.static).toBeUndefined()
    const on = serve(['serve', '--no-log', '--metrics', '--cors', '--compression', '--trust-proxy', '2', '--static', '/assets=./public,/img=pics'])
    expect(on.options).toMatchObject({ logger: false, metrics: true, cors: true, compression: true, trustProxy: 2, static: { '/assets': './public', '/img': 'pics' } })
    expect(serve(['serve', '--trust-proxy=true']).options.trustProxy).toBe(true)
    expect(serve(['serve', '--trust-proxy', '10.0.0.1,10.0.0.2']).options.trustProxy).toBe('10.0.0.1,10.0.0.2')
    const env = serve(['serve'], { ISOPOOL_LOG: '0', ISOPOOL_METRICS: '1', ISOPOOL_CORS: 'true', ISOPOOL_COMPRESSION: '1', ISOPOOL_TRUST_PROXY: '1', ISOPOOL_STATIC: '/s=static' })
    expect(env.options).toMatchObject({ logger: false, metrics: true, cors: true, compression: true, trustProxy: 1, static: { '/s': 'static' } })
    // A flag wins over the variable.
    expect(serve(['serve', '--metrics'], { ISOPOOL_METRICS: '0' }).options.metrics).toBe(true)
    expect(serve(['serve', '--no-log'], { ISOPOOL_LOG: '1' }).options.logger).toBe(false)
  })

  it('refuses what it cannot take, naming the flag or variable', () => {
    const refused = (argv: string[], env: Record<string, string>, pattern: RegExp) => {
      let err: unknown
      try { parseCli(argv, env, '/app') } catch (e) { err = e }
      expect((err as { code?: string }).code).toBe('ISOPOOL_ERR_INVALID_OPTION')
      expect((err as Error).message).toMatch(pattern)
    }
    refused(['serve', '--prot', '1'], {}, /--prot.*unknown flag/)
    refused(['serve', '--port'], {}, /--port.*needs a value/)
    refused(['serve', '--port', '70000'], {}, /--port.*0 to 65535/)
    refused(['serve', '--isolates', '0'], {}, /--isolates/)
    refused(['serve', '--isolates', 'many'], {}, /--isolates/)
    refused(['serve'], { PORT: 'eighty' }, /PORT/)
    refused(['serve'], { ISOPOOL_WATCH: 'yes' }, /ISOPOOL_WATCH/)
    refused(['serve'], { ISOPOOL_METRICS: 'on' }, /ISOPOOL_METRICS/)
    refused(['serve', '--static', 'public'], {}, /--static.*\/prefix=folder/)
    refused(['serve', '--static', '/a='], {}, /--static/)
    refused(['start'], {}, /only command is serve/)
  })

  it('prints help and the version', () => {
    expect(parseCli([], {}, '/')).toEqual({ kind: 'help' })
    expect(parseCli(['serve', '--help'], {}, '/')).toEqual({ kind: 'help' })
    expect(parseCli(['--version'], {}, '/')).toEqual({ kind: 'version' })
    expect(version()).toMatch(/^\d+\.\d+\.\d+/)
    // The help names every flag the parser takes.
    for (const flag of ['--isolates', '--port', '--host', '--timeout', '--watch', '--root', '--title', '--no-docs', '--no-log', '--metrics', '--cors', '--compression', '--trust-proxy', '--static', '--help', '--version']) expect(HELP).toContain(flag)
  })
})
