// Dependencies of typed routes and per-isolate resources.
//
//   const db = setup(() => new DatabaseSync(file), db => db.close())   // once per isolate
//   const user = depends(async req => authenticate(req.headers.authorization))
//   const account = depends((req, { user }) => db.value.load(user.id), { user })
//   export const me = route({ method: 'GET', path: '/me', deps: { account } }, (req, { account }) => account)
//
// A route's dependency graph is flattened into a run order when its isolate starts; per request
// each dependency runs once, in that order, and may throw an HttpError to answer for the route.

import { IsopoolError } from '../shared/errors.ts'
import type { IsolateRequest } from './request.ts'

const DEPENDENCY = Symbol.for('isopool.dependency')
const RESOURCE = Symbol.for('isopool.resource')

export type DepValues<D> = { [K in keyof D]: D[K] extends Dependency<infer T> ? Awaited<T> : never }

export interface Dependency<T = unknown> {
  readonly [DEPENDENCY]: true
  readonly fn: (req: IsolateRequest, deps: never) => T
  readonly needs: Record<string, Dependency>
  readonly name: string
}

/** Declare a dependency: a function of the request (and of the dependencies it `needs`). */
export function depends<T, const N extends Record<string, Dependency> = Record<string, never>> (
  fn: (req: IsolateRequest, deps: DepValues<N>) => T,
  needs?: N
): Dependency<T> {
  return Object.freeze({ [DEPENDENCY]: true as const, fn: fn as Dependency<T>['fn'], needs: needs ?? {}, name: fn.name || 'anonymous' })
}

function isDependency (value: unknown): value is Dependency {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[DEPENDENCY] === true
}

/** A step of a compiled plan: run `dep` with the values of `inputs` (indexes of earlier steps). */
interface Step {
  dep: Dependency
  inputs: [string, number][]
}

export interface DependencyPlan {
  steps: Step[]
  /** The route's own deps: name → step index. */
  outputs: [string, number][]
}

/** Order a route's dependencies so each runs after what it needs, once. Throws on a cycle. */
export function planDependencies (deps: Record<string, unknown>, route: string): DependencyPlan {
  const steps: Step[] = []
  const index = new Map<Dependency, number>()
  const visiting = new Set<Dependency>()
  const visit = (dep: unknown, path: string[]): number => {
    if (!isDependency(dep)) throw new IsopoolError('ISOPOOL_ERR_INVALID_ROUTE', { method: '', path: route, reason: `dependency ${path.join(' → ')} is not made with depends()` })
    const known = index.get(dep)
    if (known !== undefined) return known
    if (visiting.has(dep)) throw new IsopoolError('ISOPOOL_ERR_INVALID_ROUTE', { method: '', path: route, reason: `dependency cycle: ${path.join(' → ')}` })
    visiting.add(dep)
    const inputs = Object.entries(dep.needs).map(([name, d]) => [name, visit(d, [...path, name])] as [string, number])
    visiting.delete(dep)
    steps.push({ dep, inputs })
    index.set(dep, steps.length - 1)
    return steps.length - 1
  }
  const outputs = Object.entries(deps).map(([name, d]) => [name, visit(d, [name])] as [string, number])
  return { steps, outputs }
}

/**
 * Run a plan for one request. Synchronous all the way when every dependency is (no promise,
 * no tick); otherwise continues asynchronously from the first promise.
 */
export function runPlan (plan: DependencyPlan, req: unknown): Record<string, unknown> | Promise<Record<string, unknown>> {
  const values: unknown[] = new Array(plan.steps.length)
  const step = (from: number): Record<string, unknown> | Promise<Record<string, unknown>> => {
    for (let i = from; i < plan.steps.length; i++) {
      const { dep, inputs } = plan.steps[i]
      const args: Record<string, unknown> = {}
      for (const [name, at] of inputs) args[name] = values[at]
      const v = (dep.fn as (req: unknown, deps: unknown) => unknown)(req, args)
      if (v !== null && typeof v === 'object' && typeof (v as PromiseLike<unknown>).then === 'function') {
        return Promise.resolve(v).then((resolved) => { values[i] = resolved; return step(i + 1) })
      }
      values[i] = v
    }
    const out: Record<string, unknown> = {}
    for (const [name, at] of plan.outputs) out[name] = values[at]
    return out
  }
  return step(0)
}

// ── per-isolate resources ───────────────────────────────────────────────────────────────────

export interface Resource<T> {
  readonly [RESOURCE]: true
  /** The value setup produced; available once the isolate is ready. */
  readonly value: T
}

interface ResourceState<T> extends Resource<T> {
  open (): Promise<void>
  close (): Promise<void>
}

/**
 * Declare a per-isolate resource in a handler module: `open` runs once in each isolate before it
 * takes requests (awaited), `close` when the isolate stops. Export it so the isolate finds it.
 */
export function setup<T> (open: () => T | Promise<T>, close?: (value: T) => unknown): Resource<T> {
  let value: T
  let ready = false
  const state: ResourceState<T> = {
    [RESOURCE]: true,
    get value (): T {
      if (!ready) throw new Error('isopool: a setup() resource was read before its isolate set it up (is it exported from a module isopool loads?)')
      return value
    },
    async open () {
      if (ready) return
      value = await open()
      ready = true
    },
    async close () {
      if (!ready) return
      ready = false
      await close?.(value)
    }
  }
  const declared = (globalThis as Record<symbol, unknown>)[DECLARED] as DeclaredResource[] | undefined
  if (declared !== undefined) declared.push({ resource: state, module: callerModule() })
  return state
}

// The setup() calls made while an isolate imports its modules are recorded (src/isolate/loader.ts
// starts and ends the record), so that one no served module exports — it would never be opened,
// and every request that reads it would fail — fails the isolate's start instead. On globalThis:
// a second copy of this module (another path to it) records into the same list.
const DECLARED = Symbol.for('isopool.declaredResources')

export interface DeclaredResource {
  resource: ResourceState<unknown>
  /** URL of the module whose code called setup(), when the stack says. */
  module: string | undefined
}

/** Record the setup() calls from now on, into the list returned; stopRecording() ends it. */
export function startRecording (): DeclaredResource[] {
  const list: DeclaredResource[] = []
  ;(globalThis as Record<symbol, unknown>)[DECLARED] = list
  return list
}

export function stopRecording (): void {
  delete (globalThis as Record<symbol, unknown>)[DECLARED]
}

/** The URL of the module that called setup(): the first frame of the stack outside this file. */
function callerModule (): string | undefined {
  const limit = Error.stackTraceLimit
  const holder: { stack?: string } = {}
  try {
    Error.stackTraceLimit = 3
    Error.captureStackTrace(holder, setup)
  } finally {
    Error.stackTraceLimit = limit
  }
  const stack = typeof holder.stack === 'string' ? holder.stack : ''
  for (const line of stack.split('\n').slice(1)) {
    const m = /((?:file|data|https?):[^\s)]+?)(?::\d+){1,2}\)?\s*$/.exec(line)
    if (m !== null && m[1] !== import.meta.url) return m[1]
  }
  return undefined
}

export function isResource (value: unknown): value is ResourceState<unknown> {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[RESOURCE] === true
}
