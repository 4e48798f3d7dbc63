// The services run's Fastify target (bench/service-sets.ts): the same app as targets/fastify.ts
// with Fastify's own equivalent of each isopool service in front of its routes, each as its docs
// show it, registered before the routes (plugins apply to the routes declared after them):
//
//   requestId    genReqId (crypto.randomUUID, as isopool makes its ids) and requestIdHeader
//                x-request-id (the client's id taken as it is), sent back by an onRequest hook.
//                Off, Fastify still numbers its requests (its default genReqId, a counter).
//   cors         @fastify/cors, origin: true (the request's Origin echoed, as isopool's cors: true)
//   compression  @fastify/compress, threshold 1 KiB (its default, and isopool's); brotli quality 4
//                (its default). Its other defaults stand: a body up to its syncThreshold is
//                compressed in one call, a larger one through a zlib stream of its own on libuv's
//                threadpool — the threshold is 8 KiB on 2 cores, so json-16k's 16 KiB stream
//   logger       Fastify's logger is pino: a pino logger to /dev/null, as isopool's. Fastify writes
//                two lines per request ("incoming request", "request completed"), isopool one.
//   metrics      no plugin: an onResponse hook counting into prom-client, a requests counter
//                {method,route,status} and a duration histogram {method,route} in a registry of
//                its own, as isopool's metrics keep them; GET /metrics serves them
//   rateLimit    @fastify/rate-limit, its in-memory store, keyed by the client's address
//   middleware   an onSend hook (Fastify's hooks are its middleware) setting the same one header

import { randomUUID } from 'node:crypto'
import cors from '@fastify/cors'
import compress from '@fastify/compress'
import rateLimit from '@fastify/rate-limit'
import Fastify from 'fastify'
import type { FastifyInstance, FastifyServerOptions } from 'fastify'
import pino from 'pino'
import { Counter, Histogram, Registry } from 'prom-client'
import { MAX_BODY } from '../scenarios.ts'
import { LIMIT_WINDOW, NEVER_LIMITS } from '../service-sets.ts'
import type { ServiceName } from '../service-sets.ts'
import { addRoutes } from './fastify-app.ts'

/** The Fastify app with `services` on, its routes added, not yet listening. */
export async function buildServicesApp (services: readonly ServiceName[]): Promise<FastifyInstance> {
  const on = new Set(services)
  const options: FastifyServerOptions = {
    bodyLimit: MAX_BODY,
    ...(on.has('logger') ? { loggerInstance: pino({}, pino.destination({ dest: '/dev/null', minLength: 4096 })) } : { logger: false }),
    ...(on.has('requestId') ? { requestIdHeader: 'x-request-id', genReqId: () => randomUUID() } : {})
  }
  const app = Fastify(options)
  if (on.has('requestId')) {
    app.addHook('onRequest', (req, reply, done) => {
      reply.header('x-request-id', req.id)
      done()
    })
  }
  if (on.has('cors')) await app.register(cors, { origin: true })
  if (on.has('rateLimit')) await app.register(rateLimit, { max: NEVER_LIMITS, timeWindow: LIMIT_WINDOW })
  if (on.has('metrics')) {
    const registry = new Registry()
    const requests = new Counter({ name: 'http_requests_total', help: 'Requests answered', labelNames: ['method', 'route', 'status'], registers: [registry] })
    const duration = new Histogram({ name: 'http_request_duration_seconds', help: 'Time to answer', labelNames: ['method', 'route'], registers: [registry] })
    app.addHook('onResponse', (req, reply, done) => {
      const route = req.routeOptions.url ?? 'unmatched'
      requests.inc({ method: req.method, route, status: String(reply.statusCode) })
      duration.observe({ method: req.method, route }, reply.elapsedTime / 1000)
      done()
    })
    app.get('/metrics', async (_req, reply) => {
      reply.type(registry.contentType)
      return await registry.metrics()
    })
  }
  if (on.has('middleware')) {
    app.addHook('onSend', (_req, reply, payload, done) => {
      reply.header('x-bench', '1')
      done(null, payload)
    })
  }
  if (on.has('compression')) await app.register(compress, { threshold: 1024 })
  addRoutes(app)
  return app
}
