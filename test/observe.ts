// Waiting for what a test can observe instead of sleeping: a state of the server (server.inFlight,
// server.waiting, server.restarts, /readyz, …) polled every few ms with a generous
// deadline that is a bound, never a timing claim; and signals the handler fixtures send from
// their isolates (a BroadcastChannel reaches every thread of the process).
import { BroadcastChannel } from 'node:worker_threads'

/** Resolves once `ok()` holds (it may ask the server: a promise), checked every `every` ms;
 * rejects after `ms` naming `what`. */
export async function until (what: string, ok: () => boolean | Promise<boolean>, ms = 10_000, every = 2): Promise<void> {
  const deadline = Date.now() + ms
  while (!await ok()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, every))
  }
}

/** A channel of this test's that fixtures post to (`signal(name, message)` in test/fixtures/signal.ts,
 * named by a request's `?signal=`): every message received, in order, and a wait for one. */
export class Signals {
  readonly name = `isopool-test-${process.pid}-${Math.random().toString(36).slice(2)}`
  readonly seen: string[] = []
  private readonly channel = new BroadcastChannel(this.name)
  private readonly waiters = new Set<() => void>()

  constructor () {
    this.channel.onmessage = (event) => {
      this.seen.push(String((event as MessageEvent).data))
      for (const w of this.waiters) w()
    }
    // A BroadcastChannel keeps the process alive: this one must not.
    this.channel.unref()
  }

  /** Resolves once `ok(seen)` holds; rejects after `ms`. */
  wait (what: string, ok: (seen: readonly string[]) => boolean, ms = 10_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!ok(this.seen)) return
        done()
        resolve()
      }
      const timer = setTimeout(() => {
        done()
        reject(new Error(`timed out after ${ms} ms waiting for ${what}; signals seen: ${JSON.stringify(this.seen.slice(-20))}`))
      }, ms)
      const done = (): void => { clearTimeout(timer); this.waiters.delete(check) }
      this.waiters.add(check)
      check()
    })
  }

  close (): void { this.channel.close() }
}
