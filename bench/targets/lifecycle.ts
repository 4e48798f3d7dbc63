// The contract every bench target keeps with bench/run.ts: listen on 127.0.0.1, port 0; print
// ONE line of JSON, {"port":N,"pid":P}, on stdout once it accepts requests; exit on SIGTERM.

/** Announce readiness, then close gracefully on SIGTERM/SIGINT (forcibly if that takes > 3 s). */
export function ready (port: number, close: () => Promise<void>): void {
  process.stdout.write(JSON.stringify({ port, pid: process.pid }) + '\n')
  let closing = false
  const stop = (): void => {
    if (closing) return
    closing = true
    // A server stuck with requests in flight would never finish a graceful close; the harness
    // must not hang on it.
    setTimeout(() => {
      console.error(`target ${process.argv[1]}: close() took over 3 s, exiting anyway`)
      process.exit(0)
    }, 3000).unref()
    close().then(() => process.exit(0), (err: unknown) => {
      console.error(err)
      process.exit(1)
    })
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}
