#!/usr/bin/env bash
# `npm run test:soak`: the resilience suites run longer than `npm test` runs them, for the cases
# that only show up with more randomness or more load (several minutes; root and the packages of
# scripts/setup-debian.sh needed, as for `npm test`):
#   - the agent killed at 25 random points each of a pull, a container start and a commit
#     (test/integration/faults-kill.test.ts; BERTH_FAULT_SEED replays a run's points);
#   - 300 fuzzed params per declared request (test/integration/hostile-rpc.test.ts;
#     BERTH_FUZZ_SEED replays a run's params);
#   - 300 containers created, started and removed at once (test/integration/load.test.ts).
# Every seed is printed; SOAK_ROUNDS=N repeats the whole set N times with fresh seeds.
set -euo pipefail
cd "$(dirname "$0")/../.."
node scripts/build.mjs
rounds="${SOAK_ROUNDS:-1}"
for ((i = 1; i <= rounds; i++)); do
  echo "== soak round $i of $rounds"
  BERTH_FAULT_ROUNDS="${BERTH_FAULT_ROUNDS:-25}" BERTH_FUZZ_CASES="${BERTH_FUZZ_CASES:-300}" BERTH_LOAD_CONTAINERS="${BERTH_LOAD_CONTAINERS:-300}" \
    node --import tsx --test --test-concurrency=1 --test-timeout=1800000 \
    test/integration/faults-kill.test.ts test/integration/hostile-rpc.test.ts test/integration/load.test.ts
done
