// Route path syntax (src/shared/path-pattern.ts): what a path may be, and where each parameter is
// in a request path the router matched. The segment indexes are checked the way the isolate uses
// them: on a real request path split at '/'.
import { describe, expect, it } from 'vitest'
import { compilePath } from '../../src/shared/path-pattern.ts'
import type { IsopoolError } from '../../src/shared/errors.ts'

/** The params of `requestPath` by the compiled pattern, as the isolate reads them. */
function params (route: string, requestPath: string): Record<string, string> {
  const { names, segments } = compilePath('GET', route)
  const parts = requestPath.split('/')
  const out: Record<string, string> = {}
  names.forEach((name, i) => { out[name] = name === '*' ? parts.slice(segments[i]).join('/') : parts[segments[i]] })
  return out
}

function refusal (path: unknown): IsopoolError {
  try {
    compilePath('POST', path as string)
  } catch (err) {
    return err as IsopoolError
  }
  throw new Error(`${String(path)} was accepted`)
}

describe('compilePath', () => {
  it('finds each :name parameter at its segment', () => {
    expect(params('/users/:id/posts/:postId', '/users/42/posts/7')).toEqual({ id: '42', postId: '7' })
    expect(params('/:a', '/x')).toEqual({ a: 'x' })
    expect(params('/:userId_2$', '/v')).toEqual({ userId_2$: 'v' })
  })

  it('takes a final * as the rest of the path', () => {
    expect(params('/files/*', '/files/a/b/c.txt')).toEqual({ '*': 'a/b/c.txt' })
    expect(params('/:bucket/*', '/b1/x/y')).toEqual({ bucket: 'b1', '*': 'x/y' })
    expect(compilePath('GET', '/*').names).toEqual(['*'])
  })

  it('has no parameters for a static path', () => {
    expect(compilePath('GET', '/')).toEqual({ names: [], segments: [] })
    expect(compilePath('GET', '/a/b/')).toEqual({ names: [], segments: [] })
  })

  it('refuses what is not a path starting with "/", naming the route and why', () => {
    for (const path of ['users', '', 42, undefined]) {
      const err = refusal(path)
      expect(err.code).toBe('ISOPOOL_ERR_INVALID_ROUTE')
      expect(err.params).toMatchObject({ method: 'POST', path })
      expect(err.message).toMatch(/^Invalid route POST .*: \S/)
    }
    expect(refusal('users').message).toContain('Invalid route POST users: ')
  })

  it('refuses "?", "#" and whitespace', () => {
    for (const path of ['/a?b', '/a#b', '/a b', '/a\tb', '/a\nb']) {
      expect(refusal(path).params.reason, path).toMatch(/\S/)
    }
  })

  it('refuses a * that is not the last segment, or is part of one', () => {
    for (const path of ['/*/x', '/a/*/', '/a*', '/*b', '/a/b*c']) {
      const err = refusal(path)
      expect(err.code, path).toBe('ISOPOOL_ERR_INVALID_ROUTE')
      expect(err.params.reason, path).toMatch(/\S/)
    }
  })

  it('refuses a parameter that is not :name, or comes twice', () => {
    for (const path of ['/:', '/:1a', '/::id', '/:id-x', '/:a.b', '/:a:b']) {
      const err = refusal(path)
      expect(err.params.reason, path).toContain(path.slice(1))
    }
    expect(refusal('/:id/x/:id').params.reason).toContain('"id" appears twice')
  })

  it('refuses text mixed with ":", "*" or parentheses in a segment', () => {
    for (const path of ['/a:b', '/(a)', '/a)', '/x/v(1)']) {
      expect(refusal(path).params.reason, path).toContain(path.split('/').at(-1))
    }
  })
})
