// The two smallest routes: a greeting, and an echo of the request body with its content type.
import { route } from 'isopool/handler'

export const hello = route({ method: 'GET', path: '/', summary: 'Say hello', tags: ['hello'] }, () => ({ hello: 'world' }))

export const echo = route({ method: 'POST', path: '/echo', summary: 'Echo the body back, with its content type', tags: ['hello'] }, (req) => {
  const type = req.headers['content-type']
  return new Response(req.body, { headers: { 'content-type': typeof type === 'string' ? type : 'application/octet-stream' } })
})
