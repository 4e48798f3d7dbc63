import { defineConfig } from 'vitest/config'

// Only the unit tests (test/unit/**): pure logic, no sockets, no worker threads. StrykerJS runs
// these (stryker.config.json, docs/mutation.md); `npm test` keeps using vitest.config.ts.
export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts']
  }
})
