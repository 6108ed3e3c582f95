import { defineConfig } from 'vitest/config';

// Unit tests sit beside the code (src/**/*.test.ts) and may use fakes. Integration and end-to-end
// suites (test/**/*.test.ts) drive bin/devloop against fixtures/ with the real Docker engine and the
// real cluster; they run one file at a time because they share both. The unit project runs first
// and alone, then the e2e project (sequence.groupOrder): timing-sensitive unit tests must not share
// the machine's cores with Docker builds.
export default defineConfig({
  test: {
    reporters: ['default', './test/summary-reporter.ts'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['src/**/*.test.{ts,tsx}'],
          sequence: { groupOrder: 0 },
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/**/*.test.ts'],
          // Restarts the shared cluster: run last and alone by `npm test` (npm run test:cluster-lifecycle).
          exclude: ['test/cluster-lifecycle.test.ts'],
          globalSetup: ['test/global-setup.ts'],
          sequence: { groupOrder: 1 },
          fileParallelism: false,
          testTimeout: 300_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
