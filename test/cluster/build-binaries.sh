#!/usr/bin/env bash
# Builds the Kubernetes control-plane binaries the tests run against, from Go modules,
# into a cache outside the repository. Nothing built here is ever committed.
#
#   test/cluster/build-binaries.sh          # build what is missing or stale, print the bin dir
#   KUBE_VERSION=v1.35.4 ... build-binaries.sh
#
# Why build: no release binaries can be downloaded on our CI machines and there is no
# container engine, but the Go module proxy is reachable. A throwaway module requires
# k8s.io/kubernetes and pins every staging module it lists at v0.0.0 to the matching
# published v0.X.Y; etcd is built inside that same module so it uses the exact etcd
# libraries the API server was released with.
#
# Each group (the Kubernetes binaries with etcd, helm, kwok) is checked by asking the
# binaries their version, and only a missing or stale group is rebuilt. Binaries are
# built into a staging directory and moved into place, and a lock serialises concurrent
# runs, so an interrupted or parallel build never leaves a half-written binary behind.
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-v1.35.4}"
HELM_VERSION="${HELM_VERSION:-v3.20.2}"   # the v3 line built against client-go v0.35 (= KUBE_VERSION's minor)
KWOK_VERSION="${KWOK_VERSION:-v0.7.0}"
# A real node (kubelet + containerd + runc): containerd 2.x and runc 1.3 keep working with
# the kubelets after 1.35 (Debian's containerd 1.6 loses CRI support in 1.36); crictl
# v1.35.0 is not served by the module proxy, v1.37.0 is.
CONTAINERD_VERSION="${CONTAINERD_VERSION:-v2.2.9}"
RUNC_VERSION="${RUNC_VERSION:-v1.3.7}"
CRICTL_VERSION="${CRICTL_VERSION:-v1.37.0}"
GO_MINIMUM="1.25"                          # what k8s.io/kubernetes v1.35 declares
GO="${GO:-go}"                             # the Go command (tests point it elsewhere)
CACHE_ROOT="${SIDECAR_MONITOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sidecar-monitor}"
OUT="$CACHE_ROOT/k8s-$KUBE_VERSION"
BIN="$OUT/bin"
KUBE_BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl)

