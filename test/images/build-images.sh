#!/usr/bin/env bash
# Builds the project's container images from its own Dockerfile with Debian's buildah: no
# registry, no Docker engine, no network inside the build. Run by test/images/build.ts (the
# entry point to call), as root:
#
#   REPO=... CONTEXT_KEY=... OUT_DIR=... NODE_BIN=... NPM_DIR=... PAUSE_C=... PAUSE_KEY=... \
#     bash test/images/build-images.sh
#
# Writes OCI image-layout archives that `ctr -n k8s.io images import <tar>` takes as they are
# (each manifest carries the `io.containerd.image.name` annotation):
#   $OUT_DIR/sidecar-monitor-$CONTEXT_KEY.tar   localhost/sidecar-monitor:dev (the Dockerfile)
#   $OUT_DIR/sample-app-$CONTEXT_KEY.tar        localhost/sample-app:dev (its sample-app target)
#   $OUT_DIR/pause-$PAUSE_KEY.tar               localhost/pause:3.10 (Kubernetes' pause.c)
#
# The Dockerfile's base images are build arguments; here they are local stand-ins built once
# from Debian packages and the Node 24 binary of the `node` npm package, cached in buildah
# storage under $CACHE and rebuilt only when their inputs change:
#   build base    Debian bookworm minbase + /usr/local/bin/node + npm   (node:24-bookworm-slim)
#   runtime base  glibc, libstdc++, libgcc, ca-certificates, tzdata, /nodejs/bin/node, passwd
#                 with nonroot 65532, USER 65532, no shell   (gcr.io/distroless/nodejs24-debian12:nonroot)
# umoci is installed too, for the tests that unpack the archives (test/chart/image.test.ts).
# npm's cache is filled on the host from the lock file first and mounted into the build, which
# runs `npm ci` offline with `--network none`.
set -euo pipefail

: "${REPO:?}" "${CONTEXT_KEY:?}" "${OUT_DIR:?}" "${NODE_BIN:?}" "${NPM_DIR:?}" "${PAUSE_C:?}" "${PAUSE_KEY:?}"
CACHE="${SIDECAR_MONITOR_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sidecar-monitor/images}"
SUITE=bookworm
ARCH="$(dpkg --print-architecture)"
# What the base images are made of; a change here (or to node or npm) rebuilds them.
ROOTFS_RECIPE="debootstrap --variant=minbase --include=ca-certificates,tzdata,netbase $SUITE $ARCH v1"
RUNTIME_PACKAGES=(libc6 libgcc-s1 libstdc++6 tzdata base-files netbase)

SM_OUT="$OUT_DIR/sidecar-monitor-$CONTEXT_KEY.tar"
APP_OUT="$OUT_DIR/sample-app-$CONTEXT_KEY.tar"
PAUSE_OUT="$OUT_DIR/pause-$PAUSE_KEY.tar"

