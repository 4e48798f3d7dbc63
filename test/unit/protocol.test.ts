// How both threads name a handler's module in messages (src/shared/protocol.ts).
import { describe, expect, it } from 'vitest'
import { pathToFileURL } from 'node:url'
import { modulePath } from '../../src/shared/protocol.ts'

describe('modulePath', () => {
  it('is the decoded file path of a file: URL', () => {
    expect(modulePath(pathToFileURL('/app/routes/my users.ts').href)).toBe('/app/routes/my users.ts')
    expect(modulePath('file:///app/%C3%A9.ts')).toBe('/app/é.ts')
  })

  it('is any other URL as given', () => {
    for (const url of ['data:text/javascript,export default 1', 'https://example.com/a%20b.js', 'node:fs', '/app/a.ts']) {
      expect(modulePath(url)).toBe(url)
    }
  })
})
