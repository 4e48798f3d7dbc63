// The services run of the bench harness (bench/service-sets.ts): the names of its sets, what
// each turns on in the isopool target, and its middleware. A wrong mapping here would measure
// the wrong services without any error, so it is pinned down.
import { describe, expect, it } from 'vitest'
import { costLimit, parseServiceSet, SERVICE_NAMES, serviceSetName, serviceSets } from '../../bench/service-sets.ts'
import { benchHeader } from '../../bench/targets/bench-middleware.ts'
import { isopoolServices } from '../../bench/targets/isopool-services.ts'

describe('service sets', () => {
  it('reads off, all, one service and several, whatever their case and order', () => {
    expect(parseServiceSet('off')).toEqual([])
    expect(parseServiceSet('all')).toEqual([...SERVICE_NAMES])
    expect(parseServiceSet('ratelimit')).toEqual(['rateLimit'])
    expect(parseServiceSet('logger+cors')).toEqual(['cors', 'logger'])
    expect(parseServiceSet('cors+cors')).toEqual(['cors'])
  })

  it('refuses what names no service', () => {
    expect(parseServiceSet('trustProxy')).toBeNull()
    expect(parseServiceSet('cors+')).toBeNull()
    expect(parseServiceSet('')).toBeNull()
    expect(parseServiceSet('each')).toBeNull()
  })

  it('names a set canonically, so one set is one target', () => {
    expect(serviceSetName([])).toBe('off')
    expect(serviceSetName([...SERVICE_NAMES])).toBe('all')
    expect(serviceSetName(['logger', 'cors'])).toBe('cors+logger')
    expect(serviceSets('Logger+CORS')).toEqual(['cors+logger'])
  })

  it('expands each into off, every service alone, and all', () => {
    expect(serviceSets('each')).toEqual(['off', ...SERVICE_NAMES, 'all'])
    expect(serviceSets('nope')).toBeNull()
  })

  it('allows 5 % for one service and 15 % for several', () => {
    expect(costLimit(['cors'])).toBe(0.05)
    expect(costLimit(['cors', 'logger'])).toBe(0.15)
    expect(costLimit([...SERVICE_NAMES])).toBe(0.15)
  })
})

describe("the isopool target's options", () => {
  it('turns every service off for off, request ids too (they are on by default)', () => {
    expect(isopoolServices([])).toEqual({ requestId: false, cors: false, compression: false, logger: false, metrics: false, rateLimit: false })
  })

  it('turns on exactly the services of the set', () => {
    const o = isopoolServices(['cors', 'rateLimit'])
    expect(o).toMatchObject({ requestId: false, cors: true, compression: false, logger: false, metrics: false })
    expect(o.rateLimit).toEqual({ max: 1_000_000_000, window: 60_000 })
    expect(o.middleware).toBeUndefined()
  })

  it('gives all a pino logger and the bench middleware', () => {
    const o = isopoolServices([...SERVICE_NAMES])
    expect(o).toMatchObject({ requestId: true, cors: true, compression: true, metrics: true, middleware: ['./bench-middleware.ts#benchHeader'] })
    const logger = o.logger as { info: unknown, child: unknown }
    expect(typeof logger.info).toBe('function')
    expect(typeof logger.child).toBe('function')
  })
})

describe('the bench middleware', () => {
  it('sets its header on the Response next() gives and returns it', async () => {
    const inner = Response.json({ hello: 'world' })
    const res = await benchHeader({}, async () => inner)
    expect(res).toBe(inner)
    expect(res.headers.get('x-bench')).toBe('1')
    expect(await res.json()).toEqual({ hello: 'world' })
  })
})
