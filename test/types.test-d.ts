// What route() and depends() make of a handler's types, asserted where a checker runs them:
// `npm run typecheck` (tsc --noEmit; tsconfig.json includes test/) checks this file, and vitest
// never runs it (its include is test/**/*.test.ts; `vitest --typecheck` would pick up *.test-d.ts).
// These assertions used to sit inside handlers in typed-routes.test.ts, in `it` blocks that could
// not fail under `vitest run`: the handlers never ran there.
//
// Each check is paired with a `@ts-expect-error` line that a wrong type must trip: were a check
// here not looked at, or the types it checks to collapse to `any`, the directive would be unused,
// and that is an error of its own.
import { expectTypeOf } from 'vitest'
import { Type } from 'typebox'
import { depends, route } from 'isopool'
import type { Middleware } from 'isopool'

// ── a typed route: params, query and body from their schemas ──────────────────────────────────

export const typed = route({
  method: 'POST',
  path: '/t/:id',
  params: Type.Object({ id: Type.Integer() }),
  query: Type.Object({ q: Type.Optional(Type.String()) }),
  body: Type.Object({ items: Type.Array(Type.Object({ price: Type.Number() })) })
}, (req) => {
  // In the handler itself, as its author writes it:
  const id: number = req.params.id
  // @ts-expect-error the id is a number once validated, not the string it was in the URL
  const raw: string = req.params.id
  return { id, raw }
})

type TypedReq = Parameters<typeof typed.handler>[0]
expectTypeOf<TypedReq['params']['id']>().toEqualTypeOf<number>()
expectTypeOf<TypedReq['query']['q']>().toEqualTypeOf<string | undefined>()
expectTypeOf<TypedReq['body']['items'][number]['price']>().toEqualTypeOf<number>()
// @ts-expect-error not a string
expectTypeOf<TypedReq['params']['id']>().toEqualTypeOf<string>()
// @ts-expect-error an optional query field may be absent
expectTypeOf<TypedReq['query']['q']>().toEqualTypeOf<string>()
// @ts-expect-error the body is the schema's value, not its bytes
expectTypeOf<TypedReq['body']>().toEqualTypeOf<Uint8Array>()

// ── a route without schemas: the raw request ──────────────────────────────────────────────────

export const plain = route({ method: 'GET', path: '/plain' }, () => null)

type PlainReq = Parameters<typeof plain.handler>[0]
expectTypeOf<PlainReq['body']>().toEqualTypeOf<Uint8Array>()
expectTypeOf<PlainReq['params']>().toEqualTypeOf<Record<string, string>>()
// @ts-expect-error without a body schema the body is bytes, not a parsed value
expectTypeOf<PlainReq['body']>().toEqualTypeOf<unknown>()

// ── dependencies: their values reach the handler awaited and typed ────────────────────────────

const n = depends(() => 41)
const s = depends(async (_req, { n }) => `${n + 1}`, { n })

export const withDeps = route({ method: 'GET', path: '/typed-deps', deps: { n, s } }, (_req, deps) => {
  const sum: number = deps.n + 1
  // @ts-expect-error s resolves to a string: it is awaited before the handler runs
  const pending: Promise<string> = deps.s
  return { sum, pending }
})

type Deps = Parameters<typeof withDeps.handler>[1]
expectTypeOf<Deps['n']>().toEqualTypeOf<number>()
expectTypeOf<Deps['s']>().toEqualTypeOf<string>()
// @ts-expect-error awaited, never the promise
expectTypeOf<Deps['s']>().toEqualTypeOf<Promise<string>>()

// ── middleware: (req, next) => Response, next() the route's Response ──────────────────────────

export const stamp: Middleware = async (req, next) => {
  expectTypeOf(req.method).toEqualTypeOf<string>()
  const res = await next()
  expectTypeOf(res).toEqualTypeOf<Response>()
  res.headers.set('x-stamp', '1')
  return res
}
// @ts-expect-error a middleware answers with a Response, not a value to serialize
export const notResponse: Middleware = async () => ({ ok: true })
export const withMiddleware = route({ method: 'GET', path: '/mw', middleware: [stamp] }, () => 'ok')
export const withStrings = route({ method: 'GET', path: '/mw2', middleware: ['./mw.ts#stamp', stamp] }, () => 'ok')
// @ts-expect-error a route() declaration's middleware are functions or module#export strings
export const withNumber = route({ method: 'GET', path: '/mw3', middleware: [42] }, () => 'ok')
