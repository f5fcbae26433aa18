#!/usr/bin/env bash
# `npm run bench`: the pull benchmark (bench/pull.ts), Berth side by side with skopeo+umoci and
# the tar floor. Needs root (umoci unpack, owners, device nodes) and Debian 12.
#   npm run bench                      5 timed iterations per tool and filesystem
#   npm run bench -- --iterations 9    more iterations
#   npm run bench -- --profile         also one pull under `node --cpu-prof`, summarised
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "bench: run as root (umoci unpack and Berth's unpacking apply owners and device nodes)" >&2
  exit 2
fi

# The test packages: docker-registry, busybox-static, skopeo, umoci, htpasswd, openssl ...
bash scripts/setup-debian.sh
# Plus what only the benchmark uses.
missing=()
for p in debootstrap; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -d node_modules ]; then
  npm ci
fi
if [ ! -f dist/berth.js ]; then
  npm run build
fi

# The layer inspector's open time (bench/inspector.ts; a few seconds).
node --import tsx bench/inspector.ts
command -v crun >/dev/null && command -v runc >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends crun runc >/dev/null; }
# The runtime tables go after the pull table in bench/results/latest.md; stale copies go first.
rm -f bench/.cache/latest-start.md bench/.cache/latest-runtime.md
node --import tsx bench/start.ts    # container start vs crun/runc (~20 s)
node --import tsx bench/runtime.ts  # 50 at once, exec, 121-layer overlay, idle CPU (~2 min)
node --import tsx bench/pull.ts "$@"
for part in start runtime; do
  if [ -f "bench/.cache/latest-$part.md" ]; then
    { echo; echo '---'; echo; cat "bench/.cache/latest-$part.md"; } >> bench/results/latest.md
  fi
done
echo "bench: bench/results/latest.md holds the pull, start and runtime tables"
