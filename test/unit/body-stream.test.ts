// A streaming route's body in the isolate (src/isolate/body-stream.ts), without sockets: chunks
// are acknowledged (credit) as the reader takes them, not as they arrive; a reader that breaks
// out leaves the rest acknowledged on arrival (drained); an abort ends a waiting reader with
// ISOPOOL_ERR_BODY_ABORTED; the body is read once; collect() gathers it; a streamed form's parts
// come in order with files as streams.
import { describe, expect, it } from 'vitest'
import { BodyStream } from '../../src/isolate/body-stream.ts'
import { parseStreamedForm } from '../../src/isolate/form.ts'
import type { FormPart } from '../../src/isolate/form.ts'

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s)

function stream (): { s: BodyStream, granted: number[] } {
  const granted: number[] = []
  return { s: new BodyStream(n => granted.push(n)), granted }
}

describe('BodyStream', () => {
  it('acknowledges each chunk when the reader takes it', async () => {
    const { s, granted } = stream()
    s.push(bytes('abc'))
    s.push(bytes('de'))
    expect(granted).toEqual([])
    const it = s[Symbol.asyncIterator]()
    expect(new TextDecoder().decode((await it.next()).value)).toBe('abc')
    expect(granted).toEqual([3])
    const next = it.next()
    s.end()
    expect((await next).value).toEqual(bytes('de'))
    expect(granted).toEqual([3, 2])
    expect((await it.next()).done).toBe(true)
  })

  it('wakes a waiting reader when a chunk comes', async () => {
    const { s } = stream()
    const it = s[Symbol.asyncIterator]()
    const pending = it.next()
    s.push(bytes('x'))
    expect((await pending).value).toEqual(bytes('x'))
  })

  it('acknowledges what is queued and whatever comes once the reader breaks out', async () => {
    const { s, granted } = stream()
    s.push(bytes('12345'))
    s.push(bytes('678'))
    for await (const chunk of s) {
      expect(chunk.byteLength).toBe(5)
      break
    }
    expect(granted).toEqual([5, 3])
    s.push(bytes('9999'))
    expect(granted).toEqual([5, 3, 4])
  })

  it('ends a waiting reader with ISOPOOL_ERR_BODY_ABORTED', async () => {
    const { s } = stream()
    s.push(bytes('a'))
    const reading = (async () => { for await (const _ of s) { /* read */ } })()
    s.abort()
    await expect(reading).rejects.toMatchObject({ code: 'ISOPOOL_ERR_BODY_ABORTED' })
  })

  it('is read once', async () => {
    const { s } = stream()
    s.end()
    for await (const _ of s) { /* empty */ }
    expect(() => s[Symbol.asyncIterator]()).toThrow(expect.objectContaining({ code: 'ISOPOOL_ERR_BODY_CONSUMED' }))
  })

  it('gathers the body whole', async () => {
    const { s, granted } = stream()
    s.push(bytes('he'))
    s.push(bytes('llo'))
    s.end()
    expect(new TextDecoder().decode(await s.collect())).toBe('hello')
    expect(granted).toEqual([2, 3])
  })
})

describe('parseStreamedForm', () => {
  const boundary = 'XyZ'
  const multipart = (parts: string[]): string => parts.map(p => `--${boundary}\r\n${p}\r\n`).join('') + `--${boundary}--\r\n`
  const field = (name: string, value: string): string => `content-disposition: form-data; name="${name}"\r\n\r\n${value}`
  const file = (name: string, filename: string, body: string): string =>
    `content-disposition: form-data; name="${name}"; filename="${filename}"\r\ncontent-type: text/plain\r\n\r\n${body}`
  const type = `multipart/form-data; boundary=${boundary}`

  async function * source (text: string, size: number): AsyncIterable<Uint8Array> {
    const all = bytes(text)
    for (let i = 0; i < all.byteLength; i += size) yield all.subarray(i, i + size)
  }

  it('gives fields as strings and files as streams, in order', async () => {
    const form = await parseStreamedForm(type, source(multipart([field('a', '1'), file('f', 'x.txt', 'file body'), field('b', '2')]), 7))
    const seen: string[] = []
    for await (const part of form) {
      if (part.filename === undefined) seen.push(`${part.name}=${part.value}`)
      else {
        let text = ''
        for await (const chunk of part) text += new TextDecoder().decode(chunk)
        seen.push(`${part.name}:${part.filename}:${part.type}:${text}`)
      }
    }
    expect(seen).toEqual(['a=1', 'f:x.txt:text/plain:file body', 'b=2'])
    expect(form.fields).toEqual({ a: '1', b: '2' })
  })

  it('skips a file left unread', async () => {
    const form = await parseStreamedForm(type, source(multipart([file('f', 'x.txt', 'y'.repeat(100_000)), field('after', 'yes')]), 1000))
    const names: string[] = []
    for await (const part of form) names.push((part as FormPart).name)
    expect(names).toEqual(['f', 'after'])
    expect(form.fields).toEqual({ after: 'yes' })
  })

  it('lets the body go when the reader breaks out: the rest is acknowledged, so it drains', async () => {
    const { s, granted } = stream()
    const body = bytes(multipart([field('a', '1'), file('f', 'x.txt', 'q'.repeat(200_000)), field('b', '2')]))
    const form = await parseStreamedForm(type, s)
    const reading = (async () => { for await (const part of form) return part.name })()
    for (let i = 0; i < body.byteLength; i += 16384) {
      s.push(body.subarray(i, i + 16384))
      await new Promise(resolve => setImmediate(resolve))
    }
    s.end()
    expect(await reading).toBe('a')
    await new Promise(resolve => setImmediate(resolve))
    expect(granted.reduce((a, b) => a + b, 0)).toBe(body.byteLength)
  })

  it('throws a coded error for a form past its limits, and for a malformed one', async () => {
    const limited = await parseStreamedForm(type, source(multipart([file('f', 'x.txt', 'z'.repeat(5000))]), 512), { fileSize: 1000 })
    await expect((async () => { for await (const part of limited) for await (const _ of part) { /* read */ } })()).rejects.toMatchObject({ code: 'ISOPOOL_ERR_FORM_LIMIT' })
    const broken = await parseStreamedForm(type, source(`--${boundary}\r\ncontent-disposition: form-data; name="a"\r\n\r\nno end`, 4))
    await expect((async () => { for await (const _ of broken) { /* read */ } })()).rejects.toMatchObject({ code: 'ISOPOOL_ERR_BAD_REQUEST' })
    await expect(parseStreamedForm('text/plain', source('', 1))).rejects.toMatchObject({ code: 'ISOPOOL_ERR_UNSUPPORTED_MEDIA_TYPE' })
  })
})
