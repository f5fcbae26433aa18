#!/usr/bin/env bash
# Installs what the end-to-end tests (test/e2e) stand on: a real VS Code served by code-server
# 4.100.3 (from npm; the last line that runs on Node 20), Debian's Chromium to drive it, and the
# packages code-server's native modules build against. Idempotent: a second run checks and exits.
#
# code-server goes to $BERTH_CODE_SERVER_DIR (default ~/.cache/berth/code-server-4.100.3), outside
# the repository, so `npm ci` never sees it: its own install script downloads ripgrep from GitHub,
# which this network refuses. Instead it is installed without scripts, its native modules are
# rebuilt against the local Node headers, and Debian's ripgrep stands in for the downloaded one.
set -euo pipefail

VERSION=4.100.3
dir="${BERTH_CODE_SERVER_DIR:-$HOME/.cache/berth/code-server-$VERSION}"
stamp="$dir/.berth-installed"
DEBS=(chromium ripgrep libkrb5-dev libx11-dev libxkbfile-dev libsecret-1-dev pkg-config)

missing=()
for p in "${DEBS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" != 0 ]; then
    echo "setup-e2e: missing Debian packages ${missing[*]}; run this script as root" >&2
    exit 1
  fi
  echo "setup-e2e: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ -f "$stamp" ]; then
  echo "setup-e2e: code-server $VERSION is installed in $dir"
  exit 0
fi

started=$(date +%s)
echo "setup-e2e: installing code-server $VERSION into $dir (a few minutes)"
rm -rf "$dir.partial"
mkdir -p "$dir.partial"
cd "$dir.partial"
echo '{"name":"berth-e2e-code-server","private":true}' >package.json
npm() { command npm --no-audit --no-fund --loglevel=error "$@"; }

npm install --ignore-scripts "code-server@$VERSION"
cs="$PWD/node_modules/code-server"
npm rebuild argon2

# What code-server's postinstall.sh does, minus the download.
cd "$cs/lib/vscode"
npm install --omit=dev --ignore-scripts
mkdir -p node_modules/@vscode/ripgrep/bin
cp /usr/bin/rg node_modules/@vscode/ripgrep/bin/rg
# Every native module the server and the extension host load (ripgrep's script only downloads).
npm_config_yes=true npm rebuild @parcel/watcher @vscode/spdlog @vscode/deviceid kerberos native-watchdog node-pty
ln -sfn node_modules node_modules.asar
(cd bin/remote-cli && ln -sfn code-linux.sh code-server)
(cd bin/helpers && ln -sfn browser-linux.sh browser.sh)
cd extensions
npm install --omit=dev --ignore-scripts

for f in node_modules/node-pty/build/Release/pty.node node_modules/@vscode/spdlog/build/Release/spdlog.node \
  node_modules/native-watchdog/build/Release/watchdog.node; do
  [ -f "$cs/lib/vscode/$f" ] || { echo "setup-e2e: $f was not built" >&2; exit 1; }
done

cd /
touch "$dir.partial/.berth-installed"
rm -rf "$dir"
mv "$dir.partial" "$dir"
echo "setup-e2e: code-server $VERSION installed in $dir in $(($(date +%s) - started)) s"
