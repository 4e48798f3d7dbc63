// Request ids: every request gets one — the client's (or its proxy's) X-Request-Id when it is a
// sane one, else a fresh UUID — and every answer carries it back, whoever writes the answer (a
// handler, a coded error, a builtin, a preflight): it goes in res.extra, which every head carries.
// Handlers read it as req.id, from the `:id` pseudo-field of the head text (head-text.ts).
//
// Per request: one field lookup in the head text, one test, a UUID when none came (Node draws
// them from a cached pool of random bytes), one pseudo-field appended.

import { randomUUID } from 'node:crypto'
import { META_ID, metaField } from '../shared/head-text.ts'
import type { Http1Request, Http1Response } from './http1.ts'
import { fieldReader } from './request-fields.ts'
import { badOption } from './services.ts'
import type { RequestService } from './services.ts'

/** An id taken from a client: 1 to 200 visible ASCII characters (no spaces, no controls), so it
 * is safe to log and to send back as it came. */
const VALID_ID = /^[\x21-\x7e]{1,200}$/
const readId = fieldReader('x-request-id')

/** Whether `id` may be taken as the request's id. */
export function validRequestId (id: string): boolean {
  return VALID_ID.test(id)
}

/** The request-id service, or null when the requestId option turns it off. */
export function requestIdService (option: unknown): RequestService | null {
  if (option === false) return null
  if (option !== undefined && option !== true) badOption('requestId', `must be true or false, got ${typeof option}`)
  return {
    begin (req: Http1Request, res: Http1Response): boolean {
      const given = readId(req.head)
      const id = given !== undefined && VALID_ID.test(given) ? given : randomUUID()
      req.id = id
      req.meta += metaField(META_ID, id)
      res.extra += 'x-request-id: ' + id + '\r\n'
      return true
    }
  }
}
