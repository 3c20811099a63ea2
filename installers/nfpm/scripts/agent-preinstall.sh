#!/bin/sh
# The agent runs as its own system user.
set -e
if ! getent passwd autocv-agent >/dev/null; then
  if command -v adduser >/dev/null && [ -f /etc/debian_version ]; then
    adduser --system --group --home /var/lib/autocv --no-create-home --quiet autocv-agent
  else
    useradd --system --user-group --home-dir /var/lib/autocv --no-create-home --shell /sbin/nologin autocv-agent
  fi
fi
