#!/usr/bin/env bash
# Builds AutoCV binaries for one platform: the one place dist and the
# packages build them, so every linux cgo build gets the same flags.
#
#   installers/build/binaries.sh GOOS GOARCH OUT_DIR NAME...
#
# NAME is agent, plugin, server, trainer or cli. The agent, the server and
# the cli build without cgo; the plugin and the trainer link onnxruntime
# through cgo with a cross compiler for other platforms:
#   linux/amd64    gcc (or CC)
#   linux/arm64    aarch64-linux-gnu-gcc   (apt gcc-aarch64-linux-gnu)
#   windows/amd64  x86_64-w64-mingw32-gcc  (apt gcc-mingw-w64-x86-64)
# Linux cgo builds source installers/build/glibc-floor.sh when it exists
# with GOOS and GOARCH exported (it sets CGO_CFLAGS, CGO_LDFLAGS and
# GO_LDFLAGS_EXTRA, the flags that keep the binaries' GLIBC floor low).
#
# VERSION (default: git describe) is stamped into every binary.
set -euo pipefail

goos=${1:?usage: binaries.sh GOOS GOARCH OUT_DIR NAME...}
goarch=${2:?usage: binaries.sh GOOS GOARCH OUT_DIR NAME...}
out=${3:?usage: binaries.sh GOOS GOARCH OUT_DIR NAME...}
shift 3
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

version=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
ldflags="-s -w -X github.com/autocv/autocv/internal/buildinfo.Version=$version"
ext=""
[ "$goos" = windows ] && ext=.exe
mkdir -p "$out"

cross_cc() {
  case "$goos/$goarch" in
    linux/amd64) echo "${CC:-gcc}" ;;
    linux/arm64) echo aarch64-linux-gnu-gcc ;;
    windows/amd64) echo x86_64-w64-mingw32-gcc ;;
    *) echo "no C cross compiler known for $goos/$goarch" >&2; return 1 ;;
  esac
}

# go_build CGO PKG FILE: one binary; cgo builds get the cross compiler and,
# on linux, the GLIBC floor flags.
go_build() {
  local cgo=$1 pkg=$2 file=$3
  (
    export GOOS=$goos GOARCH=$goarch CGO_ENABLED=$cgo
    extra=""
    if [ "$cgo" = 1 ]; then
      CC=$(cross_cc)
      command -v "$CC" >/dev/null || { echo "$CC is missing: apt-get install $(pkg_of "$CC")" >&2; exit 1; }
      export CC
      if [ "$goos" = linux ] && [ -f installers/build/glibc-floor.sh ]; then
        # shellcheck source=/dev/null
        . installers/build/glibc-floor.sh "$goarch"
        extra=${GO_LDFLAGS_EXTRA:-}
      fi
    fi
    go build -trimpath -ldflags "$ldflags $extra" -o "$out/$file$ext" "$pkg"
  )
}

pkg_of() {
  case $1 in
    aarch64-linux-gnu-gcc) echo gcc-aarch64-linux-gnu ;;
    x86_64-w64-mingw32-gcc) echo gcc-mingw-w64-x86-64 ;;
    *) echo gcc ;;
  esac
}

for name in "$@"; do
  case $name in
    agent) go_build 0 ./agent/cmd/autocv-agent autocv-agent ;;
    plugin) go_build 1 ./plugins/onnx/cmd/autocv-plugin-onnx autocv-plugin-onnx ;;
    server) go_build 0 ./controlplane/cmd/autocv-server autocv-server ;;
    cli) go_build 0 ./controlplane/cmd/autocv autocv ;;
    trainer) go_build 1 ./trainer/cmd/autocv-trainer autocv-trainer ;;
    *) echo "unknown binary $name: want agent, plugin, server, trainer or cli" >&2; exit 1 ;;
  esac
done
