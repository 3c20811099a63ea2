#!/usr/bin/env bash
# Fetches onnxruntime's CUDA execution provider for linux-amd64 (the GPU SDK
# flavour) from the npm package com.github.asus4.onnxruntime.linux-x64-gpu,
# which repackages Microsoft's onnxruntime-linux-x64-gpu release. Its
# version 0.4.9 carries onnxruntime 1.29.0, the version fetch.sh pins for
# the CPU library (onnxruntime-node), whose libonnxruntime.so.1 is built
# with CUDA support and loads these provider libraries from beside it.
#
#   installers/onnxruntime/fetch-gpu.sh CACHE_DIR
#
# leaves:
#   CACHE_DIR/linux-amd64-gpu/libonnxruntime.so.1                (copied from CACHE_DIR/linux-amd64)
#   CACHE_DIR/linux-amd64-gpu/libonnxruntime_providers_shared.so
#   CACHE_DIR/linux-amd64-gpu/libonnxruntime_providers_cuda.so   (CUDA 13 — it links libcublas.so.13, libcudart.so.13 — and cuDNN 9 on the host)
# Run fetch.sh first. The tarball is checked against a pinned sha256 before
# anything is extracted. Offline: put the .tgz in CACHE_DIR (or set
# ORT_GPU_NPM_TARBALL to its path) and no registry is asked.
set -euo pipefail

PACKAGE=com.github.asus4.onnxruntime.linux-x64-gpu
VERSION=0.4.9
ORT_VERSION=1.29.0
SHA256=2b459e0c17f340c92970c10ed86de4f37a3009f93c14053e6ad4334cbb6be412

cache=${1:?usage: fetch-gpu.sh CACHE_DIR}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
out=$cache/linux-amd64-gpu

if [ "$(cat "$cache/VERSION" 2>/dev/null)" != "$ORT_VERSION" ] || [ ! -f "$cache/linux-amd64/libonnxruntime.so.1" ]; then
  echo "onnxruntime $ORT_VERSION CPU libraries missing in $cache: run installers/onnxruntime/fetch.sh $cache first" >&2
  exit 1
fi
if [ "$(cat "$out/VERSION" 2>/dev/null)" = "$PACKAGE@$VERSION" ] &&
   [ -f "$out/libonnxruntime_providers_cuda.so" ]; then
  exit 0
fi

tgz=${ORT_GPU_NPM_TARBALL:-$cache/$PACKAGE-$VERSION.tgz}
if [ ! -f "$tgz" ]; then
  echo "fetching $PACKAGE@$VERSION with npm pack (no install scripts run; about 180 MB)" >&2
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "$PACKAGE@$VERSION" >/dev/null)
  mv "$tmp/$PACKAGE-$VERSION.tgz" "$tgz.part"
  mv "$tgz.part" "$tgz"
fi

got=$(sha256sum "$tgz" | cut -d' ' -f1)
if [ "$got" != "$SHA256" ]; then
  echo "$tgz: sha256 $got, want $SHA256; refusing it" >&2
  echo "delete it and run again, or check your npm registry" >&2
  exit 1
fi

mkdir -p "$out"
for f in libonnxruntime_providers_shared.so libonnxruntime_providers_cuda.so; do
  tar -xzOf "$tgz" "package/Plugins/Linux/x64/$f" >"$out/$f.part"
  chmod 0755 "$out/$f.part"
  mv "$out/$f.part" "$out/$f"
done
# The provider reports the onnxruntime version it was built for: refuse a
# mismatch with the CPU library rather than fail on a user's GPU.
if ! grep -aq "$ORT_VERSION" "$out/libonnxruntime_providers_cuda.so"; then
  echo "$PACKAGE@$VERSION does not carry onnxruntime $ORT_VERSION; refusing it" >&2
  exit 1
fi
cp -f "$cache/linux-amd64/libonnxruntime.so.1" "$out/libonnxruntime.so.1"
echo "$PACKAGE@$VERSION" >"$out/VERSION"
echo "onnxruntime $ORT_VERSION CUDA provider in $out" >&2
