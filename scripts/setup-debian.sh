#!/usr/bin/env bash
# Installs the Debian packages Berth's tests and benchmarks use. Idempotent; needs root.
#   docker-registry  a real OCI registry (CNCF distribution), started on 127.0.0.1 by the tests
#   busybox-static   a static busybox to build test images without the network
#   skopeo, umoci    peers: the comparison test unpacks the same images with umoci
#   podman           a peer: the archive test checks `podman load` accepts `berth save` archives
#   apache2-utils    htpasswd, for the registry's Basic-auth configuration
#   openssl          certificates for the registry's Bearer-token configuration
#   zstd             zstd-compressed test layers
#   attr             getfattr/setfattr, to inspect xattrs by hand
#   iproute2         `ip`: the default network's bridge, veths and network namespaces
#   iptables         NAT and forwarding rules of the default network (iptables-nft on Debian 12)
#   gcc, libc6-dev   static programs the tests build: the probe (test/probe), a UDP echo server
set -euo pipefail
pkgs=(docker-registry busybox-static skopeo umoci podman apache2-utils openssl zstd attr iproute2 iptables gcc libc6-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup-debian: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The packaged registry starts a system service listening on :5000; tests start their own on a
# free loopback port, so the service is stopped to keep the machine quiet.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet docker-registry 2>/dev/null; then
  systemctl stop docker-registry || true
fi
echo "setup-debian: ok"
