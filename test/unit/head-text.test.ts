// The head text of HEAD frames, as both threads write and read it.
import { describe, expect, it } from 'vitest'
import * as fc from 'fast-check'
import { fieldList, forEachField, readRequestLine, requestHead, SEP, withField } from '../../src/shared/head-text.ts'

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
    // A repeated text gives the same list; another text its own.
    expect(fieldList('x-a\u00001')).toBe(fieldList('x-a\u00001'))
    expect(fieldList('x-a\u00002')).toEqual(['x-a', '2'])
    expect(fieldList('content-type\0text/csv\0set-cookie\0a=1\0set-cookie\0b=2')).toEqual(['content-type', 'text/csv', 'set-cookie', 'a=1', 'set-cookie', 'b=2'])
    const pairs: string[] = []
    forEachField('a\x001\0b\x002', 0, (n, v) => pairs.push(`${n}=${v}`))
    expect(pairs).toEqual(['a=1', 'b=2'])
  })
})

describe('head text, any fields', () => {
  // latin1 text without NUL, as both HTTP layers admit it (names may even be empty here: the
  // codec carries whatever it is given).
  const part = fc.string({ unit: fc.integer({ min: 1, max: 0xff }).map(c => String.fromCharCode(c)), maxLength: 6 })
  const fields = fc.array(fc.tuple(part, part), { maxLength: 5 })

  it('reads back every REQ_HEAD field as written, empty names and values included', () => {
    fc.assert(fc.property(part, part, fields, (method, target, list) => {
      let text = requestHead(method, target)
      for (const [n, v] of list) text = withField(text, n, v)
      const line = readRequestLine(text)
      expect([line.method, line.target]).toEqual([method, target])
      const back: [string, string][] = []
      forEachField(text, line.fieldsAt, (n, v) => back.push([n, v]))
      expect(back).toEqual(list)
    }), { seed: 0x4ead, numRuns: 200 })
  })

  it('reads back every RES_HEAD field as written, the first one with an empty name included', () => {
    fc.assert(fc.property(fields, list => {
      const text = list.flat().join(SEP)
      const back: [string, string][] = []
      forEachField(text, 0, (n, v) => back.push([n, v]))
      // An empty list and one empty name with an empty value are the same text: ''.
      expect(back).toEqual(text === '' ? [] : list)
      expect(fieldList(text)).toEqual(text === '' ? [] : list.flat())
    }), { seed: 0x4eae, numRuns: 200 })
    const back: string[] = []
    forEachField('\0v', 0, (n, v) => back.push(`${n}=${v}`))
    expect(back).toEqual(['=v'])
  })

  it('does not make a field of a name that has no value after it', () => {
    const back: string[] = []
    forEachField('a\0b\0dangling', 0, (n, v) => back.push(`${n}=${v}`))
    expect(back).toEqual(['a=b'])
  })
})
