#!/usr/bin/env bash
# `make dist`: every artefact AutoCV ships, into dist/ (DIST to change):
#
#   runtimes/<platform>/                 agent, plugin and onnxruntime per SDK platform
#                                        (linux-amd64, linux-amd64-gpu, linux-arm64, windows-amd64);
#                                        bin/autocv-server in this checkout finds them here
#   autocv-runtime-<platform>-<v>.zip    the same, zipped (reproducible), for servers installed by hand
#   autocv-agent_<v>_<arch>.deb, autocv-agent-<v>-1.<arch>.rpm     amd64 and arm64
#   autocv-server_<v>_<arch>.deb, autocv-server-<v>-1.<arch>.rpm   amd64 and arm64
#   autocv-agent-<v>-x64.msi             Windows agent + service (wixl)
#
# It prints each artefact's size and the time taken. Zips and packages are
# dated SOURCE_DATE_EPOCH (default: the last commit's time).
# Needs: go, npm (onnxruntime fetch), aarch64-linux-gnu-gcc,
# x86_64-w64-mingw32-gcc, wixl (apt gcc-aarch64-linux-gnu gcc-mingw-w64-x86-64 wixl).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
start=$(date +%s)

NFPM=github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.48.0
dist=$(realpath -m "${DIST:-$root/dist}") # absolute: some steps run from other folders
cache=$root/.cache/onnxruntime
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 315532800)}
export VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
# Package versions must be numeric: a vX.Y.Z tag, else 0.1.<commit count>.
if [[ $VERSION =~ ^v([0-9]+\.[0-9]+\.[0-9]+)$ ]]; then
  pkg_version=${BASH_REMATCH[1]}
else
  pkg_version=0.1.$(git rev-list --count HEAD 2>/dev/null || echo 0)
fi

for tool in go npm aarch64-linux-gnu-gcc x86_64-w64-mingw32-gcc wixl; do
  command -v "$tool" >/dev/null || {
    echo "make dist needs $tool: apt-get install gcc-aarch64-linux-gnu gcc-mingw-w64-x86-64 wixl (and go, npm)" >&2
    exit 1
  }
done

step() { echo "== $* ($(( $(date +%s) - start ))s)" >&2; }

step "onnxruntime libraries (hash-checked npm tarballs)"
installers/onnxruntime/fetch.sh "$cache"
installers/onnxruntime/fetch-gpu.sh "$cache"

rm -rf "$dist"
mkdir -p "$dist/runtimes" "$dist/build"
bins() { installers/build/binaries.sh "$@"; }

step "SDK runtimes: agent + plugin per platform"
bins linux amd64 "$dist/runtimes/linux-amd64" agent plugin
bins linux arm64 "$dist/runtimes/linux-arm64" agent plugin
bins windows amd64 "$dist/runtimes/windows-amd64" agent plugin
cp "$cache/linux-amd64/libonnxruntime.so.1" "$dist/runtimes/linux-amd64/"
cp "$cache/linux-arm64/libonnxruntime.so.1" "$dist/runtimes/linux-arm64/"
cp "$cache/windows-amd64/onnxruntime.dll" "$dist/runtimes/windows-amd64/"
# The GPU flavour: the same agent and plugin, with the CUDA provider.
mkdir -p "$dist/runtimes/linux-amd64-gpu"
cp "$dist/runtimes/linux-amd64/autocv-agent" "$dist/runtimes/linux-amd64/autocv-plugin-onnx" "$dist/runtimes/linux-amd64-gpu/"
cp "$cache/linux-amd64-gpu/"lib* "$dist/runtimes/linux-amd64-gpu/"
# The server package takes these folders as they are (nfpm trees keep the
# files' modes and times): readable by everyone whatever the umask, dated
# the source date, so the package is reproducible and the server's user
# can read them.
chmod -R u=rwX,go=rX "$dist/runtimes"
find "$dist/runtimes" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

step "server, trainer and cli for amd64 and arm64"
for arch in amd64 arm64; do
  bins linux "$arch" "$dist/build/linux-$arch" server trainer cli
  cp "$dist/runtimes/linux-$arch/libonnxruntime.so.1" "$dist/build/linux-$arch/"
done

step "runtime zips"
go build -o "$dist/build/autocv-dist" ./installers/cmd/autocv-dist
for p in linux-amd64 linux-amd64-gpu linux-arm64 windows-amd64; do
  "$dist/build/autocv-dist" runtime -platform "$p" -dir "$dist/runtimes/$p" -out "$dist/autocv-runtime-$p-$pkg_version.zip"
done

step "deb and rpm packages (nfpm)"
GOBIN=$dist/build go install "$NFPM" # pinned; go.mod stays untouched
# nfpm compresses on one core: the .deb and the .rpm of each package at once.
for arch in amd64 arm64; do
  for pkg in agent server; do
    bin=$dist/build/linux-$arch
    [ "$pkg" = agent ] && bin=$dist/runtimes/linux-$arch
    pids=()
    for packager in deb rpm; do
      ARCH=$arch VERSION=$pkg_version BIN=$bin RUNTIMES=$dist/runtimes \
        "$dist/build/nfpm" package --config "installers/nfpm/autocv-$pkg.yaml" --packager "$packager" --target "$dist/" >/dev/null &
      pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid"; done
  done
done

step "Windows MSI (wixl)"
stage=$dist/build/msi
mkdir -p "$stage"
cp "$dist/runtimes/windows-amd64/"* installers/windows/README.txt "$stage/"
(cd "$stage" && wixl -a x64 -D Version="$pkg_version" -o "$dist/autocv-agent-$pkg_version-x64.msi" "$root/installers/windows/autocv-agent.wxs")

rm -rf "$dist/build"
step "done"
echo "dist/ ($VERSION, packages $pkg_version, source date $(date -u -d "@$SOURCE_DATE_EPOCH" +%FT%TZ)):"
(cd "$dist" && find . -maxdepth 1 -type f -printf '%f\n' | sort | while read -r f; do
  printf '  %-48s %s\n' "$f" "$(du -h --apparent-size "$f" | cut -f1)"
done)
for p in linux-amd64 linux-amd64-gpu linux-arm64 windows-amd64; do
  printf '  %-48s %s\n' "runtimes/$p/" "$(du -sh --apparent-size "$dist/runtimes/$p" | cut -f1)"
done
echo "built in $(( $(date +%s) - start ))s"
