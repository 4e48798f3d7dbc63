// Importing the handler modules, once per isolate at start-up. Each isolate imports for itself,
// so module-level state (a cache, a counter, a database handle) belongs to one isolate.

import { IsopoolError } from '../shared/errors.ts'
import type { RouteSpec } from '../shared/protocol.ts'

export type Handler = (req: unknown) => unknown

export interface LoadedHandlers {
  /** Indexed like the routes. */
  handlers: Handler[]
  /** `module#export`, for messages. */
  names: string[]
}

export async function loadHandlers (modules: string[], routes: RouteSpec[]): Promise<LoadedHandlers> {
  const namespaces = await Promise.all(modules.map(async (url) => {
    try {
      return await import(url) as Record<string, unknown>
    } catch (err) {
      throw new IsopoolError('ISOPOOL_ERR_MODULE_IMPORT', { module: displayPath(url), reason: (err as Error)?.message ?? String(err) }, { cause: err })
    }
  }))
  const handlers: Handler[] = []
  const names: string[] = []
  for (const route of routes) {
    const ns = namespaces[route.module]
    const module = displayPath(modules[route.module])
    if (!(route.export in ns)) throw new IsopoolError('ISOPOOL_ERR_EXPORT_MISSING', { module, export: route.export })
    const fn = ns[route.export]
    if (typeof fn !== 'function') {
      throw new IsopoolError('ISOPOOL_ERR_EXPORT_NOT_FUNCTION', { module, export: route.export, type: fn === null ? 'null' : typeof fn })
    }
    handlers.push(fn as Handler)
    names.push(`${module}#${route.export}`)
  }
  return { handlers, names }
}

function displayPath (url: string): string {
  return url.startsWith('file:') ? decodeURIComponent(new URL(url).pathname) : url
}
