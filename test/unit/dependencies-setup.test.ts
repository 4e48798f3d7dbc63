// Dependencies and per-isolate resources (src/isolate/dependencies.ts) beyond the plan's order:
// what counts as a dependency (also from a second copy of the module), what a run does with
// values that are not promises, the errors that name the route, and setup() resources.
import { describe, expect, it } from 'vitest'
import { runInThisContext } from 'node:vm'
import { depends, isResource, planDependencies, runPlan, setup, startRecording, stopRecording } from '../../src/isolate/dependencies.ts'
import type { Dependency } from '../../src/isolate/dependencies.ts'
import type { IsopoolError } from '../../src/shared/errors.ts'

const refusal = (fn: () => unknown): IsopoolError => {
  try { fn() } catch (err) { return err as IsopoolError }
  throw new Error('no error')
}

describe('depends', () => {
  it('names a dependency after its function, and an anonymous one somehow', () => {
    expect(depends(function currentUser () { return 1 }).name).toBe('currentUser')
    const anonymous = depends(() => 1)
    expect(anonymous.name).toMatch(/\S/)
    expect(anonymous.needs).toEqual({})
    expect(Object.isFrozen(anonymous)).toBe(true)
  })

  it('is recognized by its mark, as one made by another copy of this module would be', () => {
    const foreign = { [Symbol.for('isopool.dependency')]: true, fn: () => 'from elsewhere', needs: {}, name: 'foreign' } as unknown as Dependency
    expect(runPlan(planDependencies({ foreign }, 'GET /x'), {})).toEqual({ foreign: 'from elsewhere' })
  })
})

describe('planDependencies', () => {
  it('refuses what is not a dependency, with the route and the path to it', () => {
    const inner = depends(() => 1, { bad: 5 } as never)
    for (const value of [null, undefined, 0, 'x', {}, () => 1, { [Symbol.for('isopool.dependency')]: 'yes' }]) {
      const err = refusal(() => planDependencies({ top: depends(() => 1, { v: value } as never) }, 'GET /r'))
      expect(err.code, String(value)).toBe('ISOPOOL_ERR_INVALID_ROUTE')
    }
    const err = refusal(() => planDependencies({ top: depends(() => 1, { inner }) }, 'GET /deep'))
    expect(err.message).toMatch(/^Invalid route +GET \/deep: dependency top → inner → bad is not made with depends\(\)$/)
  })

  it('names the cycle and the route', () => {
    const a: { needs: Record<string, unknown> } = depends(() => 1) as never
    const b = depends(() => 2, { a: a as never })
    ;(a.needs as Record<string, unknown>).b = b
    expect(refusal(() => planDependencies({ a }, 'GET /loop')).message).toMatch(/^Invalid route +GET \/loop: dependency cycle: a → b → a$/)
  })

  it('runs a dependency shared along two paths once', () => {
    let runs = 0
    const base = depends(() => ++runs)
    const left = depends((_r, { base }) => `L${base}`, { base })
    const right = depends((_r, { base }) => `R${base}`, { base })
    const plan = planDependencies({ left, right, base }, 'GET /diamond')
    expect(plan.steps).toHaveLength(3)
    expect(runPlan(plan, {})).toEqual({ left: 'L1', right: 'R1', base: 1 })
    expect(runs).toBe(1)
  })
})

describe('runPlan', () => {
  it('passes null, undefined, functions and thenable-less objects on as values, synchronously', () => {
    const fn = (): number => 1
    const values = { n: depends(() => null), u: depends(() => undefined), f: depends(() => fn), o: depends(() => ({ then: 1 })), s: depends(() => 'then') }
    const out = runPlan(planDependencies(values, 'GET /v'), {})
    expect(out).not.toBeInstanceOf(Promise)
    expect(out).toEqual({ n: null, u: undefined, f: fn, o: { then: 1 }, s: 'then' })
  })

  it('waits for a thenable, and hands the request to every dependency', async () => {
    const req = { id: 'req' }
    const seen: unknown[] = []
    const t = depends((r) => { seen.push(r); return { then: (resolve: (v: number) => void) => resolve(7) } })
    const after = depends((r, { t }) => { seen.push(r); return (t as number) * 2 }, { t })
    const out = runPlan(planDependencies({ after }, 'GET /t'), req)
    expect(out).toBeInstanceOf(Promise)
    expect(await out).toEqual({ after: 14 })
    expect(seen).toEqual([req, req])
  })
})

describe('setup resources', () => {
  it('open once, give their value only while open, and close once with it', async () => {
    const closed: number[] = []
    let opens = 0
    const r = setup(async () => ++opens * 10, v => { closed.push(v) })
    expect(isResource(r)).toBe(true)
    expect(() => r.value).toThrow(/read before its isolate set it up/)
    const state = r as unknown as { open (): Promise<void>, close (): Promise<void> }
    await state.close() // never opened: nothing to close
    expect(closed).toEqual([])
    await state.open()
    await state.open()
    expect([r.value, opens]).toEqual([10, 1])
    await state.close()
    await state.close()
    expect(closed).toEqual([10])
    expect(() => r.value).toThrow(/read before its isolate set it up/)
    await state.open()
    expect(r.value).toBe(20)
  })

  it('need no close function', async () => {
    const r = setup(() => 'v') as unknown as { open (): Promise<void>, close (): Promise<void>, value: string }
    await r.open()
    await r.close()
    expect(() => r.value).toThrow()
  })

  it('are recognized by their mark, and nothing else is', () => {
    expect(isResource({ [Symbol.for('isopool.resource')]: true })).toBe(true)
    for (const v of [null, undefined, 1, 'r', {}, { [Symbol.for('isopool.resource')]: 1 }, depends(() => 1)]) expect(isResource(v), String(v)).toBe(false)
  })

  it('are recorded while recording, with the module that called setup(), and only then', () => {
    const limit = Error.stackTraceLimit
    const list = startRecording()
    try {
      expect((globalThis as Record<symbol, unknown>)[Symbol.for('isopool.declaredResources')]).toBe(list)
      // Handler modules at known URLs: a named caller, an anonymous one, a port and line numbers over 9.
      const pad = '\n'.repeat(11)
      new Function('setup', `${pad}return setup(() => 1)\n//# sourceURL=file:///app/routes/users.ts`)(setup)
      new Function('setup', `${pad}return (function inner () { return setup(() => 2) })()\n//# sourceURL=http://localhost:8080/m.js`)(setup)
      new Function('setup', `${pad}return [0].map(() => setup(() => 3))[0]\n//# sourceURL=https://cdn.example:8443/lib/a.js`)(setup)
      // As a module's top level shows in a stack: a frame without a function name or parentheses.
      const topLevel = runInThisContext(`${pad}(setup) => setup(() => 4)`, { filename: 'file:///app/routes/top.ts' }) as (s: typeof setup) => unknown
      topLevel(setup)
    } finally {
      stopRecording()
    }
    expect(list.map(d => d.module)).toEqual(['file:///app/routes/users.ts', 'http://localhost:8080/m.js', 'https://cdn.example:8443/lib/a.js', 'file:///app/routes/top.ts'])
    expect(list.every(d => isResource(d.resource))).toBe(true)
    expect(Error.stackTraceLimit).toBe(limit)
    expect(Symbol.for('isopool.declaredResources') in globalThis).toBe(false)
    setup(() => 5)
    expect(list).toHaveLength(4)
  })
})
