// CPU-heavy work that would block a single event loop: here it blocks only its own isolate.
import { pbkdf2Sync } from 'node:crypto'
import type { Request } from 'isopool'

export function hash (req: Request) {
  const iterations = Math.min(Number(req.query.iterations ?? 10_000) || 10_000, 200_000)
  const digest = pbkdf2Sync(req.params.text, 'isopool-example', iterations, 32, 'sha256')
  return { text: req.params.text, iterations, pbkdf2: digest.toString('hex') }
}
