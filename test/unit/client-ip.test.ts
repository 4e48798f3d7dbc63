// The client's address (src/main/client-ip.ts): the forwarding headers parsed, the trust test
// compiled from trustProxy, and the walk from the socket's peer leftwards.
import { describe, expect, it } from 'vitest'
import { compileTrust, forwardedForList, forwardedList, hopAddress, ipv4, unmapped, walkForwarded } from '../../src/main/client-ip.ts'

describe('the forwarding headers', () => {
  it('X-Forwarded-For: addresses left to right, ports and brackets dropped, empty items skipped', () => {
    expect(forwardedForList('203.0.113.7, 10.0.0.2 ,10.0.0.1')).toEqual(['203.0.113.7', '10.0.0.2', '10.0.0.1'])
    expect(forwardedForList('203.0.113.7:5123, [2001:db8::1]:80, 2001:db8::2')).toEqual(['203.0.113.7', '2001:db8::1', '2001:db8::2'])
    expect(forwardedForList(' , 1.2.3.4,,')).toEqual(['1.2.3.4'])
  })

  it('Forwarded: the for= of each element, quoted and bracketed forms, any case', () => {
    expect(forwardedList('for=192.0.2.60;proto=http;by=203.0.113.43')).toEqual(['192.0.2.60'])
    expect(forwardedList('for="[2001:db8:cafe::17]:4711"')).toEqual(['2001:db8:cafe::17'])
    expect(forwardedList('For="192.0.2.43:47011", for=198.51.100.17;by=203.0.113.60;proto=http;host=example.com'))
      .toEqual(['192.0.2.43', '198.51.100.17'])
    expect(forwardedList('proto=https, for=unknown, for=_hidden')).toEqual(['unknown', '_hidden'])
    // A quoted value may hold commas and semicolons.
    expect(forwardedList('by="a,b;c";for=1.2.3.4')).toEqual(['1.2.3.4'])
    expect(forwardedList('garbage')).toEqual([])
  })

  it('hopAddress keeps what is not an address with a port', () => {
    expect(hopAddress(' 1.2.3.4:80 ')).toBe('1.2.3.4')
    expect(hopAddress('[::1]')).toBe('::1')
    expect(hopAddress('::1')).toBe('::1')
    expect(hopAddress('unknown')).toBe('unknown')
  })

  it('unmapped turns an IPv4-mapped IPv6 address into IPv4', () => {
    expect(unmapped('::ffff:127.0.0.1')).toBe('127.0.0.1')
    expect(unmapped('::FFFF:10.1.2.3')).toBe('10.1.2.3')
    expect(unmapped('::1')).toBe('::1')
  })
})

describe('ipv4', () => {
  it('reads a dotted quad as an unsigned number', () => {
    expect(ipv4('0.0.0.0')).toBe(0)
    expect(ipv4('1.2.3.4')).toBe(0x01020304)
    expect(ipv4('255.255.255.255')).toBe(0xffffffff)
    expect(ipv4('10.0.0.1')).toBe(0x0a000001)
  })

  it('refuses what node:net would not take for IPv4', () => {
    for (const bad of ['', '1.2.3', '1.2.3.4.5', '256.0.0.1', '01.2.3.4', '1.2.3.04', '1..2.3', '.1.2.3', '1.2.3.', '::1', 'a.b.c.d', '1.2.3.4 ']) {
      expect(ipv4(bad), JSON.stringify(bad)).toBe(-1)
    }
  })
})

describe('walkForwarded', () => {
  const chain = ['203.0.113.7', '198.51.100.1', '10.0.0.2']
  const peer = '10.0.0.1'

  it('trusting every hop: the left-most address', () => {
    expect(walkForwarded(peer, chain, compileTrust(true)!)).toBe('203.0.113.7')
  })

  it('trusting n hops: the address n hops left of the peer', () => {
    expect(walkForwarded(peer, chain, compileTrust(1)!)).toBe('10.0.0.2')
    expect(walkForwarded(peer, chain, compileTrust(2)!)).toBe('198.51.100.1')
    expect(walkForwarded(peer, chain, compileTrust(3)!)).toBe('203.0.113.7')
    expect(walkForwarded(peer, chain, compileTrust(10)!)).toBe('203.0.113.7')
  })

  it('trusting addresses: the first untrusted hop from the right', () => {
    const trust = compileTrust(['10.0.0.0/8'])!
    expect(walkForwarded(peer, chain, trust)).toBe('198.51.100.1')
    expect(walkForwarded(peer, ['203.0.113.7', '10.9.9.9'], trust)).toBe('203.0.113.7')
    // An untrusted peer is the client, whatever the header says.
    expect(walkForwarded('192.0.2.1', chain, trust)).toBe('192.0.2.1')
    // No header: the peer.
    expect(walkForwarded(peer, [], trust)).toBe(peer)
  })

  it('matches IPv4-mapped IPv6 peers against IPv4 proxies', () => {
    const trust = compileTrust('127.0.0.1')!
    expect(walkForwarded('::ffff:127.0.0.1', ['203.0.113.7'], trust)).toBe('203.0.113.7')
  })
})

describe('compileTrust', () => {
  it('trusts nothing for false, undefined, 0 and an empty list', () => {
    for (const o of [false, undefined, 0, '', [], ' , ']) expect(compileTrust(o), JSON.stringify(o)).toBeNull()
  })

  it('takes addresses, CIDR ranges and presets, as a list or comma-separated', () => {
    const trust = compileTrust('192.0.2.1, 10.0.0.0/8, loopback, 2001:db8::/32, 0.0.0.0/32')!
    for (const a of ['192.0.2.1', '10.200.3.4', '127.0.0.1', '::1', '2001:db8::5', '::ffff:10.0.0.1']) expect(trust(a, 0), a).toBe(true)
    for (const a of ['192.0.2.2', '11.0.0.1', '9.255.255.255', '2001:db9::1', 'unknown', '', '0.0.0.1']) expect(trust(a, 0), a).toBe(false)
    expect(compileTrust('0.0.0.0/0')!('198.51.100.7', 0)).toBe(true)
    expect(compileTrust('0.0.0.0/0')!('::2', 0)).toBe(false)
    expect(compileTrust('192.168.1.0/24')!('192.168.1.255', 0)).toBe(true)
    expect(compileTrust('192.168.1.0/24')!('192.168.2.0', 0)).toBe(false)
    const local = compileTrust(['uniquelocal', 'linklocal'])!
    expect(local('172.16.5.5', 0)).toBe(true)
    expect(local('fe80::1', 0)).toBe(true)
    expect(local('fd12::1', 0)).toBe(true)
    expect(local('8.8.8.8', 0)).toBe(false)
  })

  it('refuses what is not an address, a range or a preset, and bad hop counts', () => {
    for (const bad of ['nope', '10.0.0.0/33', '::1/129', '1.2.3.4/x', -1, 1.5, {}, [1]]) {
      expect(() => compileTrust(bad), JSON.stringify(bad)).toThrow(expect.objectContaining({ code: 'ISOPOOL_ERR_INVALID_OPTION' }))
    }
  })
})
