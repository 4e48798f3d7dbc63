// The example application, started from a script with the API (`npm start` serves the same routes
// with the CLI: `isopool serve handlers/routes`): `PORT` (default 3000), one isolate per core.
import { createServer } from 'isopool'

const port = Number(process.env.PORT ?? 3000)
const host = process.env.HOST ?? '127.0.0.1'

const server = createServer({
  isolates: 'auto',
  root: import.meta.dirname,
  // Typed routes, declared with route() in these modules and found by each isolate. (Plain
  // handlers named by module and export go in `routes: [{ method, path, handler: './m.ts#fn' }]`.)
  modules: ['./routes'],
  docs: { title: 'isopool example app', version: '0.1.0' }
})

const { url } = await server.listen({ port, host })
console.log(`isopool listening on ${url} with ${server.isolateCount} isolate${server.isolateCount === 1 ? '' : 's'}; API docs at ${url}/docs`)

let stopping = false
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return
    stopping = true
    console.log(`${signal}: finishing requests in flight, then stopping`)
    server.close().then(() => process.exit(0), (err) => { console.error(err); process.exit(1) })
  })
}
