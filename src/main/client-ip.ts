// The client's address (req.ip), by the trustProxy option: whom to believe about it.
//
//   client ──▶ proxy A ──▶ proxy B ──▶ isopool      X-Forwarded-For: client, A   (peer: B)
//
//   chain, right to left:  B (the socket's peer, hop 0) · A (hop 1) · client (hop 2)
//
// The walk starts at the socket's peer and goes left through X-Forwarded-For while the hop it
// is at is trusted; the first untrusted hop is the client (whatever lies left of it, it could
// have written itself). All trusted: the left-most address. `trustProxy` decides what "trusted"
// is — every hop (true), the first n hops (a number), or the proxies' own addresses (a list).
//
// Off (the default), req.ip is the socket's peer and no header is read. On, the headers are read
// from the head text only for this, and the trust test is compiled once: IPv4 ranges as
// (network, mask) pairs, IPv6 ones in a node:net BlockList.

import { BlockList, isIP } from 'node:net'
import type { Http1Request } from './http1.ts'
import { fieldListReader } from './request-fields.ts'
import { badOption } from './services.ts'

/** Whether the hop `hop` (0: the socket's peer) at `address` is a proxy to believe. */
export type TrustHop = (address: string, hop: number) => boolean

/** Named ranges a trustProxy list may use, as proxy-addr (Express) names them. */
const PRESETS: Record<string, string[]> = {
  loopback: ['127.0.0.1/8', '::1/128'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
  uniquelocal: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7']
}

const readForwardedFor = fieldListReader('x-forwarded-for')
const readForwarded = fieldListReader('forwarded')
const MAPPED = /^::ffff:(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/i

/** An IPv4-mapped IPv6 address (::ffff:127.0.0.1) as the IPv4 address it maps (127.0.0.1). */
export function unmapped (address: string): string {
  if (address.charCodeAt(0) !== 58) return address // ':': not even IPv6
  const m = MAPPED.exec(address)
  return m === null ? address : m[1]
}

/**
 * The trust test of a trustProxy value, or null when it trusts nothing (false, 0, an empty
 * list: req.ip is the socket's peer). Throws ISOPOOL_ERR_INVALID_OPTION for anything else.
 */
export function compileTrust (option: unknown): TrustHop | null {
  if (option === undefined || option === false) return null
  if (option === true) return () => true
  if (typeof option === 'number') {
    if (!Number.isInteger(option) || option < 0 || option > 1024) badOption('trustProxy', `a number of hops must be an integer from 0 to 1024, got ${option}`)
    const hops = option
    return hops === 0 ? null : (_address, hop) => hop < hops
  }
  let entries: unknown[]
  if (typeof option === 'string') entries = option.split(',')
  else if (Array.isArray(option)) entries = option
  else return badOption('trustProxy', `must be a boolean, a number of hops, or proxy addresses (a list or a comma-separated string), got ${typeof option}`)
  const v4: number[] = [] // (network, mask) pairs, unsigned
  const v6 = new BlockList()
  let any6 = false
  let any = false
  for (const entry of entries) {
    if (typeof entry !== 'string') badOption('trustProxy', `each proxy address must be a string, got ${typeof entry}`)
    const e = (entry as string).trim()
    if (e === '') continue
    for (const range of PRESETS[e.toLowerCase()] ?? [e]) {
      if (addRange(v4, v6, range, e) === 6) any6 = true
    }
    any = true
  }
  if (!any) return null
  // IPv4 (and IPv4-mapped) addresses are matched here, a parse and a compare per range; a
  // BlockList check costs several times more (it builds a SocketAddress), so only IPv6 goes there.
  return (address) => {
    const a = unmapped(address)
    const n = ipv4(a)
    if (n >= 0) {
      for (let i = 0; i < v4.length; i += 2) if (((n & v4[i + 1]) >>> 0) === v4[i]) return true
      return false
    }
    return any6 && isIP(a) === 6 && v6.check(a, 'ipv6')
  }
}

/** A dotted-quad IPv4 address as an unsigned 32-bit number, or -1 when `a` is not one. */
export function ipv4 (a: string): number {
  let n = 0
  let octet = -1
  let dots = 0
  let digits = 0
  for (let i = 0; i < a.length; i++) {
    const c = a.charCodeAt(i)
    if (c === 46) { // '.'
      if (octet < 0 || dots === 3) return -1
      n = n * 256 + octet
      octet = -1
      digits = 0
      dots++
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && octet === 0) return -1 // a leading zero: not an address node:net takes
      octet = octet < 0 ? c - 48 : octet * 10 + c - 48
      if (octet > 255) return -1
      digits++
    } else {
      return -1
    }
  }
  if (dots !== 3 || octet < 0) return -1
  return n * 256 + octet
}

/** Add an address or CIDR range to the IPv4 pairs or the IPv6 list; its family. `given` names
 * it in the error. */
function addRange (v4: number[], v6: BlockList, range: string, given: string): 4 | 6 {
  const slash = range.indexOf('/')
  const address = unmapped(slash < 0 ? range : range.slice(0, slash))
  const family = isIP(address)
  const bad = (): never => badOption('trustProxy', `"${given}" is not an IP address, a CIDR range (10.0.0.0/8) or one of ${Object.keys(PRESETS).join(', ')}`)
  if (family === 0) bad()
  let prefix = family === 4 ? 32 : 128
  if (slash >= 0) {
    const bits = range.slice(slash + 1)
    prefix = /^\d{1,3}$/.test(bits) ? Number(bits) : -1
    if (prefix < 0 || prefix > (family === 4 ? 32 : 128)) bad()
  }
  if (family === 6) {
    v6.addSubnet(address, prefix, 'ipv6')
    return 6
  }
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0
  v4.push((ipv4(address) & mask) >>> 0, mask)
  return 4
}

/** One address of a forwarding header as an address: `[v6]:port` and `v4:port` lose the port
 * and brackets; anything else (an obfuscated name, `unknown`) is kept as it is. */
export function hopAddress (value: string): string {
  const v = value.trim()
  if (v.charCodeAt(0) === 91) { // '['
    const end = v.indexOf(']')
    return end < 0 ? v : v.slice(1, end)
  }
  const colon = v.indexOf(':')
  if (colon > 0 && v.indexOf(':', colon + 1) < 0 && v.includes('.')) return v.slice(0, colon)
  return v
}

/** The addresses of an X-Forwarded-For value, left (the client) to right (the last proxy). */
export function forwardedForList (value: string): string[] {
  const out: string[] = []
  for (const part of value.split(',')) {
    const a = hopAddress(part)
    if (a !== '') out.push(a)
  }
  return out
}

/**
 * The `for=` addresses of a Forwarded value (RFC 7239), left to right: elements separated by
 * commas, pairs by semicolons, a value a token or a quoted string (`for="[2001:db8::1]:4711"`),
 * which may hold commas and semicolons. An element without `for=` adds nothing.
 */
export function forwardedList (value: string): string[] {
  const out: string[] = []
  let i = 0
  const n = value.length
  while (i < n) {
    // One pair: name = value
    while (i < n && (value[i] === ' ' || value[i] === '\t' || value[i] === ';' || value[i] === ',')) i++
    const eq = value.indexOf('=', i)
    if (eq < 0) break
    const name = value.slice(i, eq).trim().toLowerCase()
    i = eq + 1
    let v = ''
    if (value[i] === '"') {
      i++
      while (i < n && value[i] !== '"') {
        if (value[i] === '\\' && i + 1 < n) i++
        v += value[i++]
      }
      i++ // the closing quote
    } else {
      const from = i
      while (i < n && value[i] !== ';' && value[i] !== ',') i++
      v = value.slice(from, i).trim()
    }
    if (name === 'for') {
      const a = hopAddress(v)
      if (a !== '') out.push(a)
    }
    // Skip to the end of this pair (garbage after a quoted value).
    while (i < n && value[i] !== ';' && value[i] !== ',') i++
  }
  return out
}

/** The client's address: walk `chain` (left to right, as the header lists it) from the right,
 * starting at the socket's `peer`, while each hop is trusted. */
export function walkForwarded (peer: string, chain: readonly string[], trust: TrustHop): string {
  if (!trust(peer, 0)) return peer
  let address = peer
  for (let i = chain.length - 1, hop = 1; i >= 0; i--, hop++) {
    address = chain[i]
    if (!trust(address, hop)) return address
  }
  return address
}

/**
 * How the server finds a request's client address, built once from the trustProxy option: the
 * socket's peer when it trusts nothing; else the walk over X-Forwarded-For (or, when a request
 * has none, the Forwarded header's `for=`; never both, since a client could write the one the
 * proxies do not).
 */
export function clientIpResolver (option: unknown): (req: Http1Request) => string {
  const trust = compileTrust(option)
  if (trust === null) return (req) => req.remoteAddress
  return (req) => {
    const peer = req.remoteAddress
    const xff = readForwardedFor(req.head)
    if (xff !== undefined) return walkForwarded(peer, forwardedForList(xff), trust)
    const fwd = readForwarded(req.head)
    return walkForwarded(peer, fwd === undefined ? [] : forwardedList(fwd), trust)
  }
}
