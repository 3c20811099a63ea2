#!/bin/sh
# Reload systemd; the service is not started: it needs a model package
# (/etc/autocv/agent.yaml says where) or an enrolment first.
set -e
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null || true
  if systemctl is-active --quiet autocv-agent; then
    systemctl try-restart autocv-agent || true
  fi
fi
echo "autocv-agent: 编辑 /etc/autocv/agent.yaml 后运行 systemctl enable --now autocv-agent"
echo "autocv-agent: edit /etc/autocv/agent.yaml, then run systemctl enable --now autocv-agent"
