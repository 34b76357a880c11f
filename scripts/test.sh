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
# Terraform and its providers run several hundred times in the suite, which is CPU-bound on 2 cores:
# Go's collector running a quarter as often cuts their CPU by about 15% (a 3+2 plan: 1.31 s -> 1.10 s
# of CPU), for memory the machine has. Nothing Terraform does changes; a GOGC set by the caller wins.
export GOGC="${GOGC:-400}"

args=()
files=()
for arg in "$@"; do
  if [ -f "$arg" ]; then files+=("$arg"); else args+=(--selectProjects "$arg"); fi
done
[ "${#files[@]}" = 0 ] || args+=(--runTestsByPath "${files[@]}")
exec npx jest --ci "${args[@]}"
