import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// The cluster's own suites (test/cluster.test.ts, test/cluster-lifecycle.test.ts) need neither the
// compiled devloop nor the fixtures, so they run without the repository config's global setup:
//   vitest run --config test/cluster/vitest.config.ts test/cluster.test.ts
export default defineConfig({
  test: {
    root: fileURLToPath(new URL('../..', import.meta.url)),
    include: ['test/cluster*.test.ts'],
    reporters: ['default', './test/summary-reporter.ts'],
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 180_000,
  },
});
