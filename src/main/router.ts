// Method + path → route index, on the main thread. find-my-way is the router Fastify runs on: a
// radix tree, well kept, fast on static and parametric paths; writing our own would buy nothing.
// It is built once, at listen(); the per-request path is one lookup.

import FindMyWay from 'find-my-way'
import { METHODS } from '../shared/http-syntax.ts'

export interface Match {
  /** Route index, the one every REQ_HEAD frame carries. */
  route: number
}

export type Lookup =
  | { found: true, route: number }
  | { found: false, allow: string[], badUrl: boolean }

export class Router {
  // The isolate reads the query string itself, lazily: skip find-my-way's parse of it.
  // onBadUrl makes a path with broken percent-encoding a match with no store (a 400), not a 404.
  private readonly fmw = FindMyWay({ ignoreTrailingSlash: false, caseSensitive: true, querystringParser: () => NO_QUERY, onBadUrl: noop })
  private readonly methods = new Set<string>()

  add (method: string, path: string, route: number): void {
    this.methods.add(method)
    this.fmw.on(method as FindMyWay.HTTPMethod, path, noop, { route })
    // HEAD is served for every GET route, by the GET handler, without a body.
    if (method === 'GET' && this.fmw.find('HEAD', path) === null) {
      this.methods.add('HEAD')
      this.fmw.on('HEAD', path, noop, { route })
    }
  }

  /** Turn the route trees into generated code; called once when every route is known. */
  compile (): void {
    this.fmw.compile()
  }

  has (method: string, path: string): boolean {
    return this.fmw.hasRoute(method as FindMyWay.HTTPMethod, path)
  }

  /** The route index for `method` and `url`, or -1: the per-request path, allocating nothing. */
  find (method: string, url: string): number {
    const found = this.fmw.find(method as FindMyWay.HTTPMethod, url)
    return found === null || found.store === null ? -1 : (found.store as Match).route
  }

  lookup (method: string, url: string): Lookup {
    const found = this.fmw.find(method as FindMyWay.HTTPMethod, url)
    if (found !== null) {
      if (found.store === null) return { found: false, allow: [], badUrl: true }
      return { found: true, route: (found.store as Match).route }
    }
    // Not the hot path: which other methods would have matched, for 405 and Allow?
    const allow: string[] = []
    for (const m of this.methods) {
      if (m !== method && this.fmw.find(m as FindMyWay.HTTPMethod, pathOf(url)) !== null) allow.push(m)
    }
    allow.sort((a, b) => (METHODS as readonly string[]).indexOf(a) - (METHODS as readonly string[]).indexOf(b))
    return { found: false, allow, badUrl: false }
  }
}

function pathOf (url: string): string {
  const q = url.indexOf('?')
  return q < 0 ? url : url.slice(0, q)
}

function noop (): void {}
const NO_QUERY = Object.freeze({}) as Record<string, string>
