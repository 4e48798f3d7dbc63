// Handler modules the isopool target serves (bench/targets/isopool.ts names them by
// `./handlers.ts#export`): the shared handler logic of bench/scenarios.ts, as isopool handlers.
// The module's top level runs once per isolate: each isolate opens its own sqlite connection.

import type { Request } from 'isopool/handler'
import { HttpError } from 'isopool/handler'
import * as logic from '../scenarios.ts'

logic.openSqlite()

export const hello = logic.hello
export const helloAsync = logic.helloAsync
export const cpu = logic.cpu
export const sqlite = logic.sqlite
export const json16k = logic.json16k

export function params (req: Request) {
  const value = logic.params(req.params.id, req.query.fields)
  if (value === null) throw new HttpError(400, 'id must be an integer')
  return value
}

export function echo (req: Request) {
  return req.json()
}
