// One jest run, six projects: `npm test` runs them all; `jest --selectProjects nix` runs one.
// Terraform and end-to-end tests drive real binaries; their files set long timeouts themselves.
const base = {
  preset: 'ts-jest',
  testEnvironment: 'node',
};

module.exports = {
  projects: [
    { ...base, displayName: 'unit', testMatch: ['<rootDir>/__tests__/constructs/**/*.test.ts', '<rootDir>/__tests__/main.test.ts'] },
    { ...base, displayName: 'nix', testMatch: ['<rootDir>/__tests__/nix-templates/**/*.test.ts'] },
    { ...base, displayName: 'terraform', testMatch: ['<rootDir>/__tests__/terraform/**/*.test.ts'] },
    { ...base, displayName: 'modules', testMatch: ['<rootDir>/__tests__/modules/**/*.test.ts'] },
    { ...base, displayName: 'library', testMatch: ['<rootDir>/__tests__/library/**/*.test.ts'] },
    { ...base, displayName: 'e2e', testMatch: ['<rootDir>/__tests__/e2e/**/*.test.ts'] },
  ],
};
