// The piscina worker of bench/micro/ring.ts: returns what it was given. piscina structured-clones
// the argument in and the result out, as it does for every piscina.run.

export default function echo (payload: unknown): unknown {
  return payload
}
