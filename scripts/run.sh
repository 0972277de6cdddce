#!/usr/bin/env bash
# The one command that runs the main job: embedded broker, topics, router, SLA processor and
# the demonstration; keeps running until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/referral-bus up --demo "$@"
