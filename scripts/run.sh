#!/usr/bin/env bash
# The one command that runs the main job: a local Apache Kafka broker (its log kept under
# .referral-bus/kafka, so a second run finds everything the first left), topics, router, SLA
# processor, projector and the demonstration; keeps running until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/referral-bus up --demo "$@"
