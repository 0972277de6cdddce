#!/usr/bin/env bash
# Makes Debian's `chromium` available at /usr/bin/chromium for the operations console's end-to-end
# tests (tests/gateway/console, driven by Playwright with executable_path). Playwright's own browser
# download (`playwright install`) needs the internet and fails on the project's machines; Debian's
# package comes from the configured apt mirror, like PostgreSQL in scripts/ensure-postgres.sh.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then exit 0; fi

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo -n "$@"; else
  echo "chromium is missing and this user cannot install it (not root, no sudo)" >&2; return 1; fi; }

echo "chromium is not installed: installing Debian's chromium package for the console's browser tests (first time only)…"
export DEBIAN_FRONTEND=noninteractive
as_root apt-get update -q 2>&1 | tail -n 2
as_root apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core 2>&1 \
  | grep -E '^(Setting up|Unpacking) chromium' || true
if [ ! -x /usr/bin/chromium ]; then
  echo "installing chromium did not produce /usr/bin/chromium" >&2
  exit 1
fi
echo "chromium: $(/usr/bin/chromium --version 2>/dev/null || echo installed)"
