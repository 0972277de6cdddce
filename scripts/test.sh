#!/usr/bin/env bash
# The one command that runs the whole test suite on a fresh machine (CI calls exactly this):
# set-up, the lint and type gate (ruff, mypy --strict), then every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
scripts/ensure-postgres.sh
scripts/ensure-chromium.sh   # the operations console's browser tests (tests/gateway/console)
echo "gate: ruff (lint) and mypy (strict types)…"
.venv/bin/ruff check services tests benchmarks
.venv/bin/mypy
echo "contract: docs/asyncapi.yaml through the official AsyncAPI parser (conformance/asyncapi, npm ci)…"
(cd conformance/asyncapi && npm ci --no-audit --no-fund && npm test)
echo "sdks: TypeScript agency client (sdks/typescript: npm ci, tsc, its test vectors)…"
(cd sdks/typescript && npm ci --no-audit --no-fund && npx tsc -p . && npm test)
echo "sdks: Java agency client (sdks/java: mvn package, its test vectors in JUnit; first run downloads from Maven Central)…"
(cd sdks/java && mvn -B package)
exec .venv/bin/python -m pytest "$@"
