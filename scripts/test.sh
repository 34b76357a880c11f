#!/usr/bin/env bash
# The README's test command (`npm test`): installs what the tests need (offline toolchain, Nix,
# OpenSSH, node modules), then runs every jest project: unit, nix, terraform, modules, e2e.
# `npm test -- nix` (or `npm run test:nix`) runs one project.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/bootstrap.sh
# shellcheck source=scripts/tf-env.sh
. scripts/tf-env.sh

projects=()
for project in "$@"; do projects+=(--selectProjects "$project"); done
exec npx jest --ci "${projects[@]}"
