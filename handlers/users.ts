// A small in-memory users resource. Module state is per isolate: each isolate has its own map,
// so a user created on one isolate is not seen by the others — a real app keeps users in a
// database (see the typed-routes issue for per-isolate setup of one).
import { threadId } from 'node:worker_threads'
import { HttpError } from 'isopool'
import type { Request } from 'isopool'

interface User { id: number, name: string, email: string }

const users = new Map<number, User>([
  [1, { id: 1, name: 'Ada Lovelace', email: 'ada@example.com' }],
  [2, { id: 2, name: 'Alan Turing', email: 'alan@example.com' }]
])
let nextId = 3

export function getUser (req: Request) {
  const id = Number(req.params.id)
  if (!Number.isInteger(id)) throw new HttpError(400, 'id must be an integer')
  const user = users.get(id)
  if (user === undefined) throw new HttpError(404, `No user ${id}`, { code: 'APP_USER_NOT_FOUND' })
  return { ...user, servedBy: threadId }
}

export function listUsers (req: Request) {
  const limit = Math.min(Number(req.query.limit ?? 50) || 50, 100)
  return [...users.values()].slice(0, limit)
}

export function createUser (req: Request) {
  const body = req.json<Partial<User>>()
  if (typeof body?.name !== 'string' || typeof body.email !== 'string' || !body.email.includes('@')) {
    throw new HttpError(422, 'name and email (with an @) are required')
  }
  const user: User = { id: nextId++, name: body.name, email: body.email }
  users.set(user.id, user)
  return new Response(JSON.stringify(user), {
    status: 201,
    headers: { 'content-type': 'application/json', location: `/users/${user.id}` }
  })
}
