// Importing the handler modules, once per isolate at start-up. Each isolate imports for itself,
// so module-level state (a cache, a counter, a database handle) belongs to one isolate.
//
// Two kinds of route: those named by `module#export` (plain handlers), and route() declarations
// found in the modules given as `discover`, which are compiled into adapters here.

import { IsopoolError } from '../shared/errors.ts'
import { compilePath } from '../shared/path-pattern.ts'
import { modulePath } from '../shared/protocol.ts'
import type { ManifestRoute, RouteSpec } from '../shared/protocol.ts'
import { isResource, startRecording, stopRecording } from './dependencies.ts'
import type { DeclaredResource } from './dependencies.ts'
import { compose, middlewareName } from './middleware.ts'
import type { ChainHooks, Middleware } from './middleware.ts'
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
  /** Some route runs middleware. */
  chained: boolean
  /** Indexed like `handlers`: whether the route's handler is a composed chain (a Chain). */
  chains: boolean[]
}

/** The middleware to compose into the routes: the global ones (`module URL#export`, the
 * `middleware` option) and what the chains ask of the worker. */
export interface MiddlewarePlan {
  global: string[]
  hooks: ChainHooks
}

async function importModule (url: string): Promise<Record<string, unknown>> {
  try {
    return await import(url) as Record<string, unknown>
  } catch (err) {
    throw new IsopoolError('ISOPOOL_ERR_MODULE_IMPORT', { module: modulePath(url), reason: (err as Error)?.message ?? String(err) }, { cause: err })
  }
}

/** Import `urls` one at a time, noting for each setup() call made meanwhile which of them it was
 * imported for (`importedBy`, indexed like `declared`). */
async function importEach (urls: string[], declared: DeclaredResource[], importedBy: string[]): Promise<Record<string, unknown>[]> {
  const namespaces: Record<string, unknown>[] = []
  for (const url of urls) {
    const before = declared.length
    namespaces.push(await importModule(url))
    for (let i = before; i < declared.length; i++) importedBy[i] = url
  }
  return namespaces
}

export async function loadHandlers (modules: string[], routes: RouteSpec[], discover: string[], options: AdapterOptions, middleware: MiddlewarePlan | null = null): Promise<LoadedHandlers> {
  // Every setup() the imports make is recorded: one that no served module exports is never
  // opened, and fails the start below rather than every request that reads it.
  const declared = startRecording()
  const importedBy: string[] = []
  let namespaces: Record<string, unknown>[]
  let discovered: Record<string, unknown>[]
  let mwModules: string[] = []
  let mwNamespaces: Record<string, unknown>[]
  try {
    namespaces = await importEach(modules, declared, importedBy)
    discovered = await importEach(discover, declared, importedBy)
    // The middleware modules are served modules too: their setup() resources are opened. Those a
    // route() declaration names as strings are relative to the module that declares it.
    const declaredSpecs = [
      ...routes.flatMap(r => declaredStrings(namespaces[r.module][r.export], modules[r.module])),
      ...discovered.flatMap((ns, i) => Object.values(ns).flatMap(decl => declaredStrings(decl, discover[i])))
    ]
    mwModules = [...new Set([...(middleware?.global ?? []), ...routes.flatMap(r => r.middleware ?? []), ...declaredSpecs].map(spec => splitSpec(spec).module))]
    mwNamespaces = await importEach(mwModules, declared, importedBy)
  } finally {
    stopRecording()
  }
  // Each middleware export found once, before any route is composed: a missing one fails here.
  const mwNamed = (spec: string): { fn: Middleware, name: string } => {
    const { module: url, export: name } = splitSpec(spec)
    const ns = mwNamespaces[mwModules.indexOf(url)]
    const module = modulePath(url)
    if (!(name in ns)) throw new IsopoolError('ISOPOOL_ERR_EXPORT_MISSING', { module, export: name })
    const fn = ns[name]
    if (typeof fn !== 'function') throw new IsopoolError('ISOPOOL_ERR_EXPORT_NOT_FUNCTION', { module, export: name, type: fn === null ? 'null' : typeof fn })
    return { fn: fn as Middleware, name: `${module}#${name}` }
  }
  const global = (middleware?.global ?? []).map(mwNamed)
  let chained = false
  const chains: boolean[] = []
  /** The handler of route `index` through its middleware: the global ones, the given route's,
   * a route() declaration's; the handler itself when there are none. */
  const withChain = (index: number, handler: Handler, own: { fn: Middleware, name: string }[]): Handler => {
    const chain = [...global, ...own]
    chains[index] = chain.length > 0 && middleware !== null
    if (chain.length === 0 || middleware === null) return handler
    chained = true
    return compose(index, chain.map(m => m.fn), chain.map(m => m.name), handler, middleware.hooks) as Handler
  }
  // TypeBox's compiler only when there is a typed route to compile (src/isolate/typebox.ts).
  if ([...namespaces, ...discovered].some(ns => Object.values(ns).some(isRouteDeclaration))) await loadTypebox()
  const handlers: Handler[] = []
  const names: string[] = []
  for (const route of routes) {
    const ns = namespaces[route.module]
    const module = modulePath(modules[route.module])
    if (!(route.export in ns)) throw new IsopoolError('ISOPOOL_ERR_EXPORT_MISSING', { module, export: route.export })
    let fn = ns[route.export]
    const own = (route.middleware ?? []).map(mwNamed)
    // A route() declaration named explicitly serves through its adapter.
    if (isRouteDeclaration(fn)) {
      own.push(...declaredMiddleware(fn.config.middleware, route.method, route.path, `${module}#${route.export}`, modules[route.module], mwNamed))
      fn = compileAdapter(fn, options, { method: route.method, path: route.path, handler: `${module}#${route.export}` })
    }
    if (typeof fn !== 'function') {
      throw new IsopoolError('ISOPOOL_ERR_EXPORT_NOT_FUNCTION', { module, export: route.export, type: fn === null ? 'null' : typeof fn })
    }
    handlers.push(withChain(handlers.length, fn as Handler, own))
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
      const handler = `${modulePath(discover[i])}#${name}`
      const own = declaredMiddleware(decl.config.middleware, entry.method, entry.path, handler, discover[i], mwNamed)
      handlers.push(withChain(handlers.length, compileAdapter(decl, options, { method: entry.method, path: entry.path, handler }) as Handler, own))
      names.push(`${modulePath(discover[i])}#${name}`)
    }
  })
  // Per-isolate resources: open them all before the isolate says it is ready.
  const resources = [...namespaces, ...discovered, ...mwNamespaces].flatMap(ns => Object.keys(ns).map(k => ns[k]).filter(isResource))
  const exported = new Set(resources)
  const lost = declared.findIndex(d => !exported.has(d.resource))
  if (lost >= 0) {
    const served = (url: string): string[] => [
      ...routes.flatMap((r, i) => modules[r.module] === url ? [`${r.method} ${r.path} (${names[i]})`] : []),
      ...manifest.flatMap((m, j) => m.module === url ? [`${m.method} ${m.path} (${names[routes.length + j]})`] : [])
    ]
    throw await notOpened(declared[lost], importedBy[lost], [...modules, ...discover, ...mwModules], served)
  }
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
  return { handlers, names, manifest, teardown, chained, chains }
}

