// The CORS origin matcher and policy (src/main/cors.ts): compiled once from the option.
import { describe, expect, it } from 'vitest'
import { compileOrigin, corsPolicy } from '../../src/main/cors.ts'

describe('compileOrigin', () => {
  it('true, undefined and * allow any origin; false none', () => {
    for (const o of [true, undefined, '*']) expect(compileOrigin(o)('https://x.example')).toBe(true)
    expect(compileOrigin(false)('https://x.example')).toBe(false)
  })

  it('a string allows exactly that origin', () => {
    const m = compileOrigin('https://app.example')
    expect(m('https://app.example')).toBe(true)
    expect(m('https://app.example.evil')).toBe(false)
    expect(m('http://app.example')).toBe(false)
  })

  it('a RegExp tests the origin, the same way every time even with the g flag', () => {
    const m = compileOrigin(/^https:\/\/[a-z]+\.trusted\.example$/g)
    for (let i = 0; i < 3; i++) expect(m('https://api.trusted.example')).toBe(true)
    expect(m('https://trusted.example.evil')).toBe(false)
  })

  it('a list holds exact origins and RegExps', () => {
    const m = compileOrigin(['https://a.example', /\.b\.example$/])
    expect(m('https://a.example')).toBe(true)
    expect(m('https://x.b.example')).toBe(true)
    expect(m('https://c.example')).toBe(false)
    expect(compileOrigin(['https://a.example'])('https://b.example')).toBe(false)
  })

  it('a function decides; only true allows', () => {
    const m = compileOrigin((o: string) => o.endsWith('.ok') as unknown as boolean)
    expect(m('https://x.ok')).toBe(true)
    expect(m('https://x.no')).toBe(false)
    expect(compileOrigin(() => 'yes' as unknown as boolean)('https://x')).toBe(false)
  })

  it('refuses anything else with ISOPOOL_ERR_INVALID_OPTION', () => {
    expect(() => compileOrigin(5)).toThrow(expect.objectContaining({ code: 'ISOPOOL_ERR_INVALID_OPTION' }))
    expect(() => compileOrigin(['https://a.example', 7])).toThrow(/cors\.origin/)
    expect(() => compileOrigin(null)).toThrow(/cors\.origin/)
  })
})

describe('corsPolicy', () => {
  it('is off for false and undefined', () => {
    expect(corsPolicy(false)).toBeNull()
    expect(corsPolicy(undefined)).toBeNull()
  })

  it('sends * only for origin "*" without credentials; true echoes', () => {
    expect(corsPolicy({ origin: '*' })!.star).toBe(true)
    expect(corsPolicy({ origin: '*', credentials: true })!.star).toBe(false)
    expect(corsPolicy(true)!.star).toBe(false)
  })

  it('has the routed methods by default and joins the lists once', () => {
    const p = corsPolicy({ allowedHeaders: ['content-type', 'x-a'], exposedHeaders: ['x-total'], maxAge: 0 })!
    expect(p.methods).toBe('GET, HEAD, PUT, PATCH, POST, DELETE')
    expect(p.allowedHeaders).toBe('content-type, x-a')
    expect(p.exposedHeaders).toBe('x-total')
    expect(p.maxAge).toBe('0')
    expect(corsPolicy(true)!.allowedHeaders).toBeNull()
  })

  it('refuses unknown options and wrong values', () => {
    expect(() => corsPolicy({ orign: '*' })).toThrow(/did you mean "origin"/)
    expect(() => corsPolicy({ maxAge: -1 })).toThrow(/cors\.maxAge/)
    expect(() => corsPolicy({ methods: ['GET POST'] })).toThrow(/cors\.methods/)
    expect(() => corsPolicy({ credentials: 'yes' })).toThrow(/cors\.credentials/)
    expect(() => corsPolicy('yes')).toThrow(/ISOPOOL_ERR_INVALID_OPTION|cors/)
  })
})
