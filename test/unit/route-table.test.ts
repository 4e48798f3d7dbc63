// The route table without isolates or sockets: given routes and their conflicts, the plan a
// generation is started with (modules listed anew each time), and the routes built from what the
// isolates declared.
import { afterEach, describe, expect, it } from 'vitest'
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { givenRoute, RouteTable } from '../../src/main/route-table.ts'
import type { ManifestRoute } from '../../src/shared/protocol.ts'

const NO_BUILTINS = { livePath: null, readyPath: null, openapiPath: null, docsPath: null, docsInfo: { title: 't', version: '1' } }
const health = () => ({ notReady: null, isolates: 1 })

let dir = ''
afterEach(() => {
  if (dir !== '') rmSync(dir, { recursive: true, force: true })
  dir = ''
})

function declared (method: string, path: string, exp: string, timeout?: number): ManifestRoute {
  return { method, path, module: 'file:///app/routes.ts', export: exp, schemas: {}, ...(timeout === undefined ? {} : { timeout }) }
}

describe('given routes', () => {
  it('resolve module#export against root, default to the default export, and upper-case the method', () => {
    const r = givenRoute('/app', 'get', '/users/:id', './users.ts#getUser', 100)
    expect(r).toEqual({ method: 'GET', path: '/users/:id', module: 'file:///app/users.ts', export: 'getUser', timeout: 100 })
    expect(givenRoute('/app', 'POST', '/x', '/abs/x.ts', 0).export).toBe('default')
  })

  it('refuse a method, path or handler that cannot be served, naming the route', () => {
    expect(() => givenRoute('/app', 'BREW', '/x', './x.ts#x', 0)).toThrow(expect.objectContaining({ code: 'ISOPOOL_ERR_INVALID_ROUTE' }))
    expect(() => givenRoute('/app', 'GET', 'x', './x.ts#x', 0)).toThrow(expect.objectContaining({ code: 'ISOPOOL_ERR_INVALID_ROUTE' }))
    expect(() => givenRoute('/app', 'GET', '/x', './x.ts#', 0)).toThrow(expect.objectContaining({ code: 'ISOPOOL_ERR_INVALID_ROUTE' }))
  })

  it('conflict with each other on one method and path, naming both handlers', () => {
    const t = new RouteTable([], NO_BUILTINS)
    t.add(givenRoute('/app', 'GET', '/x', './a.ts#a', 0))
    expect(() => t.add(givenRoute('/app', 'GET', '/x', './b.ts#b', 0))).toThrow('Route GET /x is declared twice: by /app/a.ts#a and by /app/b.ts#b')
  })

  it('give a plan with each module once, routes numbered in order', () => {
    const t = new RouteTable([], NO_BUILTINS)
    t.add(givenRoute('/app', 'GET', '/a', './m.ts#a', 0))
    t.add(givenRoute('/app', 'GET', '/b', './n.ts#b', 0))
    t.add(givenRoute('/app', 'GET', '/c', './m.ts#c', 0))
    const plan = t.plan()
    expect(plan.modules).toEqual(['file:///app/m.ts', 'file:///app/n.ts'])
    expect(plan.routes.map(r => [r.path, r.module, r.export])).toEqual([['/a', 0, 'a'], ['/b', 1, 'b'], ['/c', 0, 'c']])
  })
})

describe('discovery', () => {
  it('lists the module folders again for every plan: a file added or removed is picked up', () => {
    dir = mkdtempSync(join(tmpdir(), 'isopool-table-'))
    mkdirSync(join(dir, 'nested'))
    writeFileSync(join(dir, 'a.ts'), '')
    writeFileSync(join(dir, 'nested', 'b.ts'), '')
    writeFileSync(join(dir, 'a.test.ts'), '')
    writeFileSync(join(dir, 'types.d.ts'), '')
    writeFileSync(join(dir, 'notes.md'), '')
    const t = new RouteTable([dir], NO_BUILTINS)
    const url = (f: string): string => pathToFileURL(join(dir, f)).href
    expect(t.plan().discover).toEqual([url('a.ts'), url('nested/b.ts')])
    writeFileSync(join(dir, 'c.ts'), '')
    rmSync(join(dir, 'a.ts'))
    expect(t.plan().discover).toEqual([url('c.ts'), url('nested/b.ts')])
  })
})

describe('the routes of a generation', () => {
  it('number the given routes first, then the declared ones, each with its timeout', () => {
    const t = new RouteTable([], NO_BUILTINS)
    t.add(givenRoute('/app', 'GET', '/given', './g.ts#g', 7))
    const routes = t.build([declared('GET', '/users/:id', 'getUser'), declared('POST', '/users', 'createUser', 50)], 30_000, health)
    expect(routes.list.map(r => [r.index, r.method, r.path, r.timeout])).toEqual([[0, 'GET', '/given', 7], [1, 'GET', '/users/:id', 30_000], [2, 'POST', '/users', 50]])
    const found = routes.lookup('GET', '/users/42?x=1')
    expect(found.found && found.route.index).toBe(1)
    expect(found.found && found.route.routes).toBe(routes)
  })

  it('serve HEAD from a GET route unless HEAD has a route of its own, and list Allow for a 405', () => {
    const t = new RouteTable([], NO_BUILTINS)
    t.add(givenRoute('/app', 'GET', '/x', './x.ts#get', 0))
    t.add(givenRoute('/app', 'DELETE', '/x', './x.ts#del', 0))
    t.add(givenRoute('/app', 'GET', '/y', './y.ts#get', 0))
    t.add(givenRoute('/app', 'HEAD', '/y', './y.ts#head', 0))
    const routes = t.build([], 0, health)
    const head = (path: string): number => { const f = routes.lookup('HEAD', path); return f.found ? f.route.index : -1 }
    expect(head('/x')).toBe(0)
    expect(head('/y')).toBe(3)
    expect(routes.lookup('PUT', '/x')).toEqual({ found: false, allow: ['GET', 'HEAD', 'DELETE'], badUrl: false })
    expect(routes.lookup('GET', '/nowhere')).toEqual({ found: false, allow: [], badUrl: false })
    expect(routes.lookup('GET', '/x%zz')).toMatchObject({ found: false, badUrl: true })
  })

  it('refuse a declared route on a given one\'s method and path, naming both', () => {
    const t = new RouteTable([], NO_BUILTINS)
    t.add(givenRoute('/app', 'GET', '/users/:id', './g.ts#g', 0))
    expect(() => t.build([declared('GET', '/users/:id', 'getUser')], 0, health)).toThrow('Route GET /users/:id is declared twice: by /app/g.ts#g and by /app/routes.ts#getUser')
  })

  it('give each generation costs of its own, learned per route', () => {
    const t = new RouteTable([], NO_BUILTINS)
    t.add(givenRoute('/app', 'GET', '/x', './x.ts#x', 0))
    const one = t.build([], 0, health)
    one.list[0].cost.observe(4)
    expect(one.list[0].cost.expected).toBe(4)
    expect(t.build([], 0, health).list[0].cost.expected).toBeLessThan(1)
  })

  it('have the built-in endpoints the options name, and none they turn off', () => {
    const t = new RouteTable([], { livePath: '/live', readyPath: null, openapiPath: '/spec.json', docsPath: null, docsInfo: { title: 't', version: '1' } })
    const routes = t.build([declared('GET', '/a', 'a')], 0, health)
    expect([...routes.builtins.keys()]).toEqual(['/live', '/spec.json'])
  })
})
