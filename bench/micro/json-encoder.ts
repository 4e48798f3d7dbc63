// Why typed routes encode with an encoder compiled from the response schema
// (src/isolate/json-encoder.ts) rather than JSON.stringify: time per encode of typical results.
// Usage: node bench/micro/json-encoder.ts
import { Bench } from 'tinybench'
import { Type } from 'typebox'
import { compileEncoder } from '../../src/isolate/json-encoder.ts'

const User = Type.Object({ id: Type.Integer(), name: Type.String(), email: Type.String(), active: Type.Boolean(), score: Type.Number() })
const Users = Type.Array(User)
const user = { id: 42, name: 'Ada Lovelace', email: 'ada@example.com', active: true, score: 97.5 }
const users = Array.from({ length: 50 }, (_, i) => ({ ...user, id: i }))
const encodeUser = compileEncoder(User)
const encodeUsers = compileEncoder(Users)
if (encodeUser(user) !== JSON.stringify(user) || encodeUsers(users) !== JSON.stringify(users)) throw new Error('encoders disagree')

const bench = new Bench({ time: 1000, warmup: true })
bench
  .add('one user: JSON.stringify', () => { JSON.stringify(user) })
  .add('one user: compiled encoder', () => { encodeUser(user) })
  .add('50 users: JSON.stringify', () => { JSON.stringify(users) })
  .add('50 users: compiled encoder', () => { encodeUsers(users) })
await bench.run()
for (const t of bench.tasks) {
  const r = t.result as { latency?: { mean: number } } | undefined
  console.log(`${t.name.padEnd(30)} ${((r?.latency?.mean ?? NaN) * 1e6).toFixed(0).padStart(7)} ns`)
}
