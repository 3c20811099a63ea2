#!/usr/bin/env bash
# Fetches onnxruntime's shared libraries from the npm package onnxruntime-node
# (Microsoft's official build) into a cache folder, without running the
# package's install script (it tries to download CUDA bits at install time).
#
#   installers/onnxruntime/fetch.sh CACHE_DIR
#
# leaves:
#   CACHE_DIR/linux-amd64/libonnxruntime.so.1
#   CACHE_DIR/linux-arm64/libonnxruntime.so.1
#   CACHE_DIR/windows-amd64/onnxruntime.dll
#   CACHE_DIR/VERSION
# The tarball is checked against a pinned sha256 before anything is extracted.
# Offline: put onnxruntime-node-$VERSION.tgz in CACHE_DIR (or set
# ORT_NPM_TARBALL to its path) and no registry is asked.
set -euo pipefail

VERSION=1.29.0
SHA256=cfdfb45ec4044b1fdca43e5d2e180fb6817e649ff8ad1e0dfc90e18e51b67037

cache=${1:?usage: fetch.sh CACHE_DIR}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

if [ -f "$cache/VERSION" ] && [ "$(cat "$cache/VERSION")" = "$VERSION" ] &&
   [ -f "$cache/linux-amd64/libonnxruntime.so.1" ]; then
  exit 0
fi

tgz=${ORT_NPM_TARBALL:-$cache/onnxruntime-node-$VERSION.tgz}
if [ ! -f "$tgz" ]; then
  echo "fetching onnxruntime-node@$VERSION with npm pack (no install scripts run)" >&2
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "onnxruntime-node@$VERSION" >/dev/null)
  mv "$tmp/onnxruntime-node-$VERSION.tgz" "$tgz.part"
  mv "$tgz.part" "$tgz"
fi

got=$(sha256sum "$tgz" | cut -d' ' -f1)
if [ "$got" != "$SHA256" ]; then
  echo "onnxruntime-node-$VERSION.tgz: sha256 $got, want $SHA256; refusing it" >&2
  echo "delete $tgz and run again, or check your npm registry" >&2
  exit 1
fi

extract() { # member dest
  mkdir -p "$(dirname "$2")"
  tar -xzOf "$tgz" "package/bin/napi-v6/$1" >"$2.part"
  mv "$2.part" "$2"
}
extract linux/x64/libonnxruntime.so.1 "$cache/linux-amd64/libonnxruntime.so.1"
extract linux/arm64/libonnxruntime.so.1 "$cache/linux-arm64/libonnxruntime.so.1"
extract win32/x64/onnxruntime.dll "$cache/windows-amd64/onnxruntime.dll"
echo "$VERSION" >"$cache/VERSION"
echo "onnxruntime $VERSION libraries in $cache" >&2
