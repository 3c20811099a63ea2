#!/bin/sh
# Reload systemd; the service is not started: it needs an admin password
# (AUTOCV_ADMIN_PASSWORD) on its first start.
set -e
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null || true
  if systemctl is-active --quiet autocv-server; then
    systemctl try-restart autocv-server || true
  fi
fi
echo "autocv-server: 编辑 /etc/autocv/server.yaml 后运行 systemctl enable --now autocv-server"
echo "autocv-server: edit /etc/autocv/server.yaml, then run systemctl enable --now autocv-server"
