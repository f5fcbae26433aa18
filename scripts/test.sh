#!/usr/bin/env bash
# `npm test`: builds, type-checks, then runs every test with node's built-in runner. Integration
# tests need root and the Debian packages from scripts/setup-debian.sh; they fail loudly without.
set -euo pipefail
cd "$(dirname "$0")/.."
node scripts/build.mjs
npx tsc --noEmit -p .
exec node --import tsx --test --test-concurrency=2 --test-timeout=600000 test/unit/*.test.ts test/integration/*.test.ts
