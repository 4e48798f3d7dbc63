#!/usr/bin/env bash
# Debian's Chromium for the /docs check (npm run check:docs). Needs root and Debian's registry.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then exit 0; fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
chromium --version