log() { printf '[build-binaries %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# --- what is already there -----------------------------------------------------------

kube_ok() {
  local b
  for b in kube-apiserver kube-controller-manager kube-scheduler kubelet; do
    [ -x "$BIN/$b" ] && [ "$("$BIN/$b" --version 2>/dev/null)" = "Kubernetes $KUBE_VERSION" ] || return 1
  done
  # Outputs are captured before matching: under pipefail, `grep -q` exiting early would
  # fail the pipeline with the writer's SIGPIPE.
  local out
  [ -x "$BIN/kubectl" ] && out=$("$BIN/kubectl" version --client 2>/dev/null) &&
    [[ $'\n'"$out"$'\n' == *$'\n'"Client Version: $KUBE_VERSION"$'\n'* ]] &&
    [ -x "$BIN/etcd" ] && "$BIN/etcd" --version >/dev/null 2>&1
}
helm_ok() {
  [ -x "$BIN/helm" ] && [ "$("$BIN/helm" version --template '{{.Version}}' 2>/dev/null)" = "$HELM_VERSION" ] &&
    [ "$(helm_kube_version)" = "v1.$(kube_minor).0" ]
}
kube_minor() { local minor="${KUBE_VERSION#v1.}"; echo "${minor%%.*}"; }
# The Kubernetes version `helm template` assumes offline (a chart's kubeVersion is checked
# against it): release builds set it by ldflags, a plain `go install` leaves v1.20.0.
helm_kube_version() {
  local chart
  chart=$(mktemp -d)
  printf 'apiVersion: v2\nname: probe\nversion: 0.0.0\n' >"$chart/Chart.yaml"
  mkdir "$chart/templates"
  printf 'kind: ConfigMap\nversion: {{ .Capabilities.KubeVersion.Version }}\n' >"$chart/templates/version.yaml"
  "$BIN/helm" template "$chart" 2>/dev/null | sed -n 's/^version: //p'
  rm -rf "$chart"
}
kwok_ok() {
  local out
  [ -x "$BIN/kwok" ] && out=$("$BIN/kwok" --version 2>/dev/null) && [[ $out == *"version $KWOK_VERSION "* ]]
}
node_ok() {
  local out
  [ -x "$BIN/containerd" ] && out=$("$BIN/containerd" --version 2>/dev/null) &&
    [[ $out == *" $CONTAINERD_VERSION "* ]] &&
    [ -x "$BIN/containerd-shim-runc-v2" ] && [ -x "$BIN/ctr" ] &&
    [ -x "$BIN/runc" ] && out=$("$BIN/runc" --version 2>/dev/null) &&
    [[ $out == "runc version ${RUNC_VERSION#v}"* ]] &&
    [ -x "$BIN/crictl" ] && out=$("$BIN/crictl" --version 2>/dev/null) &&
    [[ $out == *" $CRICTL_VERSION" ]]
}
todo() {
  local groups=()
  kube_ok || groups+=(kube)
  helm_ok || groups+=(helm)
  kwok_ok || groups+=(kwok)
  node_ok || groups+=(node)
  echo "${groups[*]}"
}

mkdir -p "$OUT"
if [ -z "$(todo)" ]; then
  echo "$BIN"
  exit 0
fi

# One build at a time per cache: a second run waits, then finds the work done.
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

# --- toolchain -----------------------------------------------------------------------

no_go() {
  cat >&2 <<MSG
error: the Kubernetes test binaries (${groups[*]}) are not built, and $1.
  Install Go >= $GO_MINIMUM (https://go.dev/dl/) and re-run
  $0
  or point KUBEBUILDER_ASSETS at a directory holding etcd, kube-apiserver and kubectl
  of a Kubernetes >= 1.31 release (envtest's layout).
MSG
  exit 3
}
command -v "$GO" >/dev/null 2>&1 || no_go "Go is not installed"
go() { command "$GO" "$@"; }
go_version=$(go env GOVERSION) # go1.26.8
go_version=${go_version#go}
if [ "$(printf '%s\n%s\n' "$GO_MINIMUM" "$go_version" | sort -V | head -1)" != "$GO_MINIMUM" ]; then
  no_go "Go $go_version is older than $GO_MINIMUM"
fi

# GOTOOLCHAIN=local: never download another toolchain behind the user's back.
export CGO_ENABLED=0 GOTOOLCHAIN=local
staging="$OUT/staging"
rm -rf "$staging"
mkdir -p "$staging" "$BIN"
trap 'rm -rf "$staging"' EXIT
log "building: ${groups[*]} (Go $go_version, into $BIN)"

# Go's -v prints one line per package compiled: turn them into a progress line every
# so often, since a cold build is quiet for many minutes otherwise.
progress() {
  awk -v what="$1" '{ n++; if (n % 100 == 0) { printf "[build-binaries] %s: %d packages compiled (now %s)\n", what, n, $0 > "/dev/stderr"; fflush("/dev/stderr") } }
    END { printf "[build-binaries] %s: %d packages compiled\n", what, n > "/dev/stderr" }'
}

install_staged() {
  local b
  for b in "$@"; do mv -f "$staging/$b" "$BIN/$b"; done
}

build_kube() {
  local minor staging_version module ldflags kv start
  minor="${KUBE_VERSION#v1.}"; minor="${minor%%.*}"
  staging_version="v0.${KUBE_VERSION#v1.}"
  module="$OUT/module"
  mkdir -p "$module"
  cd "$module"

  log "resolving k8s.io/kubernetes@$KUBE_VERSION (staging modules at $staging_version)"
  cat > go.mod <<MOD
module sidecar-monitor.local/k8s-binaries

go $GO_MINIMUM

require k8s.io/kubernetes $KUBE_VERSION
MOD
  GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" > download.json
  local upstream_mod
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
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
  log "downloading modules (cold: a few minutes)"
  GOFLAGS=-mod=mod go mod tidy -e >/dev/null 2>tidy.log || { cat tidy.log >&2; exit 1; }

  # Version-stamped like a release build, so the server reports its real version (and
  # version-gated behaviour, e.g. native sidecars, is what a real cluster does).
  ldflags="-s -w"
  for kv in "gitVersion=$KUBE_VERSION" "gitMajor=1" "gitMinor=$minor" "gitTreeState=clean" \
            "buildDate=1970-01-01T00:00:00Z"; do
    ldflags+=" -X k8s.io/component-base/version.$kv -X k8s.io/client-go/pkg/version.$kv"
  done

  log "building ${KUBE_BINARIES[*]} in one go build (cold: 10-30 min on 2 cores)"
  start=$SECONDS
  GOFLAGS=-mod=mod go build -v -trimpath -ldflags "$ldflags" -o "$staging/" \
    k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler \
    k8s.io/kubernetes/cmd/kubelet \
    k8s.io/kubernetes/cmd/kubectl 2>&1 | progress kubernetes
  [ "${PIPESTATUS[0]}" -eq 0 ] || exit 1
  log "kubernetes binaries built in $((SECONDS - start)) s; building etcd"
  GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w" -o "$staging/etcd" go.etcd.io/etcd/server/v3
  install_staged "${KUBE_BINARIES[@]}" etcd
  cd - >/dev/null
}

build_helm() {
  log "building helm $HELM_VERSION"
  # As helm's own Makefile does: the Kubernetes version of its client libraries (v0.35 is
  # Kubernetes 1.35) becomes the default for offline rendering and linting.
  local kv="-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1"
  kv+=" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$(kube_minor)"
  kv+=" -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1"
  kv+=" -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$(kube_minor)"
  GOFLAGS= GOBIN="$staging" go install -trimpath \
    -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION $kv" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  install_staged helm
}

build_kwok() {
  log "building kwok $KWOK_VERSION"
  GOFLAGS= GOBIN="$staging" go install -trimpath -ldflags "-s -w" \
    "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  install_staged kwok
}

build_node() {
  # runc needs cgo and libseccomp (seccomp profiles such as RuntimeDefault); the rest is
  # pure Go.
  if ! pkg-config --exists libseccomp 2>/dev/null; then
    log "runc needs libseccomp's headers: apt-get install libseccomp-dev pkg-config"
    exit 3
  fi
  log "building containerd $CONTAINERD_VERSION, runc $RUNC_VERSION, crictl $CRICTL_VERSION"
  local cd="github.com/containerd/containerd/v2"
  GOFLAGS= GOBIN="$staging" go install -trimpath \
    -ldflags "-s -w -X $cd/version.Version=$CONTAINERD_VERSION" \
    "$cd/cmd/containerd@$CONTAINERD_VERSION" "$cd/cmd/containerd-shim-runc-v2@$CONTAINERD_VERSION" \
    "$cd/cmd/ctr@$CONTAINERD_VERSION"
  GOFLAGS= GOBIN="$staging" CGO_ENABLED=1 go install -trimpath -tags seccomp \
    -ldflags "-s -w -X main.version=${RUNC_VERSION#v}" \
    "github.com/opencontainers/runc@$RUNC_VERSION"
  GOFLAGS= GOBIN="$staging" go install -trimpath \
    -ldflags "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=$CRICTL_VERSION" \
    "sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION"
  install_staged containerd containerd-shim-runc-v2 ctr runc crictl
}

total=$SECONDS
for group in "${groups[@]}"; do "build_$group"; done

remaining=$(todo)
if [ -n "$remaining" ]; then
  log "built, but these still do not report the expected version: $remaining"
  exit 1
fi
log "done in $((SECONDS - total)) s: $("$BIN/kube-apiserver" --version), $("$BIN/etcd" --version | head -1), helm $HELM_VERSION, kwok $KWOK_VERSION, containerd $CONTAINERD_VERSION, runc $RUNC_VERSION, crictl $CRICTL_VERSION"
echo "$BIN"
