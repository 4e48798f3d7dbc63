// CPU-heavy work that would block a single event loop: here it blocks only its own isolate.
import { pbkdf2Sync } from 'node:crypto'
import { Type } from 'typebox'
import { route } from 'isopool/handler'

export const hash = route({
  method: 'GET',
  path: '/hash/:text',
  summary: 'PBKDF2 of a text (CPU-heavy)',
  tags: ['cpu'],
  params: Type.Object({ text: Type.String({ maxLength: 200 }) }),
  query: Type.Object({ iterations: Type.Integer({ minimum: 1, maximum: 200_000, default: 10_000 }) })
}, (req) => {
  const digest = pbkdf2Sync(req.params.text, 'isopool-example', req.query.iterations, 32, 'sha256')
  return { text: req.params.text, iterations: req.query.iterations, pbkdf2: digest.toString('hex') }
})
