// The middleware options as the isolates take them (IsolateInit.middleware, RouteSpec.middleware):
// `module#export` each, relative to `root` (the default export without `#`), resolved here into
// `file URL#export` as handlers are (route-table.ts resolveHandler). The isolates import them and
// compose each route's chain at start-up (src/isolate/loader.ts, src/isolate/middleware.ts).

import { IsopoolError } from '../shared/errors.ts'
import { resolveHandler } from './route-table.ts'
import { badOption } from './services.ts'

/** The `middleware` option: run for every routed request. ISOPOOL_ERR_INVALID_OPTION when it is
 * not a list of `module#export` strings. */
export function globalMiddleware (root: string, value: unknown): string[] {
  if (value === undefined) return []
  const specs = resolveList(root, value)
  if (typeof specs === 'string') badOption('middleware', specs)
  return specs
}

/** A given route's own `middleware` option, run after the global ones; undefined for none.
 * ISOPOOL_ERR_INVALID_ROUTE when it is not a list of `module#export` strings. */
export function routeMiddleware (root: string, method: string, path: string, value: unknown): string[] | undefined {
  if (value === undefined) return undefined
  const specs = resolveList(root, value)
  if (typeof specs === 'string') throw new IsopoolError('ISOPOOL_ERR_INVALID_ROUTE', { method, path, reason: `middleware ${specs}` })
  return specs.length === 0 ? undefined : specs
}

/** Each `module#export` as `file URL#export`, or why the value is not such a list. */
function resolveList (root: string, value: unknown): string[] | string {
  if (!Array.isArray(value)) return `must be an array of "module#export" strings, got ${value === null ? 'null' : typeof value}`
  const out: string[] = []
  for (let i = 0; i < value.length; i++) {
    const spec: unknown = value[i]
    let resolved: { module: string, export: string } | null = null
    try {
      resolved = resolveHandler(root, '', '', spec)
    } catch {}
    if (resolved === null) return `[${i}] must be a "module#export" string with a module path and an export name, got ${typeof spec === 'string' ? JSON.stringify(spec) : spec === null ? 'null' : typeof spec}`
    out.push(`${resolved.module}#${resolved.export}`)
  }
  return out
}
