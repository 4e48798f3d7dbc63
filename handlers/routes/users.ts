// A small users resource with typed routes, kept in a SQLite file (node:sqlite) that every isolate
// opens once with setup(): module state would be per isolate, so a user created in one isolate
// would be missing in the others. WAL mode lets the isolates read while one writes. The resource
// is exported: isopool opens the setup() resources that the served modules export.
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { fileURLToPath } from 'node:url'
import { threadId } from 'node:worker_threads'
import { Type } from 'typebox'
import { HttpError, route, setup } from 'isopool/handler'

/** The database file: USERS_DB, or handlers/data/users.sqlite. */
const file = process.env.USERS_DB ?? fileURLToPath(new URL('../data/users.sqlite', import.meta.url))

export const db = setup(() => {
  mkdirSync(dirname(file), { recursive: true })
  const db = new DatabaseSync(file, { timeout: 5_000 }) // wait up to 5 s for another isolate's write lock
  db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL')
  db.exec('CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL)')
  db.exec("INSERT OR IGNORE INTO users (id, name, email) VALUES (1, 'Ada Lovelace', 'ada@example.com'), (2, 'Alan Turing', 'alan@example.com')")
  // Prepared once per isolate, not per request.
  return {
    get: db.prepare('SELECT id, name, email FROM users WHERE id = ?'),
    list: db.prepare('SELECT id, name, email FROM users ORDER BY id LIMIT ? OFFSET ?'),
    insert: db.prepare('INSERT INTO users (name, email) VALUES (?, ?) RETURNING id, name, email'),
    close: () => db.close()
  }
}, statements => statements.close())

const User = Type.Object({
  id: Type.Integer({ minimum: 1 }),
  name: Type.String({ minLength: 1, maxLength: 100 }),
  email: Type.String({ pattern: '^[^@\\s]+@[^@\\s]+$' })
})
const NewUser = Type.Omit(User, ['id'])
const UserSeen = Type.Object({ ...User.properties, servedBy: Type.Integer({ description: 'Thread id of the isolate that answered' }) })

type UserRow = { id: number, name: string, email: string }

export const getUser = route({
  method: 'GET',
  path: '/users/:id',
  summary: 'Read one user',
  tags: ['users'],
  params: Type.Object({ id: Type.Integer({ minimum: 1 }) }),
  response: { 200: UserSeen }
}, (req) => {
  const user = db.value.get.get(req.params.id) as UserRow | undefined
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
}, (req) => db.value.list.all(req.query.limit, req.query.offset) as UserRow[])

export const createUser = route({
  method: 'POST',
  path: '/users',
  summary: 'Create a user',
  tags: ['users'],
  body: NewUser,
  extraBody: 'reject',
  response: { 201: User }
}, (req) => {
  const user = db.value.insert.get(req.body.name, req.body.email) as UserRow
  return new Response(JSON.stringify(user), {
    status: 201,
    headers: { 'content-type': 'application/json', location: `/users/${user.id}` }
  })
})
