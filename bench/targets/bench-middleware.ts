// The services run's middleware (isopool's `middleware` option, run in the isolates for every
// routed request): the least a middleware does, one header on the answer, written the way
// docs/services.md shows it — await next(), change the Response, return it. Its row measures what
// the middleware machinery costs a request: the chain, the Response it hands over, the header.

/** Sets `x-bench: 1` on every answer. */
export async function benchHeader (_req: unknown, next: () => Promise<Response>): Promise<Response> {
  const res = await next()
  res.headers.set('x-bench', '1')
  return res
}
