#!/usr/bin/env bash
# `npm test`: builds, type-checks, checks the import rules (scripts/check-imports.mjs), then runs
# every test with node's built-in runner. Integration tests need root and the Debian packages from
# scripts/setup-debian.sh; they fail loudly without.
# The end-to-end tests (test/e2e) need code-server and Chromium: scripts/setup-e2e.sh installs them
# on the first run (a few minutes) and only checks on later runs.
# Before the tests: the bundles, the type-checks, the import rules (scripts/check-imports.mjs) and
# biome's format and lint check of the whole tree.
# test/final/leftovers.test.ts comes last: once the other files are done, it fails if any test
# mount, cgroup, network namespace, bridge, rule, container process or temp dir is left.
set -euo pipefail
cd "$(dirname "$0")/.."
node scripts/build.mjs
npx tsc --noEmit -p .
npx tsc --noEmit -p webview
node scripts/check-imports.mjs
# Formatting and lint of the whole tree (biome.json): a finding fails the run before any test.
npx biome ci --colors=off .
bash scripts/setup-e2e.sh
exec node --import tsx --test --test-concurrency=2 --test-timeout=600000 test/unit/*.test.ts test/integration/*.test.ts test/e2e/*.test.ts test/final/*.test.ts
