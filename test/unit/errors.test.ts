// The coded errors (src/shared/errors.ts) on their own: messages from templates, the wire form
// that crosses threads, HttpError's rules, and the error body that never fails.
import { describe, expect, it } from 'vitest'
import { ERRORS, errorBody, FALLBACK_ERROR_BODY, HttpError, IsopoolError, RETIRED_CODES } from '../../src/shared/errors.ts'
import type { ErrorCode, WireError } from '../../src/shared/errors.ts'

/** The {name} placeholders of a template. */
const placeholders = (template: string): string[] => [...template.matchAll(/\{(\w+)\}/g)].map(m => m[1])

describe('the error table', () => {
  it('gives every code a sentence, each placeholder filled from the params', () => {
    for (const code of Object.keys(ERRORS) as ErrorCode[]) {
      const names = placeholders(ERRORS[code].message)
      const params = Object.fromEntries(names.map((n, i) => [n, `<${n} ${i}>`]))
      const err = new IsopoolError(code, params)
      expect(err.message, code).toMatch(/\w/)
      expect(err.message, code).not.toMatch(/\{\w+\}/)
      for (const n of names) expect(err.message, code).toContain(params[n])
      expect(err.code).toBe(code)
      expect(err.status).toBe(ERRORS[code].status)
    }
  })

  it('never reuses a retired code', () => {
    for (const code of RETIRED_CODES) {
      expect(code).toMatch(/^ISOPOOL_ERR_[A-Z0-9_]+$/)
      expect(Object.hasOwn(ERRORS, code)).toBe(false)
    }
  })
})

describe('IsopoolError', () => {
  it('leaves a placeholder it has no param for as it is', () => {
    const err = new IsopoolError('ISOPOOL_ERR_NOT_FOUND', { method: 'GET' })
    expect(err.message).toBe(ERRORS.ISOPOOL_ERR_NOT_FOUND.message.replace('{method}', 'GET'))
    expect(err.message).toContain('{path}')
    expect(err.params).toEqual({ method: 'GET' })
  })

  it('is an Error named IsopoolError, with a cause only when given one', () => {
    const cause = new Error('inner')
    const err = new IsopoolError('ISOPOOL_ERR_INTERNAL', {}, { cause })
    expect(err).toBeInstanceOf(Error)
    expect(err.name).toBe('IsopoolError')
    expect(err.cause).toBe(cause)
    expect(Object.hasOwn(new IsopoolError('ISOPOOL_ERR_INTERNAL'), 'cause')).toBe(false)
    expect(String(new IsopoolError('ISOPOOL_ERR_INTERNAL'))).toBe('IsopoolError: Internal server error')
  })

  it('takes a status and details of its own over the table\'s', () => {
    const err = new IsopoolError('ISOPOOL_ERR_VALIDATION', { count: 1, listed: 1 }, { status: 400, details: [{ in: 'query' }] })
    expect(err.status).toBe(400)
    expect(err.details).toEqual([{ in: 'query' }])
  })

  it('crosses threads as code, message, and status and details only when it has them', () => {
    const client = new IsopoolError('ISOPOOL_ERR_NOT_FOUND', { method: 'GET', path: '/x' })
    expect(Object.keys(client.toWire())).toEqual(['code', 'message', 'status'])
    const startup = new IsopoolError('ISOPOOL_ERR_LISTEN', { address: ':80', reason: 'EACCES' })
    expect(Object.keys(startup.toWire())).toEqual(['code', 'message'])
    const detailed = new IsopoolError('ISOPOOL_ERR_VALIDATION', {}, { details: [1, 2] })
    expect(detailed.toWire()).toEqual({ code: 'ISOPOOL_ERR_VALIDATION', message: detailed.message, status: 422, details: [1, 2] })
  })

  it('is rebuilt from the wire with its code, message, status and details', () => {
    const wire: WireError = { code: 'ISOPOOL_ERR_VALIDATION', message: 'as sent', status: 422, details: { n: 1 } }
    const back = IsopoolError.fromWire(structuredClone(wire))
    expect(back).toBeInstanceOf(IsopoolError)
    expect(back.toWire()).toEqual(wire)
    const custom = IsopoolError.fromWire({ code: 'APP_ERR_PAYMENT', message: 'card declined', status: 402 })
    expect([custom.code, custom.message, custom.status]).toEqual(['APP_ERR_PAYMENT', 'card declined', 402])
    const bare = IsopoolError.fromWire({ code: 'APP_ERR_X', message: 'm' })
    expect(bare.status).toBe(500) // an unknown code is a handler's error
    expect(bare.details).toBeUndefined()
  })
})

describe('HttpError', () => {
  it('takes the integer statuses 400 to 599 only', () => {
    for (const s of [400, 404, 599]) expect(new HttpError(s).status).toBe(s)
    for (const s of [399, 600, 200, 404.5, Number.NaN]) {
      expect(() => new HttpError(s), String(s)).toThrow(RangeError)
      expect(() => new HttpError(s)).toThrow(String(s))
    }
  })

  it('has a message, code and headers by default and as given', () => {
    const plain = new HttpError(418)
    expect([plain.name, plain.message, plain.code, plain.headers]).toEqual(['HttpError', 'HTTP 418', 'ISOPOOL_ERR_HTTP', undefined])
    const cause = new Error('db')
    const full = new HttpError(409, 'taken', { code: 'APP_ERR_TAKEN', headers: { 'retry-after': '1' }, cause })
    expect([full.message, full.code, full.headers, full.cause]).toEqual(['taken', 'APP_ERR_TAKEN', { 'retry-after': '1' }, cause])
    expect(Object.hasOwn(plain, 'cause')).toBe(false)
  })

  it('recognizes HttpErrors from another copy of the module by their mark, and nothing else', () => {
    expect(new HttpError(400) instanceof HttpError).toBe(true)
    const foreign: unknown = { [Symbol.for('isopool.HttpError')]: true, status: 400 }
    expect(foreign instanceof HttpError).toBe(true)
    for (const v of [null, undefined, 0, 'HttpError', {}, new Error('x'), { [Symbol.for('isopool.HttpError')]: 'yes' }, new IsopoolError('ISOPOOL_ERR_HTTP')]) {
      expect(v instanceof HttpError, String(v)).toBe(false)
    }
  })
})

describe('errorBody', () => {
  it('is the wire error under "error", details included', () => {
    const wire = { code: 'ISOPOOL_ERR_VALIDATION', message: 'bad', status: 422, details: [{ path: 'body.a' }] }
    expect(JSON.parse(errorBody(wire))).toEqual({ error: wire })
  })

  it('leaves out details JSON cannot hold, and answers the fixed body when nothing can be written', () => {
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    expect(JSON.parse(errorBody({ code: 'C', message: 'm', status: 400, details: cyclic }))).toEqual({ error: { code: 'C', message: 'm', status: 400 } })
    expect(JSON.parse(errorBody({ code: 'C', message: 'm', details: 10n }))).toEqual({ error: { code: 'C', message: 'm' } })
    const hostile = { toString () { throw new Error('no') } }
    expect(errorBody({ code: hostile as unknown as string, message: 'm', details: 1n })).toBe(FALLBACK_ERROR_BODY)
    expect(JSON.parse(FALLBACK_ERROR_BODY)).toEqual({ error: new IsopoolError('ISOPOOL_ERR_INTERNAL').toWire() })
  })
})
