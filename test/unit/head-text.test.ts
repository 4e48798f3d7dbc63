// The head text of HEAD frames, as both threads write and read it.
import { describe, expect, it } from 'vitest'
import { fieldList, forEachField, readRequestLine, requestHead, withField } from '../../src/shared/head-text.ts'

describe('REQ_HEAD text', () => {
  it('is method \\0 target, then each field as name \\0 value, read back as written', () => {
    let text = requestHead('GET', '/users/1?x=2')
    text = withField(text, 'Host', 'example.com')
    text = withField(text, 'X-Empty', '')
    text = withField(text, 'Cookie', 'a=1; b=2')
    expect(text).toBe('GET\0/users/1?x=2\0Host\0example.com\0X-Empty\0\0Cookie\0a=1; b=2')
    const line = readRequestLine(text)
    expect(line).toMatchObject({ method: 'GET', target: '/users/1?x=2' })
    const fields: [string, string][] = []
    forEachField(text, line.fieldsAt, (name, value) => fields.push([name, value]))
    expect(fields).toEqual([['Host', 'example.com'], ['X-Empty', ''], ['Cookie', 'a=1; b=2']])
  })

  it('may have no fields at all', () => {
    const text = requestHead('GET', '/')
    const line = readRequestLine(text)
    const fields: string[] = []
    forEachField(text, line.fieldsAt, n => fields.push(n))
    expect([line.method, line.target, fields]).toEqual(['GET', '/', []])
  })
})

describe('RES_HEAD text', () => {
  it('is name \\0 value pairs, one flat list', () => {
    expect(fieldList('')).toEqual([])
    expect(fieldList('content-type\0text/csv\0set-cookie\0a=1\0set-cookie\0b=2')).toEqual(['content-type', 'text/csv', 'set-cookie', 'a=1', 'set-cookie', 'b=2'])
    const pairs: string[] = []
    forEachField('a\x001\0b\x002', 0, (n, v) => pairs.push(`${n}=${v}`))
    expect(pairs).toEqual(['a=1', 'b=2'])
  })
})
