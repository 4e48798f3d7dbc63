export function hello () {
  return { hello: 'world' }
}
