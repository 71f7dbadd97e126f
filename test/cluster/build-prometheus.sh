#!/usr/bin/env bash
# Builds the monitoring stack users run with us, Prometheus 3 (prometheus, promtool) and
# prometheus-operator (operator, prometheus-config-reloader), from Go modules into a cache
# outside the repository, static (CGO off) so the binaries run alone in an image.
#
#   test/cluster/build-prometheus.sh        # build what is missing or stale, print the bin dir
#
# Like build-binaries.sh: each group is checked by asking its binaries their version, a lock
# serialises concurrent runs and binaries move into place only once built.
set -euo pipefail

# The Prometheus Go module numbers release 3.Y.Z as v0.3YY.Z; version.Version is what a
# release build stamps (the binaries report it, and promtool's checks don't depend on it).
PROMETHEUS_MODULE_VERSION="${PROMETHEUS_MODULE_VERSION:-v0.316.0}"
PROMETHEUS_VERSION="${PROMETHEUS_VERSION:-3.16.0}"
PROMETHEUS_OPERATOR_VERSION="${PROMETHEUS_OPERATOR_VERSION:-v0.85.0}"
GO_MINIMUM="1.26"                          # what prometheus v0.316.0 declares (go 1.26.7)
GO="${GO:-go}"
CACHE_ROOT="${SIDECAR_MONITOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sidecar-monitor}"
OUT="$CACHE_ROOT/prometheus-$PROMETHEUS_VERSION-operator-$PROMETHEUS_OPERATOR_VERSION"
BIN="$OUT/bin"

