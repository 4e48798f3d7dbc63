// Middleware in the isolates, in Hono's and Koa's shape: `(req, next) => Response | Promise<Response>`.
//
//   global[0] ─next()─▶ global[1] ─▶ … ─▶ the route's ─▶ … ─▶ the handler
//       ◀──────────────────────── Response ◀──────────────────── what it returned or threw,
//                                                                as the Response isopool would send
//
// A route's chain is composed once, when its isolate loads the route (src/isolate/loader.ts); a
// route without middleware keeps its plain handler and pays nothing for this file. Per request a
// chain costs one next() closure per middleware, and the handler's outcome made a Web Response
// (ResponseWriter.toResponse, from the decisions the frame writer makes): what next() resolves
// with. Every outcome reaches the middleware as a Response — the handler's value, its HttpError,
// a typed route's 422, a bug's 500, an inner middleware's throw or bad return — so the composed
// function never throws and never rejects: the worker sends the Response it ends with as a
// handler's Response.

import { IsopoolError } from '../shared/errors.ts'
import { describeThrown } from './describe.ts'
import type { IsolateRequest } from './request.ts'

/**
 * A middleware: runs before the route's handler and gets, from `await next()`, the Response the
 * route would send; returns that Response, changed (its headers are mutable) or replaced, or one
 * of its own without calling next() (an auth check). May throw an HttpError, answered as usual.
 * next() may be called once.
 */
export type Middleware = (req: IsolateRequest, next: () => Promise<Response>) => Response | Promise<Response>

type RouteHandler = (req: IsolateRequest) => unknown

/** What a chain returns, given `done`, when its answer comes later: it goes to `done`. */
export const LATER: unique symbol = Symbol('isopool.later')

/**
 * A composed chain: the Response it ends with, synchronously when a middleware answers
 * synchronously. Given `done`, an answer that comes later (a middleware that returned a
 * promise) is handed to `done` and LATER is returned instead of a promise: the worker then
 * chains no promise of its own on it — one promise, its reaction and a microtask fewer a request.
 */
export interface Chain {
  (req: IsolateRequest): Response | Promise<Response>
  (req: IsolateRequest, done: (res: Response) => void): Response | Promise<Response> | typeof LATER
}

/** What a chain asks of the worker that runs it. */
export interface ChainHooks {
  /** Run route `route`'s handler (the innermost next()): the worker times its synchronous part. */
  call (route: number, handler: RouteHandler, req: IsolateRequest): unknown
  /** The Response for what the handler returned or (`threw`) threw; `by` names the middleware
   * when it was one's doing, for the log line of a 500. Never throws or rejects. */
  toResponse (route: number, outcome: unknown, threw: boolean, req: IsolateRequest, by?: string): Response | Promise<Response>
}

/**
 * The function that serves route `route` through `chain` (in order, `names[i]` naming `chain[i]`
 * in errors) and then `handler`. It returns a Response, synchronously when a middleware answers
 * synchronously, and never throws or rejects.
 */
export function compose (route: number, chain: readonly Middleware[], names: readonly string[], handler: RouteHandler, hooks: ChainHooks): Chain {
  const n = chain.length
  const answer = (req: IsolateRequest, outcome: unknown, threw: boolean, by?: string): Response | Promise<Response> =>
    hooks.toResponse(route, outcome, threw, req, by)

  const handle = (req: IsolateRequest): Response | Promise<Response> => {
    let value: unknown
    try {
      value = hooks.call(route, handler, req)
    } catch (err) {
      return answer(req, err, true)
    }
    if (isThenable(value)) return Promise.resolve(value).then(v => answer(req, v, false), err => answer(req, err, true))
    return answer(req, value, false)
  }

  const notResponse = (req: IsolateRequest, i: number, value: unknown): Response | Promise<Response> =>
    answer(req, new IsopoolError('ISOPOOL_ERR_MIDDLEWARE', { middleware: names[i], type: returned(value) }), true, names[i])

  /** Layer `i`'s answer: what middleware `i` returned, checked, or what it threw, answered.
   * `done` (the outermost layer's only): where an answer that comes later goes (Chain). */
  const enter = (req: IsolateRequest, i: number, done?: (res: Response) => void): Response | Promise<Response> | typeof LATER => {
    if (i === n) return handle(req)
    let out: unknown
    try {
      out = chain[i](req, nextOf(req, i))
    } catch (err) {
      return answer(req, err, true, names[i])
    }
    if (out instanceof Response) return out
    if (isThenable(out)) {
      if (done !== undefined) {
        Promise.resolve(out).then(
          v => { deliver(v instanceof Response ? v : notResponse(req, i, v), done) },
          err => { deliver(answer(req, err, true, names[i]), done) }
        )
        return LATER
      }
      return Promise.resolve(out).then(
        v => v instanceof Response ? v : notResponse(req, i, v),
        err => answer(req, err, true, names[i])
      )
    }
    return notResponse(req, i, out)
  }

  const nextOf = (req: IsolateRequest, i: number): () => Promise<Response> => {
    let called = false
    return () => {
      if (called) {
        const refused = Promise.reject(new IsopoolError('ISOPOOL_ERR_MIDDLEWARE_NEXT', { middleware: names[i] }))
        // Awaited, it throws in the middleware; left alone, it must not end the isolate as an
        // unhandled rejection would.
        refused.catch(() => {})
        return refused
      }
      called = true
      return Promise.resolve(enter(req, i + 1) as Response | Promise<Response>)
    }
  }

  return ((req: IsolateRequest, done?: (res: Response) => void) => enter(req, 0, done)) as Chain
}

/** Hand `r` to `done` once it is a Response (toResponse's promises never reject). */
function deliver (r: Response | Promise<Response>, done: (res: Response) => void): void {
  if (r instanceof Response) done(r)
  else void r.then(done)
}

function isThenable (value: unknown): value is PromiseLike<unknown> {
  return value !== null && typeof value === 'object' && typeof (value as PromiseLike<unknown>).then === 'function'
}

/** What a middleware returned instead of a Response, for ISOPOOL_ERR_MIDDLEWARE. */
function returned (value: unknown): string {
  return value === undefined ? 'undefined (return the Response of next(), or one of its own)' : describeThrown(value)
}

/** A middleware's name in errors: `module#export`, or for a function given in a route()
 * declaration, its place and its function name. */
export function middlewareName (fn: unknown, at: string, i: number): string {
  const name = typeof fn === 'function' && typeof fn.name === 'string' && fn.name !== '' ? fn.name : 'anonymous'
  return `${at} middleware[${i}] (${name})`
}
