#!/bin/sh
# systemd forgets the removed unit. State in /var/lib/autocv and the users
# stay (models and data outlive the package); delete them by hand.
set -e
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
fi
