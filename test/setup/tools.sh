#!/usr/bin/env bash
# Run before `npm test`: makes sure the real parts the tests use are on this machine.
#  - Prometheus and promtool, node_exporter (Debian packages) for scrape tests and benchmarks;
#  - for the real node (e2e): Debian's CNI plugins, iptables/nftables, and what runc's build
#    needs (libseccomp headers, pkg-config);
#  - the Kubernetes control-plane and node binaries (built from Go modules once, cached
#    outside the repo).
# Nothing is ever skipped: a missing part is installed, or this fails saying what to do.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

missing=()
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v prometheus-node-exporter >/dev/null 2>&1 || missing+=(prometheus-node-exporter)
for tool in unshare setpriv nsenter; do
  command -v "$tool" >/dev/null 2>&1 || missing+=(util-linux)
done
[ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/host-local ] && [ -x /usr/lib/cni/loopback ] ||
  missing+=(containernetworking-plugins)
command -v iptables >/dev/null 2>&1 || missing+=(iptables)
command -v nft >/dev/null 2>&1 || missing+=(nftables)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
[ -e /usr/include/seccomp.h ] || missing+=(libseccomp-dev)
if [ ${#missing[@]} -gt 0 ]; then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "[setup] installing ${missing[*]} (Debian packages)" >&2
    # The packages try to start their services; there is no init system to start them here.
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1 ||
      { apt-get update >/dev/null && apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; }
  else
    echo "error: the tests need ${missing[*]}; install them (Debian: sudo apt-get install ${missing[*]}) and re-run." >&2
    exit 1
  fi
fi

if [ -z "${KUBEBUILDER_ASSETS:-}" ]; then
  bash "$here/../cluster/build-binaries.sh" >/dev/null
fi
