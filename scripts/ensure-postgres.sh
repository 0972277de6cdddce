#!/usr/bin/env bash
# Makes a local PostgreSQL answer on 127.0.0.1:5432 for the read-model tests: installs Debian's
# `postgresql` package when it is missing (a fresh polyglot machine has none), starts the cluster,
# and lets the `postgres` role connect from 127.0.0.1 without a password (a test-only server on
# loopback; production uses REFERRAL_BUS_DATABASE_URL with its own credentials).
set -euo pipefail

answers() { command -v pg_isready >/dev/null 2>&1 && pg_isready -h 127.0.0.1 -p 5432 -q; }
# an external server named by the tests' setting is the caller's business
if [ -n "${REFERRAL_BUS_TEST_POSTGRES:-}" ]; then exit 0; fi

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo -n "$@"; else
  echo "PostgreSQL is missing and this user cannot install it (not root, no sudo)" >&2; return 1; fi; }

if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
  echo "PostgreSQL is not installed: installing Debian's postgresql package (first time only)…"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -q 2>&1 | tail -n 2
  as_root apt-get install -y -q postgresql 2>&1 | grep -E '^(Setting up|Unpacking) postgresql' || true
fi

ver=$(ls /etc/postgresql | sort -V | tail -n1)
if [ -z "$ver" ]; then echo "PostgreSQL installed but no cluster found under /etc/postgresql" >&2; exit 1; fi
hba=/etc/postgresql/$ver/main/pg_hba.conf
if ! as_root grep -q '^host all postgres 127.0.0.1/32 trust' "$hba"; then
  # first match wins in pg_hba.conf: the loopback rule for the test role goes on top
  as_root sed -i '1i host all postgres 127.0.0.1/32 trust' "$hba"
fi
if answers; then
  as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main reload
else
  echo "starting PostgreSQL $ver…"
  as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main start
fi
for _ in $(seq 1 60); do answers && exit 0; sleep 1; done
echo "PostgreSQL did not answer on 127.0.0.1:5432 within 60 s" >&2
exit 1
