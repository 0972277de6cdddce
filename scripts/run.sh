#!/usr/bin/env bash
# The one command that runs the main job: a local secured Apache Kafka broker (SASL/SCRAM over
# TLS, ACLs; its log kept under .referral-bus/kafka-secured, so a second run finds everything the
# first left), topics, router, SLA processor, projector — each under its own principal — and the
# demonstration, every agency publishing under its own credentials; keeps running until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/referral-bus up --demo --secure "$@"
