// A small users resource with typed routes. Module state is per isolate: each isolate has its
// own map (a real app keeps users in a database, opened once per isolate with setup()).
import { threadId } from 'node:worker_threads'
import { Type } from 'typebox'
import { HttpError, route } from 'isopool/handler'

const User = Type.Object({
  id: Type.Integer({ minimum: 1 }),
  name: Type.String({ minLength: 1, maxLength: 100 }),
  email: Type.String({ pattern: '^[^@\\s]+@[^@\\s]+$' })
})
const NewUser = Type.Omit(User, ['id'])
const UserSeen = Type.Object({ ...User.properties, servedBy: Type.Integer({ description: 'Thread id of the isolate that answered' }) })

const users = new Map<number, { id: number, name: string, email: string }>([
  [1, { id: 1, name: 'Ada Lovelace', email: 'ada@example.com' }],
  [2, { id: 2, name: 'Alan Turing', email: 'alan@example.com' }]
])
let nextId = 3

export const getUser = route({
  method: 'GET',
  path: '/users/:id',
  summary: 'Read one user',
  tags: ['users'],
  params: Type.Object({ id: Type.Integer({ minimum: 1 }) }),
  response: { 200: UserSeen }
}, (req) => {
  const user = users.get(req.params.id)
  if (user === undefined) throw new HttpError(404, `No user ${req.params.id}`, { code: 'APP_USER_NOT_FOUND' })
  return { ...user, servedBy: threadId }
})

export const listUsers = route({
  method: 'GET',
  path: '/users',
  summary: 'List users',
  tags: ['users'],
  query: Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 100, default: 50 }), offset: Type.Integer({ minimum: 0, default: 0 }) }),
  response: { 200: Type.Array(User) }
}, (req) => [...users.values()].slice(req.query.offset, req.query.offset + req.query.limit))

export const createUser = route({
  method: 'POST',
  path: '/users',
  summary: 'Create a user (in this isolate only)',
  tags: ['users'],
  body: NewUser,
  extraBody: 'reject',
  response: { 201: User }
}, (req) => {
  const user = { id: nextId++, ...req.body }
  users.set(user.id, user)
  return new Response(JSON.stringify(user), {
    status: 201,
    headers: { 'content-type': 'application/json', location: `/users/${user.id}` }
  })
})
