// req.ip over real sockets, by trustProxy: the socket's peer by default (the forwarding headers
// ignored), else the walk over X-Forwarded-For (or Forwarded) from the peer leftwards.
import { afterEach, describe, expect, it } from 'vitest'
import { createServer } from 'isopool'
import type { ServerOptions } from 'isopool'
import { start } from './helpers.ts'
import type { Running } from './helpers.ts'

let app: Running | null = null
afterEach(async () => {
  await app?.close()
  app = null
})

async function ipWith (trustProxy: ServerOptions['trustProxy'], headers: Record<string, string>): Promise<string> {
  app ??= await start({ isolates: 1, trustProxy }, [['GET', '/whoami', './client-info.ts#whoami']])
  const r = await app.get('/whoami', headers)
  expect(r.status).toBe(200)
  return r.json.ip
}

describe('req.ip', () => {
  it('is the socket\'s peer by default, whatever the headers say', async () => {
    expect(await ipWith(undefined, {})).toBe('127.0.0.1')
    expect(await ipWith(undefined, { 'x-forwarded-for': '203.0.113.7' })).toBe('127.0.0.1')
    expect(await ipWith(undefined, { forwarded: 'for=203.0.113.7' })).toBe('127.0.0.1')
  })

  it('trustProxy: true takes the left-most X-Forwarded-For address', async () => {
    expect(await ipWith(true, { 'x-forwarded-for': '203.0.113.7, 198.51.100.1' })).toBe('203.0.113.7')
    expect(await ipWith(true, {})).toBe('127.0.0.1')
  })

  it('trustProxy: true reads Forwarded when there is no X-Forwarded-For, bracketed and quoted', async () => {
    expect(await ipWith(true, { forwarded: 'for="[2001:db8::1]:4711";proto=https, for=198.51.100.1' })).toBe('2001:db8::1')
    // X-Forwarded-For wins when both came: one of them a client wrote.
    expect(await ipWith(true, { forwarded: 'for=192.0.2.9', 'x-forwarded-for': '203.0.113.8' })).toBe('203.0.113.8')
  })

  it('a number of hops takes the address that many hops left of the peer', async () => {
    expect(await ipWith(1, { 'x-forwarded-for': '203.0.113.7, 198.51.100.1, 10.0.0.2' })).toBe('10.0.0.2')
    await app!.close()
    app = null
    expect(await ipWith(2, { 'x-forwarded-for': '203.0.113.7, 198.51.100.1, 10.0.0.2' })).toBe('198.51.100.1')
  })

  it('proxy addresses: the first hop from the right that is not one of them', async () => {
    const h = { 'x-forwarded-for': '203.0.113.7, 198.51.100.1, 10.1.2.3' }
    expect(await ipWith('127.0.0.1, 10.0.0.0/8', h)).toBe('198.51.100.1')
    // A forged address left of a real client stays left of it: never reached.
    expect(await ipWith('127.0.0.1, 10.0.0.0/8', { 'x-forwarded-for': '1.1.1.1, 203.0.113.7' })).toBe('203.0.113.7')
    await app!.close()
    app = null
    expect(await ipWith(['loopback'], h)).toBe('10.1.2.3')
  })

  it('an untrusted peer is the client, whatever X-Forwarded-For says', async () => {
    expect(await ipWith(['192.0.2.1'], { 'x-forwarded-for': '203.0.113.7' })).toBe('127.0.0.1')
  })

  it('createServer() refuses a trustProxy it cannot read', () => {
    for (const bad of ['not-an-ip', -1, { proxies: 1 }]) {
      expect(() => createServer({ isolates: 1, trustProxy: bad as never }), JSON.stringify(bad)).toThrow(expect.objectContaining({ code: 'ISOPOOL_ERR_INVALID_OPTION' }))
    }
  })
})
