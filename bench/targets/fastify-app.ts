// The Fastify app of the fastify, fastify-piscina and cluster targets: Fastify 5 with its
// defaults (no logger, no schemas: JSON.stringify), routes written as its docs show. Every route
// runs the shared handler logic of bench/scenarios.ts, either inline or — with `offload` — in a
// piscina pool (fastify-piscina), as `await piscina.run(arg, { name })`. The services run puts
// Fastify's plugins in front of the same routes (targets/fastify-services.ts).

import Fastify from 'fastify'
import type { FastifyInstance } from 'fastify'
import { cpu, hello, helloAsync, json16k, MAX_BODY, params, sqlite } from '../scenarios.ts'
import { EchoBody, UserParams, UserQuery } from './schemas.ts'

export type Offload = (name: string, arg?: unknown) => Promise<unknown>

interface UsersRoute {
  Params: { id: string }
  Querystring: { fields?: string | string[] }
}

export function buildApp (offload?: Offload): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: MAX_BODY })
  addRoutes(app, offload)
  return app
}

/** Every scenario's route on `app` (the services run's Fastify target adds its plugins first:
 * targets/fastify-services.ts). */
export function addRoutes (app: FastifyInstance, offload?: Offload): void {
  if (offload === undefined) {
    // Sync handlers answer with reply.send(); async ones return the value (Fastify's docs).
    app.get('/', (_req, reply) => { reply.send(hello()) })
    app.get('/async', async () => await helloAsync())
    app.get('/cpu', (_req, reply) => { reply.send(cpu()) })
    app.get('/sqlite', (_req, reply) => { reply.send(sqlite()) })
    app.get('/json-16k', (_req, reply) => { reply.send(json16k()) })
    app.get<UsersRoute>('/users/:id', (req, reply) => {
      const value = params(req.params.id, req.query.fields)
      if (value === null) reply.code(400).send({ error: 'id must be an integer' })
      else reply.send(value)
    })
    app.post('/echo', (req, reply) => { reply.send(req.body) })
    // The typed scenarios: the same JSON Schemas, validated by Fastify's compiled Ajv validators.
    app.get<{ Params: { id: number }, Querystring: { fields: string[] } }>('/typed/users/:id', { schema: { params: UserParams, querystring: UserQuery } },
      (req, reply) => { reply.send({ id: req.params.id, fields: req.query.fields }) })
    app.post('/typed/echo', { schema: { body: EchoBody } }, (req, reply) => { reply.send(req.body) })
  } else {
    app.get('/', async () => await offload('hello'))
    app.get('/async', async () => await offload('helloAsync'))
    app.get('/cpu', async () => await offload('cpu'))
    app.get('/sqlite', async () => await offload('sqlite'))
    app.get('/json-16k', async () => await offload('json16k'))
    app.get<UsersRoute>('/users/:id', async (req, reply) => {
      const value = await offload('params', { id: req.params.id, fields: req.query.fields })
      if (value === null) return reply.code(400).send({ error: 'id must be an integer' })
      return value
    })
    app.post('/echo', async req => await offload('echo', req.body))
  }
}

/** Listen on 127.0.0.1 (port 0 unless given) and return the port. */
export async function listen (app: FastifyInstance, port = 0): Promise<number> {
  await app.listen({ port, host: '127.0.0.1' })
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('fastify: no TCP address')
  return address.port
}
