#!/usr/bin/env bash
# The headless browser the dashboard test uses: Debian's `chromium`, installed when missing
# (as root, like ops/services.sh installs PostgreSQL). Prints the browser's path; exits 1
# with one line when it is missing and cannot be installed.
set -euo pipefail
log() { printf '[browser] %s\n' "$*" >&2; }
for name in chromium chromium-browser; do
  if command -v "$name" >/dev/null; then command -v "$name"; exit 0; fi
done
if [[ $(id -u) -ne 0 ]]; then
  log "chromium not found; install Debian's 'chromium' package (sudo apt-get install chromium)"
  exit 1
fi
log "installing chromium from Debian's packages (first run only)"
if ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 &&
       DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >&2; }; then
  log "could not install chromium (no package repository reachable?)"
  exit 1
fi
command -v chromium
