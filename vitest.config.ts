import { defineConfig } from 'vitest/config';

// CI (.ci/run) asks for a JSON report beside the normal output, to print one plain closing line.
const report = process.env.TRAILHOUND_TEST_REPORT;

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'scripts/**/*.test.ts', 'bench/**/*.test.ts'],
    testTimeout: 30_000,
    pool: 'forks',
    reporters: report ? ['default', 'json'] : ['default'],
    ...(report ? { outputFile: { json: report } } : {}),
  },
});