log() { printf '[build-images %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "buildah and debootstrap need root here (run as root)"

need=()
for tool in buildah debootstrap jq gcc flock runc umoci; do
  command -v "$tool" >/dev/null 2>&1 || need+=("$tool")
done
if [ ${#need[@]} -gt 0 ]; then
  pkgs=()
  for tool in "${need[@]}"; do
    case "$tool" in flock) pkgs+=(util-linux) ;; *) pkgs+=("$tool") ;; esac
  done
  log "installing ${pkgs[*]} (Debian packages)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends "${pkgs[@]}" >/dev/null 2>&1 ||
    { apt-get update >/dev/null && apt-get install -y --no-install-recommends "${pkgs[@]}" >/dev/null; }
fi

mkdir -p "$CACHE" "$OUT_DIR"
exec 9>"$CACHE/.lock"
flock 9
# Another run may have built the same inputs while this one waited for the lock.
if [ -s "$SM_OUT" ] && [ -s "$APP_OUT" ] && [ -s "$PAUSE_OUT" ]; then
  log "up to date"
  exit 0
fi

export TMPDIR="$CACHE/tmp"
rm -rf "$TMPDIR"
mkdir -p "$TMPDIR"
work="$(mktemp -d "$TMPDIR/work.XXXXXX")"
containers=()
cleanup() {
  local c
  for c in "${containers[@]}"; do bh rm "$c" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# Private storage: nothing lands in the host's /var/lib/containers.
bh() { buildah --root "$CACHE/storage" --runroot "$CACHE/run" --storage-driver overlay "$@"; }
hash() { sha256sum | cut -c1-16; }

# --- base images --------------------------------------------------------------------------

mirror() {
  # The Debian mirror apt is configured with (deb822 first, then one-line sources).
  local m
  m="$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)"
  [ -n "$m" ] || m="$(awk '$1 == "deb" && $3 ~ /^bookworm$/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)"
  echo "${m:-http://deb.debian.org/debian}"
}

rootfs_key="$(echo "$ROOTFS_RECIPE" | hash)"
rootfs="$CACHE/rootfs-$rootfs_key"
if [ ! -f "$rootfs/.complete" ]; then
  log "debootstrap $SUITE (minbase) from $(mirror)"
  rm -rf "$rootfs" "$rootfs.tmp"
  mkdir -p "$CACHE/debs"
  debootstrap --variant=minbase --include=ca-certificates,tzdata,netbase --arch="$ARCH" \
    --cache-dir="$CACHE/debs" "$SUITE" "$rootfs.tmp" "$(mirror)" >"$work/debootstrap.log" 2>&1 ||
    { tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap failed"; }
  rm -rf "$rootfs.tmp"/var/cache/apt/archives/*.deb "$rootfs.tmp"/var/lib/apt/lists/* "$rootfs.tmp"/var/log/*
  touch "$rootfs.tmp/.complete"
  mv "$rootfs.tmp" "$rootfs"
fi

node_sum="$(sha256sum "$NODE_BIN" | cut -c1-16)"
node_version="$("$NODE_BIN" --version)"
npm_version="$(jq -r .version "$NPM_DIR/package.json")"
build_base="localhost/sidecar-monitor-base/build:$( (echo "$rootfs_key $node_sum $npm_version"; sed -n '/^build_base_image()/,/^}/p' "$0") | hash)"
runtime_base="localhost/sidecar-monitor-base/runtime:$( (echo "$rootfs_key $node_sum ${RUNTIME_PACKAGES[*]}"; sed -n '/^runtime_base_image()/,/^}/p' "$0") | hash)"

have_image() { bh inspect --type image "$1" >/dev/null 2>&1; }

build_base_image() {
  # node:24-bookworm-slim's layout: Debian, node in /usr/local/bin, npm in /usr/local/lib.
  local c mnt
  c="$(bh from scratch)"; containers+=("$c")
  mnt="$(bh mount "$c")"
  cp -a "$rootfs/." "$mnt/"
  rm -f "$mnt/.complete"
  install -D -m 0755 "$NODE_BIN" "$mnt/usr/local/bin/node"
  mkdir -p "$mnt/usr/local/lib/node_modules"
  cp -a "$NPM_DIR" "$mnt/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$mnt/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$mnt/usr/local/bin/npx"
  bh config --env NODE_VERSION="${node_version#v}" \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --cmd node --created-by "test/images/build-images.sh (stand-in for node:24-bookworm-slim)" "$c"
  bh umount "$c" >/dev/null
  bh commit --quiet "$c" "$1" >/dev/null
}

runtime_base_image() {
  # distroless/nodejs24-debian12:nonroot's layout: only what node needs, no shell.
  local c mnt p
  c="$(bh from scratch)"; containers+=("$c")
  mnt="$(bh mount "$c")"
  for p in bin lib lib64 sbin; do ln -s "usr/$p" "$mnt/$p"; done
  # Each package's own files (dpkg's lists, with the merged-/usr prefixes resolved).
  for p in "${RUNTIME_PACKAGES[@]}"; do
    cat "$rootfs/var/lib/dpkg/info/$p.list" "$rootfs/var/lib/dpkg/info/$p:$ARCH.list" 2>/dev/null || true
  done | sed -E 's#^/(bin|lib|lib64|sbin)(/|$)#/usr/\1\2#; s#^/##' | grep -v '^\.\?$' | sort -u >"$work/runtime.files"
  # ca-certificates' bundle is generated at install time, not listed by the package.
  echo etc/ssl/certs/ca-certificates.crt >>"$work/runtime.files"
  tar -C "$rootfs" --no-recursion -cf - -T "$work/runtime.files" | tar -C "$mnt" -xpf -
  rm -rf "$mnt/usr/share/doc" "$mnt/usr/share/man" "$mnt/usr/share/lintian" "$mnt/usr/share/info" "$mnt/usr/sbin/"* "$mnt/usr/bin/"*
  [ ! -e "$mnt/bin/sh" ] || die "the runtime base must have no shell"
  install -D -m 0755 "$NODE_BIN" "$mnt/nodejs/bin/node"
  cat >"$mnt/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
  cat >"$mnt/etc/group" <<'EOF'
root:x:0:
nobody:x:65534:
tty:x:5:
staff:x:50:
nonroot:x:65532:
EOF
  install -d -m 0700 "$mnt/root"
  install -d -m 0700 -o 65532 -g 65532 "$mnt/home/nonroot"
  install -d -m 1777 "$mnt/tmp"
  bh config --user 65532 --workingdir /home/nonroot \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    --entrypoint '["/nodejs/bin/node"]' \
    --created-by "test/images/build-images.sh (stand-in for gcr.io/distroless/nodejs24-debian12:nonroot)" "$c"
  bh umount "$c" >/dev/null
  bh commit --quiet "$c" "$1" >/dev/null
}

if ! have_image "$build_base"; then log "build base $build_base"; build_base_image "$build_base"; fi
if ! have_image "$runtime_base"; then log "runtime base $runtime_base"; runtime_base_image "$runtime_base"; fi

# --- npm's cache, filled on the host from the lock file -------------------------------------

npm_cache="$CACHE/npm-cache"
lock_sum="$(cat "$REPO/package.json" "$REPO/package-lock.json" | hash)"
if [ "$(cat "$npm_cache/.lock-sum" 2>/dev/null || true)" != "$lock_sum" ]; then
  log "filling npm's cache from package-lock.json"
  mkdir -p "$work/npm" "$npm_cache"
  cp "$REPO/package.json" "$REPO/package-lock.json" "$work/npm/"
  (cd "$work/npm" && PATH="$(dirname "$NODE_BIN"):$PATH" "$NODE_BIN" "$NPM_DIR/bin/npm-cli.js" ci \
    --ignore-scripts --no-audit --no-fund --prefer-offline --cache "$npm_cache" >"$work/npm.log" 2>&1) ||
    { tail -n 30 "$work/npm.log" >&2; die "npm ci (filling the cache) failed"; }
  rm -rf "$work/npm"
  echo "$lock_sum" >"$npm_cache/.lock-sum"
fi

# --- the Dockerfile --------------------------------------------------------------------------

# An OCI image layout with the name containerd's importer reads, as one archive.
export_image() {
  local image="$1" out="$2" layout="$work/layout-$(basename "$2")"
  rm -rf "$layout"
  bh push --quiet "$image" "oci:$layout:$image" >/dev/null
  jq --arg name "$image" '.manifests |= map(.annotations["io.containerd.image.name"] = $name)' \
    "$layout/index.json" >"$layout/index.json.new"
  mv "$layout/index.json.new" "$layout/index.json"
  tar -C "$layout" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cf "$out.tmp" oci-layout index.json blobs
  mv "$out.tmp" "$out"
  rm -rf "$layout"
}

bud() {
  bh bud --quiet --layers --pull=never --network=none --isolation=oci --runtime=runc \
    --build-arg BUILD_IMAGE="$build_base" --build-arg RUNTIME_IMAGE="$runtime_base" \
    --build-arg NPM_CONFIG_CACHE=/npm-cache --build-arg NPM_CONFIG_OFFLINE=true \
    --volume "$npm_cache:/npm-cache" -f "$REPO/Dockerfile" "$@" "$REPO" >"$work/bud.log" 2>&1 ||
    { tail -n 40 "$work/bud.log" >&2; die "buildah bud $* failed"; }
}

if [ ! -s "$SM_OUT" ] || [ ! -s "$APP_OUT" ]; then
  log "building localhost/sample-app:dev (Dockerfile target sample-app)"
  bud --target sample-app -t localhost/sample-app:dev
  log "building localhost/sidecar-monitor:dev (Dockerfile)"
  bud -t localhost/sidecar-monitor:dev
  export_image localhost/sample-app:dev "$APP_OUT"
  export_image localhost/sidecar-monitor:dev "$SM_OUT"
fi

# --- pause -----------------------------------------------------------------------------------

if [ ! -s "$PAUSE_OUT" ]; then
  log "building localhost/pause:3.10 from $PAUSE_C"
  gcc -Os -Wall -Werror -static -DVERSION=v3.10-sidecar-monitor -o "$work/pause" "$PAUSE_C"
  strip "$work/pause"
  c="$(bh from scratch)"; containers+=("$c")
  bh copy --chmod 0755 "$c" "$work/pause" /pause >/dev/null
  bh config --entrypoint '["/pause"]' --user 65535:65535 \
    --created-by "test/images/build-images.sh (Kubernetes build/pause/linux/pause.c)" "$c"
  bh commit --quiet "$c" localhost/pause:3.10 >/dev/null
  export_image localhost/pause:3.10 "$PAUSE_OUT"
fi
# --- bounded cache ---------------------------------------------------------------------------

# The three newest archives of each image stay (other checkouts sharing this cache, e.g. git
# worktrees, may be about to import theirs); base images and root filesystems of older inputs
# go; the layer cache (what makes a rebuild after a source change take seconds) is pruned
# only past MAX_STORAGE_MB.
for image in sidecar-monitor sample-app pause; do
  find "$OUT_DIR" -maxdepth 1 -name "$image-*.tar" -printf '%T@ %p\n' | sort -rn | tail -n +4 |
    cut -d' ' -f2- | xargs -r rm -f
done
for old in "$CACHE"/rootfs-*; do
  [ "$old" = "$rootfs" ] || rm -rf "$old"
done
bh images --format '{{.Name}}:{{.Tag}}' | grep '^localhost/sidecar-monitor-base/' |
  grep -vxF -e "$build_base" -e "$runtime_base" | xargs -r buildah --root "$CACHE/storage" \
  --runroot "$CACHE/run" --storage-driver overlay rmi >/dev/null || true
if [ "$(du -sm "$CACHE/storage" | cut -f1)" -gt "${MAX_STORAGE_MB:-4096}" ]; then
  log "pruning buildah's layer cache (over ${MAX_STORAGE_MB:-4096} MB)"
  bh rmi --prune >/dev/null || true
fi
log "done"
