// The coded error module: every code is documented, and errors survive the thread boundary.
import { describe, expect, it } from 'vitest'
import { readFileSync } from 'node:fs'
import { ERRORS, HttpError, IsopoolError } from 'isopool'

const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8')

describe('error codes', () => {
  it('every code is documented in docs/errors.md, with its status when it has one', () => {
    for (const [code, { status }] of Object.entries(ERRORS)) {
      const row = doc.split('\n').find(line => line.startsWith(`| \`${code}\` |`))
      expect(row, `${code} is not documented`).toBeDefined()
      if (status !== undefined && code !== 'ISOPOOL_ERR_HTTP') expect(row).toContain(`| ${status} |`)
    }
  })

  it('every code is ISOPOOL_ERR_ and upper snake case', () => {
    for (const code of Object.keys(ERRORS)) expect(code).toMatch(/^ISOPOOL_ERR_[A-Z0-9_]+$/)
  })

  it('crosses the thread boundary as { code, message, status } and is rebuilt', () => {
    const err = new IsopoolError('ISOPOOL_ERR_EXPORT_MISSING', { module: '/app/a.ts', export: 'b' })
    const wire = structuredClone(err.toWire())
    expect(wire).toEqual({ code: 'ISOPOOL_ERR_EXPORT_MISSING', message: 'Module /app/a.ts has no export "b"' })
    const back = IsopoolError.fromWire(wire)
    expect(back).toBeInstanceOf(IsopoolError)
    expect(back.code).toBe(err.code)
    expect(back.message).toBe(err.message)
    expect(IsopoolError.fromWire(new IsopoolError('ISOPOOL_ERR_NOT_FOUND', { method: 'GET', path: '/x' }).toWire()).status).toBe(404)
  })

  it('HttpError takes only error statuses', () => {
    expect(() => new HttpError(200, 'fine')).toThrow(RangeError)
    expect(new HttpError(404).message).toBe('HTTP 404')
  })
})
