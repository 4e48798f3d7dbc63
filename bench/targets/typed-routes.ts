// Typed routes of the isopool target (discovered through `modules`): the typed scenarios.
import { route } from 'isopool/handler'
import { EchoBody, UserParams, UserQuery } from './schemas.ts'

export const typedParams = route({ method: 'GET', path: '/typed/users/:id', params: UserParams, query: UserQuery },
  (req) => ({ id: req.params.id, fields: req.query.fields }))

export const typedEcho = route({ method: 'POST', path: '/typed/echo', body: EchoBody }, (req) => req.body)
