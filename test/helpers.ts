// Shared test plumbing: a server on a free loopback port and an undici client for it.
import { fileURLToPath } from 'node:url'
import { Agent, request } from 'undici'
import { createServer } from 'isopool'
import type { Server, ServerOptions } from 'isopool'

export const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url))

export interface Running {
  server: Server
  url: string
  agent: Agent
  get (path: string, headers?: Record<string, string>): Promise<Reply>
  post (path: string, body: string | Uint8Array, headers?: Record<string, string>): Promise<Reply>
  close (): Promise<void>
}

export interface Reply {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: Buffer
  text: string
  json: any
}

export async function start (options: ServerOptions, routes: [string, string, string][] = []): Promise<Running> {
  const server = createServer({ root: fixtures, ...options })
  for (const [method, path, handler] of routes) server.route(method as 'GET', path, handler)
  const { url } = await server.listen({ port: 0, host: '127.0.0.1' })
  const agent = new Agent({ connections: 128, pipelining: 1 })
  const send = async (method: string, path: string, body?: string | Uint8Array, headers?: Record<string, string>): Promise<Reply> => {
    const res = await request(url + path, { method: method as 'GET', body, headers, dispatcher: agent })
    const buf = Buffer.from(await res.body.arrayBuffer())
    const text = buf.toString('utf8')
    let json: unknown
    try { json = JSON.parse(text) } catch { json = undefined }
    return { status: res.statusCode, headers: res.headers, body: buf, text, json }
  }
  return {
    server,
    url,
    agent,
    get: (path, headers) => send('GET', path, undefined, headers),
    post: (path, body, headers) => send('POST', path, body, headers),
    async close () {
      await server.close()
      await agent.close()
    }
  }
}
