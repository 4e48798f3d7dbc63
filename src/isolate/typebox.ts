// TypeBox's compiler, loaded only by an isolate that has typed routes to compile. Importing
// typebox/compile links some 500 modules: 120–160 ms of every isolate's start on this machine
// (startup measured in bench/README.md), which an app of plain handlers, and every replacement
// of a crashed isolate, would otherwise pay for nothing. The loader awaits load() before it
// compiles the first route() declaration; the bindings below are live, so the modules that import
// them see the loaded values from then on.

import type { Compile as CompileFn } from 'typebox/compile'
import type { Guard as GuardNs } from 'typebox/guard'

export let Compile: typeof CompileFn = () => { throw new Error('isopool: typebox/compile used before load()') }
export let Guard: typeof GuardNs = undefined as unknown as typeof GuardNs

let loading: Promise<void> | null = null

/** Load TypeBox's compiler and guards; later calls share the first. */
export function load (): Promise<void> {
  loading ??= Promise.all([import('typebox/compile'), import('typebox/guard')]).then(([c, g]) => {
    Compile = c.Compile
    Guard = g.Guard
  })
  return loading
}
