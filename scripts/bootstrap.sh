#!/usr/bin/env bash
# Creates .venv (if needed), installs referral-bus with its test extras, and fetches the pinned
# Apache Kafka with Maven into the user's cache (outside the work tree). Idempotent; each step
# says what it does the first time and is silent once done.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "creating .venv with $("$PY" --version)…"
  "$PY" -m venv .venv
fi
stamp=.venv/.installed-$(cat pyproject.toml scripts/bootstrap.sh | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "installing referral-bus and its Python dependencies into .venv (first time: about a minute)…"
  .venv/bin/python -m pip install --quiet --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
  .venv/bin/python -m pip install --progress-bar off -e '.[test,tansu]' 2>&1 \
    | grep --line-buffered -E '^(Collecting|Successfully installed)' | sed -u -E 's/^Collecting /  collecting /' || true
  .venv/bin/python -c "import referral_bus, faust, kafka, fastavro"
  rm -f .venv/.installed-* && touch "$stamp"
fi
# The local broker is Apache Kafka unless a cluster is given or Tansu is asked for.
if [ -z "${KAFKA_BOOTSTRAP_SERVERS:-}" ] && [ "${REFERRAL_BUS_BROKER:-kafka}" = kafka ]; then
  .venv/bin/python -c "from referral_bus.infra.kafka.kafka_distribution import ensure_kafka; ensure_kafka()"
fi
