#!/usr/bin/env bash
# `make run`: the whole system on its embedded defaults, on this machine.
#
#   autocv-server  console + API on 127.0.0.1:8080, MQTT broker on
#                  127.0.0.1:1883, SQLite + a blob folder, one trainer
#   autocv-agent   enrolled to it, serving :8987 (/upload page, JSON API)
#
# State lives in .cache/run (delete it to start over). The admin password
# is AUTOCV_ADMIN_PASSWORD, or one generated on the first run and kept in
# .cache/run/admin-password. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."

data=$(cd "${AUTOCV_TESTDATA:-../shared/data}" 2>/dev/null && pwd || true)
http=${AUTOCV_HTTP_ADDR:-127.0.0.1:8080}
mqtt=${AUTOCV_MQTT_ADDR:-127.0.0.1:1883}
listen=${AUTOCV_LISTEN:-127.0.0.1:8987}
run=$PWD/.cache/run
mkdir -p "$run"
chmod 700 "$run"
export ONNXRUNTIME_LIB=${ONNXRUNTIME_LIB:-$PWD/bin/libonnxruntime.so.1}
# Backbones: AUTOCV_BACKBONES, else .cache/backbones (`make deps`), else
# the shared test data. Without any the trainer waits and says so in the
# console; nothing restarts in a loop.
if [[ -z "${AUTOCV_BACKBONES:-}" ]]; then
	if [[ -f .cache/backbones/mobilenetv2-12-int8.onnx ]]; then
		export AUTOCV_BACKBONES=$PWD/.cache/backbones
	elif [[ -n "$data" && -f "$data/backbones/mobilenetv2-12-int8.onnx" ]]; then
		export AUTOCV_BACKBONES=$data/backbones
	fi
fi
nobackbones=
if [[ -z "${AUTOCV_BACKBONES:-}" || ! -f "$AUTOCV_BACKBONES/mobilenetv2-12-int8.onnx" ]]; then
	nobackbones="
  训练需要 backbones，尚未找到：运行 make deps（离线：AUTOCV_BACKBONES_FROM=文件夹或压缩包 make deps）。
  No backbones found, so nothing trains yet: run make deps (offline: AUTOCV_BACKBONES_FROM=folder-or-archive make deps)."
fi

if [[ -z "${AUTOCV_ADMIN_PASSWORD:-}" ]]; then
	if [[ ! -s "$run/admin-password" ]]; then
		(umask 077; head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$run/admin-password")
	fi
	AUTOCV_ADMIN_PASSWORD=$(cat "$run/admin-password")
fi
export AUTOCV_ADMIN_PASSWORD

pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

bin/autocv-server --data-dir "$run/server" --http-addr "$http" --mqtt-addr "$mqtt" &
pids+=($!)

base=http://$http
for _ in $(seq 1 150); do
	curl -fsS "$base/readyz" >/dev/null 2>&1 && break
	kill -0 "${pids[0]}" 2>/dev/null || { echo "autocv-server did not start" >&2; exit 1; }
	sleep 0.2
done

# json FIELD: read one field of the JSON on stdin (node is a prerequisite).
json() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const v=JSON.parse(s)[process.argv[1]];if(v===undefined)process.exit(1);console.log(v)})' "$1"; }

if [[ ! -s "$run/agent/device.json" ]]; then # the agent's identity, written by enroll
	token=$(curl -fsS -X POST "$base/api/v1/auth/login" -H 'Content-Type: application/json' \
		-d "{\"username\":\"admin\",\"password\":\"$AUTOCV_ADMIN_PASSWORD\"}" | json token)
	enroll=$(curl -fsS -X POST "$base/api/v1/enrollment-tokens" -H "Authorization: Bearer $token" \
		-H 'Content-Type: application/json' -d '{"group":"local","uses":1,"expires_in":600}' | json token)
	AUTOCV_ENROLL_TOKEN=$enroll bin/autocv-agent enroll --server "$base" --state-dir "$run/agent" --name "$(hostname)-local"
fi
bin/autocv-agent run --state-dir "$run/agent" --listen "$listen" &
pids+=($!)

cat <<MSG

AutoCV is running on its embedded defaults.
  控制台 / console:        $base/        (user admin, password $AUTOCV_ADMIN_PASSWORD)
  REST API:               $base/api/v1  (OpenAPI: $base/api/v1/openapi.json)
  MQTT broker:            tcp://$mqtt
  agent 上传 / upload:     http://$listen/upload
  agent JSON API:         curl --data-binary @photo.jpg http://$listen/v1/predict
Train a model in the console, then deploy it to the agent under 设备 / Devices.
Ctrl-C stops everything; state is kept in .cache/run.$nobackbones

MSG
wait -n "${pids[@]}"