log() { printf '[build-prometheus %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

prometheus_ok() {
  local out
  [ -x "$BIN/prometheus" ] && out=$("$BIN/prometheus" --version 2>/dev/null) &&
    [[ $out == "prometheus, version $PROMETHEUS_VERSION "* ]] &&
    [ -x "$BIN/promtool" ] && out=$("$BIN/promtool" --version 2>/dev/null) &&
    [[ $out == "promtool, version $PROMETHEUS_VERSION "* ]]
}
operator_ok() {
  local out
  [ -x "$BIN/operator" ] && out=$("$BIN/operator" --version 2>/dev/null) &&
    [[ $out == *"version ${PROMETHEUS_OPERATOR_VERSION#v} "* ]] &&
    [ -x "$BIN/prometheus-config-reloader" ] &&
    out=$("$BIN/prometheus-config-reloader" --version 2>&1) &&
    [[ $out == *"version ${PROMETHEUS_OPERATOR_VERSION#v} "* ]] &&
    [ -d "$OUT/crds" ] && [ -f "$OUT/crds/monitoring.coreos.com_prometheuses.yaml" ]
}
todo() {
  local groups=()
  prometheus_ok || groups+=(prometheus)
  operator_ok || groups+=(operator)
  echo "${groups[*]}"
}

mkdir -p "$OUT"
if [ -z "$(todo)" ]; then
  echo "$BIN"
  exit 0
fi
exec 9>"$OUT/.lock"
if ! flock -n 9; then
  log "another build is running for $OUT; waiting for it"
  flock 9
fi
read -r -a groups <<<"$(todo)"
if [ ${#groups[@]} -eq 0 ]; then
  echo "$BIN"
  exit 0
fi

if ! command -v "$GO" >/dev/null 2>&1; then
  echo "error: Prometheus $PROMETHEUS_VERSION and prometheus-operator $PROMETHEUS_OPERATOR_VERSION are not built and Go is not installed (Go >= $GO_MINIMUM, https://go.dev/dl/)" >&2
  exit 3
fi
go() { command "$GO" "$@"; }
go_version=$(go env GOVERSION)
go_version=${go_version#go}
if [ "$(printf '%s\n%s\n' "$GO_MINIMUM" "$go_version" | sort -V | head -1)" != "$GO_MINIMUM" ]; then
  echo "error: Go $go_version is older than $GO_MINIMUM (needed for Prometheus $PROMETHEUS_VERSION)" >&2
  exit 3
fi

export CGO_ENABLED=0 GOTOOLCHAIN=local
staging="$OUT/staging"
rm -rf "$staging"
mkdir -p "$staging" "$BIN"
trap 'rm -rf "$staging"' EXIT
log "building: ${groups[*]} (Go $go_version, into $BIN)"

build_prometheus() {
  # Only the Kubernetes service discovery prometheus-operator configures is compiled in
  # (Prometheus's own remove_all_sd/enable_*_sd tags): the cloud SDKs of the other
  # discoverers would double a cold build and nothing here uses them. No web UI assets
  # (builtinassets): the HTTP API is what the tests and the demo use.
  local pkg=github.com/prometheus/prometheus v="-X github.com/prometheus/common/version"
  log "building prometheus and promtool $PROMETHEUS_VERSION ($pkg@$PROMETHEUS_MODULE_VERSION; cold: ~5 min on 2 cores)"
  GOFLAGS= GOBIN="$staging" go install -trimpath -tags "netgo,remove_all_sd,enable_kubernetes_sd" \
    -ldflags "-s -w $v.Version=$PROMETHEUS_VERSION $v.Revision=$PROMETHEUS_MODULE_VERSION $v.Branch=release $v.BuildUser=sidecar-monitor $v.BuildDate=19700101-00:00:00" \
    "$pkg/cmd/prometheus@$PROMETHEUS_MODULE_VERSION" "$pkg/cmd/promtool@$PROMETHEUS_MODULE_VERSION"
  mv -f "$staging/prometheus" "$staging/promtool" "$BIN/"
}

build_operator() {
  # The root module points its pkg/apis and pkg/client modules at ./ by replace
  # directives, which `go install module@version` refuses: a throwaway module requires it
  # instead, and the published pkg/* modules of the same release stand in.
  local root=github.com/prometheus-operator/prometheus-operator module="$OUT/operator-module"
  local v="-X github.com/prometheus/common/version"
  log "building prometheus-operator $PROMETHEUS_OPERATOR_VERSION (operator, prometheus-config-reloader)"
  mkdir -p "$module"
  cat >"$module/go.mod" <<MOD
module sidecar-monitor.local/prometheus-operator

go 1.24.0

require $root $PROMETHEUS_OPERATOR_VERSION
MOD
  cat >"$module/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "github.com/prometheus-operator/prometheus-operator/cmd/operator"
	_ "github.com/prometheus-operator/prometheus-operator/cmd/prometheus-config-reloader"
)
GO
  (
    cd "$module"
    GOFLAGS=-mod=mod go mod tidy -e >/dev/null 2>tidy.log || { cat tidy.log >&2; exit 1; }
    GOFLAGS=-mod=mod go build -trimpath \
      -ldflags "-s -w $v.Version=${PROMETHEUS_OPERATOR_VERSION#v} $v.Revision=$PROMETHEUS_OPERATOR_VERSION $v.Branch=release" \
      -o "$staging/" "$root/cmd/operator" "$root/cmd/prometheus-config-reloader"
  )
  # The CRDs of the same release: the Prometheus resource and its peers.
  local dir
  dir=$(cd "$module" && go list -m -f '{{.Dir}}' "$root")
  rm -rf "$OUT/crds"
  cp -r "$dir/example/prometheus-operator-crd" "$staging/crds"
  chmod -R u+w "$staging/crds"
  mv -f "$staging/operator" "$staging/prometheus-config-reloader" "$BIN/"
  mv "$staging/crds" "$OUT/crds"
}

total=$SECONDS
for group in "${groups[@]}"; do "build_$group"; done
remaining=$(todo)
if [ -n "$remaining" ]; then
  log "built, but these still do not report the expected version: $remaining"
  exit 1
fi
log "done in $((SECONDS - total)) s: prometheus $PROMETHEUS_VERSION, prometheus-operator $PROMETHEUS_OPERATOR_VERSION"
echo "$BIN"
