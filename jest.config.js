// One jest run, six projects: `npm test` runs them all; `jest --selectProjects nix` runs one.
// Terraform and end-to-end tests drive real binaries; their files set long timeouts themselves.
const base = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  // Source maps on for the tests only (tsconfig.json has them off for the build): without them a
  // failure names a line of the compiled file, not of the test.
  transform: { '^.+\\.tsx?$': ['ts-jest', { tsconfig: { sourceMap: true } }] },
};

// Workers: the e2e files spend most of their time waiting (stand-in sleeps, SSH, readiness polls), so
// more of them run at once than there are cores; each lab has its own network namespace, runner state
// directory (TMPDIR) and work directories (__tests__/e2e/harness/lab.ts). jest's default (cores - 1)
// gives one worker on 2 cores. NICO_TEST_WORKERS overrides it (e.g. 1 to run everything in one process).
const workers = Number(process.env.NICO_TEST_WORKERS) || 6;

module.exports = {
  maxWorkers: workers,
  // Longest file first (e2e first), so that no long file starts last and runs alone at the end.
  testSequencer: '<rootDir>/scripts/jest-sequencer.js',
  projects: [
    { ...base, displayName: 'unit', testMatch: ['<rootDir>/__tests__/constructs/**/*.test.ts', '<rootDir>/__tests__/main.test.ts'] },
    { ...base, displayName: 'nix', testMatch: ['<rootDir>/__tests__/nix-templates/**/*.test.ts'] },
    { ...base, displayName: 'terraform', testMatch: ['<rootDir>/__tests__/terraform/**/*.test.ts'] },
    { ...base, displayName: 'modules', testMatch: ['<rootDir>/__tests__/modules/**/*.test.ts'] },
    { ...base, displayName: 'library', testMatch: ['<rootDir>/__tests__/library/**/*.test.ts'] },
    { ...base, displayName: 'e2e', testMatch: ['<rootDir>/__tests__/e2e/**/*.test.ts'] },
  ],
};
