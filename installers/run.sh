#!/usr/bin/env bash
# `make run`: starts what exists of AutoCV on its embedded defaults.
#
# Today that is the device agent in standalone mode (the offline SDK's
# mode) serving a demo model: the ImageNet MobileNetV2 backbone from the
# shared test data, wrapped as a signed model package. The control plane
# (console, API, training) comes with its own issue; this script will start
# it too once it exists.
set -euo pipefail
cd "$(dirname "$0")/.."

data=${AUTOCV_TESTDATA:-../shared/data}
listen=${AUTOCV_LISTEN:-127.0.0.1:8987}
export ONNXRUNTIME_LIB=${ONNXRUNTIME_LIB:-$PWD/bin/libonnxruntime.so.1}

go run ./plugins/onnx/internal/demo -data "$data" -out .cache/demo

cat <<MSG

AutoCV agent (standalone) on http://$listen
  上传图片 / upload page:  http://$listen/upload
  JSON API:               curl --data-binary @photo.jpg http://$listen/v1/predict
  health, metrics:        http://$listen/healthz  http://$listen/metrics
Model: ImageNet MobileNetV2 demo package (.cache/demo/package.tar.gz). Ctrl-C stops it.

MSG
exec bin/autocv-agent serve --package .cache/demo/package.tar.gz --trust-key .cache/demo/signing.pub --listen "$listen"
