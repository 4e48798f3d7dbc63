// Handler modules the isopool target serves (bench/targets/isopool.ts names them by
// `./handlers.ts#export`). Each does exactly what the peer targets do inline.

/** GET / → {"hello":"world"}: the isolate serializes it, as Fastify and node:http do per request. */
export function hello () {
  return { hello: 'world' }
}
