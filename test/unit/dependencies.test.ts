// Planning of a typed route's dependencies, done once per isolate: run order, sharing, cycles.
import { describe, expect, it } from 'vitest'
import { depends } from 'isopool/handler'
import { planDependencies, runPlan } from '../../src/isolate/dependencies.ts'

describe('planDependencies', () => {
  it('orders every dependency after what it needs, each once however many need it', () => {
    const calls: string[] = []
    const config = depends(function config () { calls.push('config'); return { dsn: 'x' } })
    const db = depends(function db (_req, { config }) { calls.push('db'); return `db(${config.dsn})` }, { config })
    const user = depends(function user (_req, { db, config }) { calls.push('user'); return `user via ${db} ${config.dsn}` }, { db, config })
    const plan = planDependencies({ user, db }, 'GET /me')
    expect(plan.steps.map(s => s.dep.name)).toEqual(['config', 'db', 'user'])
    expect(runPlan(plan, {})).toEqual({ user: 'user via db(x) x', db: 'db(x)' })
    expect(calls).toEqual(['config', 'db', 'user'])
  })

  it('stays synchronous when every dependency is, and awaits from the first promise on', async () => {
    const a = depends(() => 1)
    const b = depends(async (_req, { a }) => a + 1, { a })
    const c = depends((_req, { b }) => b * 10, { b })
    expect(runPlan(planDependencies({ a }, 'r'), {})).toEqual({ a: 1 })
    const pending = runPlan(planDependencies({ c }, 'r'), {})
    expect(pending).toBeInstanceOf(Promise)
    expect(await pending).toEqual({ c: 20 })
  })

  it('refuses a cycle and a dependency not made with depends(), naming the path', () => {
    const a: { needs: Record<string, unknown> } = depends(() => 1) as never
    const b = depends(() => 2, { a: a as never })
    ;(a.needs as Record<string, unknown>).b = b // a → b → a
    expect(() => planDependencies({ a }, 'GET /loop')).toThrow(/dependency cycle: a → b → a/)
    expect(() => planDependencies({ x: () => 1 }, 'GET /plain')).toThrow(/dependency x is not made with depends\(\)/)
  })
})
