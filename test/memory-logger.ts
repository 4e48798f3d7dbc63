// A pino logger writing into an array, one parsed JSON object per line: what the logger suites
// read the access log and req.log lines from.
import { Writable } from 'node:stream'
import { pino } from 'pino'
import type { LoggerOptions } from 'pino'

export type Line = Record<string, any>

export function memoryLogger (options: LoggerOptions = {}): { logger: pino.Logger, lines: Line[] } {
  const lines: Line[] = []
  const stream = new Writable({
    write (chunk: Buffer, _encoding, done) {
      for (const text of chunk.toString('utf8').split('\n')) if (text !== '') lines.push(JSON.parse(text))
      done()
    }
  })
  return { logger: pino(options, stream), lines }
}
