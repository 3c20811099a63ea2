#!/usr/bin/env bash
# Builds the web console into dist/app, which console.go embeds into
# autocv-server. Needs Node.js >= 18 and npm; the packages come from the
# committed package-lock.json. Run from anywhere.
set -euo pipefail
web="$(cd "$(dirname "$0")/web" && pwd)"
npm ci --prefix "$web" --no-audit --no-fund
npm run --prefix "$web" build
