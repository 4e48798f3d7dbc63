import type { Request } from 'isopool/handler'

/** Returns the request body as it came, with its content type. */
export function echo (req: Request) {
  const type = req.headers['content-type']
  return new Response(req.body, { headers: { 'content-type': typeof type === 'string' ? type : 'application/octet-stream' } })
}
