#!/bin/sh
# Stop and disable the service before its files go (not on upgrade).
set -e
case "$1" in
  remove|purge|0)
    if [ -d /run/systemd/system ]; then
      systemctl disable --now autocv-agent >/dev/null 2>&1 || true
    fi ;;
esac
