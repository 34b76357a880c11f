#!/usr/bin/env bash
# The README's test command (`npm test`): installs what the tests need (offline toolchain, Nix,
# OpenSSH, node modules), then runs every jest project: unit, nix, terraform, modules, library, e2e,
# in one jest run with several workers (jest.config.js; NICO_TEST_WORKERS overrides their number).
# `npm test -- nix` (or `npm run test:nix`) runs one project; `npm test -- __tests__/e2e/deploy.test.ts`
# runs one file (any number of projects and files may be given).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/bootstrap.sh
# shellcheck source=scripts/tf-env.sh
. scripts/tf-env.sh

args=()
files=()
for arg in "$@"; do
  if [ -f "$arg" ]; then files+=("$arg"); else args+=(--selectProjects "$arg"); fi
done
[ "${#files[@]}" = 0 ] || args+=(--runTestsByPath "${files[@]}")
exec npx jest --ci "${args[@]}"