/** `module URL#export` (as the main thread resolved it) split at its last '#'. */
function splitSpec (spec: string): { module: string, export: string } {
  const hash = spec.lastIndexOf('#')
  return hash < 0 ? { module: spec, export: 'default' } : { module: spec.slice(0, hash), export: spec.slice(hash + 1) }
}

/** A route() declaration's own `middleware`: functions, or `module#export` strings relative to
 * `base` (the declaring module's URL), checked now (ISOPOOL_ERR_INVALID_ROUTE). */
function declaredMiddleware (list: unknown, method: string, path: string, handler: string, base: string, named: (spec: string) => { fn: Middleware, name: string }): { fn: Middleware, name: string }[] {
  if (list === undefined) return []
  const fail = (reason: string): never => { throw new IsopoolError('ISOPOOL_ERR_INVALID_ROUTE', { method, path, reason: `${reason} (${handler})` }) }
  if (!Array.isArray(list)) fail('middleware must be an array of functions or "module#export" strings')
  return (list as unknown[]).map((fn, i) => {
    if (typeof fn === 'string') return named(declaredSpec(fn, base))
    if (typeof fn !== 'function') fail(`middleware[${i}] is ${fn === null ? 'null' : `a ${typeof fn}`}, not a function or a "module#export" string`)
    return { fn: fn as Middleware, name: middlewareName(fn, handler, i) }
  })
}

/** The `module#export` strings among a route() declaration's middleware, resolved against `base`. */
function declaredStrings (decl: unknown, base: string): string[] {
  if (!isRouteDeclaration(decl) || !Array.isArray(decl.config.middleware)) return []
  return (decl.config.middleware as unknown[]).filter((m): m is string => typeof m === 'string').map(m => declaredSpec(m, base))
}

/** A declaration's `./mw.ts#timing` as `file:///app/routes/mw.ts#timing`: relative paths are the
 * declaring module's neighbours (as its own imports are); other specifiers are imported as given. */
function declaredSpec (spec: string, base: string): string {
  const { module, export: name } = splitSpec(spec)
  const url = module.startsWith('./') || module.startsWith('../') || module.startsWith('/') ? new URL(module, base).href : module
  return `${url}#${name}`
}

/** ISOPOOL_ERR_SETUP_NOT_LOADED for a setup() no served module exports: it names the resource
 * (`module#export` when its module exports it), why it is not opened, and the routes of the
 * served module whose import declared it. */
async function notOpened (d: DeclaredResource, importer: string, servedModules: string[], served: (url: string) => string[]): Promise<IsopoolError> {
  let name: string | undefined
  if (d.module?.startsWith('file:') === true) {
    try {
      // Already evaluated (setup() was called from it): this only reads its namespace.
      const ns = await import(d.module) as Record<string, unknown>
      name = Object.keys(ns).find(k => ns[k] === d.resource)
    } catch {}
  }
  const where = d.module === undefined ? undefined : modulePath(d.module)
  const resource = where === undefined ? `declared while importing ${modulePath(importer)}` : name === undefined ? `of ${where}` : `${where}#${name}`
  let reason: string
  if (d.module !== undefined && servedModules.includes(d.module)) {
    reason = `${where} declares it but does not export it, and isopool opens the setup() resources the served modules export; export it`
  } else if (where !== undefined) {
    reason = `${where} is neither a routes module nor in \`modules\` (it is imported by ${modulePath(importer)}); add it to \`modules\`, or export the resource from ${modulePath(importer)}`
  } else {
    reason = `no served module exports it; export it from ${modulePath(importer)}, or list its module in \`modules\``
  }
  const list = served(importer)
  const routes = list.length === 0 ? 'the routes' : list.length <= 3 ? list.join(', ') : `${list.slice(0, 3).join(', ')} and ${list.length - 3} more route(s)`
  return new IsopoolError('ISOPOOL_ERR_SETUP_NOT_LOADED', { resource, routes, reason })
}
