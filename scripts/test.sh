#!/usr/bin/env bash
# The one command that runs the whole test suite on a fresh machine (CI calls exactly this).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
scripts/ensure-postgres.sh
exec .venv/bin/python -m pytest "$@"
