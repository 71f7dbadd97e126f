#!/usr/bin/env bash
# Builds the Kubernetes control-plane binaries the tests run against, from Go modules,
# into a cache outside the repository. Nothing built here is ever committed.
#
#   test/cluster/build-binaries.sh          # build if the cache is missing, print its path
#   KUBE_VERSION=v1.35.4 ... build-binaries.sh
#
# Why build: no release binaries can be downloaded on our CI machines and there is no
# container engine, but the Go module proxy is reachable. A throwaway module requires
# k8s.io/kubernetes and pins every staging module it lists at v0.0.0 to the matching
# published v0.X.Y; etcd is built inside that same module so it uses the exact etcd
# libraries the API server was released with.
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-v1.35.4}"
HELM_VERSION="${HELM_VERSION:-v3.20.2}"   # the v3 line built against client-go v0.35
KWOK_VERSION="${KWOK_VERSION:-v0.7.0}"
CACHE_ROOT="${SIDECAR_MONITOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sidecar-monitor}"
OUT="$CACHE_ROOT/k8s-$KUBE_VERSION"
BINARIES=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl helm kwok)

log() { printf '[build-binaries %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

complete() {
  local b
  for b in "${BINARIES[@]}"; do [ -x "$OUT/bin/$b" ] || return 1; done
}

if complete; then
  echo "$OUT/bin"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  cat >&2 <<MSG
error: the Kubernetes test binaries are not built and Go is not installed.
  Install Go >= 1.25 (https://go.dev/dl/) and re-run this script, or point
  KUBEBUILDER_ASSETS at a directory holding etcd, kube-apiserver,
  kube-controller-manager and kubectl of a Kubernetes >= 1.31 release.
MSG
  exit 3
fi

minor="${KUBE_VERSION#v1.}"; minor="${minor%%.*}"
staging_version="v0.${KUBE_VERSION#v1.}"
export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local
mkdir -p "$OUT/bin" "$OUT/module"
cd "$OUT/module"

log "resolving k8s.io/kubernetes@$KUBE_VERSION (staging modules at $staging_version)"
cat > go.mod <<MOD
module sidecar-monitor.local/k8s-binaries

go 1.25

require k8s.io/kubernetes $KUBE_VERSION
MOD
go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" > download.json
upstream_mod=$(sed -n 's/^\s*"GoMod": "\(.*\)",$/\1/p' download.json)
{
  echo
  echo "replace ("
  # Every staging module k8s.io/kubernetes points at ./staging/src/... becomes the
  # published module of the same release.
  sed -n 's#^\s*\(k8s\.io/[a-z0-9-]*\) => \./staging/src/.*#\t\1 => \1 '"$staging_version"'#p' "$upstream_mod"
  echo ")"
} >> go.mod
cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
log "downloading modules (first run: a few minutes)"
go mod tidy -e >/dev/null 2>tidy.log || { cat tidy.log >&2; exit 1; }

ldflags="-s -w"
for kv in "gitVersion=$KUBE_VERSION" "gitMajor=1" "gitMinor=$minor" "gitTreeState=clean" \
          "buildDate=1970-01-01T00:00:00Z"; do
  ldflags+=" -X k8s.io/component-base/version.$kv -X k8s.io/client-go/pkg/version.$kv"
done

log "building kube-apiserver kube-controller-manager kube-scheduler kubectl (cold: 10-30 min on 2 cores)"
start=$SECONDS
go build -v -trimpath -ldflags "$ldflags" -o "$OUT/bin/" \
  k8s.io/kubernetes/cmd/kube-apiserver \
  k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler \
  k8s.io/kubernetes/cmd/kubectl 2>&1 | awk '{ n++; if (n % 200 == 0) { printf "[build-binaries] %d packages compiled, now %s\n", n, $0 > "/dev/stderr"; fflush() } }'
[ "${PIPESTATUS[0]}" -eq 0 ] || exit 1
log "kubernetes binaries built in $((SECONDS - start)) s"

log "building etcd"
go build -trimpath -ldflags "-s -w" -o "$OUT/bin/etcd" go.etcd.io/etcd/server/v3

log "building helm $HELM_VERSION and kwok $KWOK_VERSION"
GOFLAGS= GOBIN="$OUT/bin" go install -trimpath -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
GOFLAGS= GOBIN="$OUT/bin" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"

complete || { log "some binaries are missing in $OUT/bin"; exit 1; }
"$OUT/bin/kube-apiserver" --version >&2
log "done: $OUT/bin"
echo "$OUT/bin"
