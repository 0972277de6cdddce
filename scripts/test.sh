#!/usr/bin/env bash
# The one command that runs the whole test suite on a fresh machine (CI calls exactly this):
# set-up, the lint and type gate (ruff, mypy --strict), then every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
scripts/ensure-postgres.sh
echo "gate: ruff (lint) and mypy (strict types)…"
.venv/bin/ruff check services tests benchmarks
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
