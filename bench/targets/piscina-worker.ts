// The piscina worker of the fastify-piscina target: the shared handler logic, one named export
// per route (called as piscina.run(arg, { name })). Module state is per worker thread, so each
// thread opens its own sqlite connection when it starts.

import * as logic from '../scenarios.ts'

logic.openSqlite()

export const hello = logic.hello
export const helloAsync = logic.helloAsync
export const cpu = logic.cpu
export const sqlite = logic.sqlite
export const json16k = logic.json16k
export function params (arg: { id: string, fields?: string | string[] }) {
  return logic.params(arg.id, arg.fields)
}
/** The body arrives parsed by Fastify (a structured clone of it); send it back. */
export function echo (body: unknown) {
  return body
}
