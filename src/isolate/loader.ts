// Importing the handler modules, once per isolate at start-up. Each isolate imports for itself,
// so module-level state (a cache, a counter, a database handle) belongs to one isolate.
//
// Two kinds of route: those named by `module#export` (plain handlers), and route() declarations
// found in the modules given as `discover`, which are compiled into adapters here.

import { IsopoolError } from '../shared/errors.ts'
import { compilePath } from '../shared/path-pattern.ts'
import { modulePath } from '../shared/protocol.ts'
import type { ManifestRoute, RouteSpec } from '../shared/protocol.ts'
import { isResource } from './dependencies.ts'
import { compileAdapter, isRouteDeclaration, manifestEntry } from './typed-route.ts'
import { load as loadTypebox } from './typebox.ts'
import type { AdapterOptions } from './typed-route.ts'

export type Handler = (req: unknown) => unknown

export interface LoadedHandlers {
  /** Indexed like the routes: the given ones, then the discovered ones. */
  handlers: Handler[]
  /** `module#export`, for messages. */
  names: string[]
  /** The discovered routes, for the main thread. */
  manifest: ManifestRoute[]
  /** Closes the setup() resources, last opened first. */
  teardown: () => Promise<void>
}

async function importModule (url: string): Promise<Record<string, unknown>> {
  try {
    return await import(url) as Record<string, unknown>
  } catch (err) {
    throw new IsopoolError('ISOPOOL_ERR_MODULE_IMPORT', { module: modulePath(url), reason: (err as Error)?.message ?? String(err) }, { cause: err })
  }
}

export async function loadHandlers (modules: string[], routes: RouteSpec[], discover: string[], options: AdapterOptions): Promise<LoadedHandlers> {
  const namespaces = await Promise.all(modules.map(importModule))
  const discovered = await Promise.all(discover.map(importModule))
  // TypeBox's compiler only when there is a typed route to compile (src/isolate/typebox.ts).
  if ([...namespaces, ...discovered].some(ns => Object.values(ns).some(isRouteDeclaration))) await loadTypebox()
  const handlers: Handler[] = []
  const names: string[] = []
  for (const route of routes) {
    const ns = namespaces[route.module]
    const module = modulePath(modules[route.module])
    if (!(route.export in ns)) throw new IsopoolError('ISOPOOL_ERR_EXPORT_MISSING', { module, export: route.export })
    let fn = ns[route.export]
    // A route() declaration named explicitly serves through its adapter.
    if (isRouteDeclaration(fn)) fn = compileAdapter(fn, options)
    if (typeof fn !== 'function') {
      throw new IsopoolError('ISOPOOL_ERR_EXPORT_NOT_FUNCTION', { module, export: route.export, type: fn === null ? 'null' : typeof fn })
    }
    handlers.push(fn as Handler)
    names.push(`${module}#${route.export}`)
  }
  const manifest: ManifestRoute[] = []
  discovered.forEach((ns, i) => {
    // Module namespaces list their exports in name order: every isolate numbers routes alike.
    for (const name of Object.keys(ns)) {
      const decl = ns[name]
      if (!isRouteDeclaration(decl)) continue
      const entry = manifestEntry(decl, discover[i], name)
      compilePath(entry.method, entry.path)
      manifest.push(entry)
      handlers.push(compileAdapter(decl, options) as Handler)
      names.push(`${modulePath(discover[i])}#${name}`)
    }
  })
  // Per-isolate resources: open them all before the isolate says it is ready.
  const resources = [...namespaces, ...discovered].flatMap(ns => Object.keys(ns).map(k => ns[k]).filter(isResource))
  const opened: typeof resources = []
  for (const r of new Set(resources)) {
    await r.open()
    opened.push(r)
  }
  const teardown = async (): Promise<void> => {
    for (const r of opened.reverse()) {
      try { await r.close() } catch (err) { console.error('isopool: a setup() teardown failed:', err) }
    }
  }
  return { handlers, names, manifest, teardown }
}
