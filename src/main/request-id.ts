// Request ids: every request gets one — the client's (or its proxy's) X-Request-Id when it is a
// sane one, else a fresh UUID — and every answer carries it back, whoever writes the answer (a
// handler, a coded error, a builtin, a preflight): it goes in res.extra, which every head carries.
// Handlers read it as req.id, from the `:id` pseudo-field of the head text (head-text.ts).
//
// Per request: the field the head's parser found, one test, a UUID when none came, one
// pseudo-field appended. A generated id is a version 4 UUID in shape, made cheaply: one
// crypto.randomUUID() per 256 ids gives the first 34 characters, and the last two hex digits
// count the ids of that block (randomUUID() alone was ~0.28 µs an id on this VM, most of it
// formatting its hex; this is one lookup and one concatenation). Ids are unique — a block's 34
// characters hold ~114 random bits — but not secrets: one id tells its block's neighbours, as
// Fastify's counter (`req-1`, `req-2`) does.

import { randomUUID } from 'node:crypto'
import { META_ID, metaField } from '../shared/head-text.ts'
import type { Http1Request, Http1Response } from './http1.ts'
import { badOption } from './services.ts'
import type { RequestService } from './services.ts'

/** An id taken from a client: 1 to 200 visible ASCII characters (no spaces, no controls), so it
 * is safe to log and to send back as it came. */
const VALID_ID = /^[\x21-\x7e]+$/ // and at most 200 of them: a bounded repeat is ~2× slower a test

/** Whether `id` may be taken as the request's id. */
export function validRequestId (id: string): boolean {
  return id.length <= 200 && VALID_ID.test(id)
}

/** Two lower-case hex digits for each byte. */
const HEX2: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))
let block = ''
let next = 256

/** A fresh id: a version 4 UUID's shape (8-4-4-4-12 lower-case hex digits). */
export function generatedId (): string {
  if (next === 256) {
    block = randomUUID().slice(0, 34)
    next = 0
  }
  return block + HEX2[next++]
}

/** The request-id service, or null when the requestId option turns it off. */
export function requestIdService (option: unknown): RequestService | null {
  if (option === false) return null
  if (option !== undefined && option !== true) badOption('requestId', `must be true or false, got ${typeof option}`)
  return {
    begin (req: Http1Request, res: Http1Response): boolean {
      const given = req.givenId // the first X-Request-Id, found by the head's parser
      const id = given !== undefined && validRequestId(given) ? given : generatedId()
      req.id = id
      req.meta += metaField(META_ID, id)
      res.extra += 'x-request-id: ' + id + '\r\n'
      return true
    }
  }
}
