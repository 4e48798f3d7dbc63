// The schemas of the typed scenarios (params-typed, echo-64k-typed), used by the isopool target
// (in route() declarations) and the Fastify target (as its route schemas): TypeBox schemas are
// JSON Schema, so both frameworks validate against the very same documents.
import { Type } from 'typebox'

export const UserParams = Type.Object({ id: Type.Integer() })
export const UserQuery = Type.Object({ fields: Type.Array(Type.String(), { default: [] }) })

export const EchoBody = Type.Object({
  items: Type.Array(Type.Object({
    id: Type.Integer(),
    name: Type.String(),
    tags: Type.Array(Type.String()),
    price: Type.Number(),
    active: Type.Boolean()
  }))
})
