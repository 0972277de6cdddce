"""Issue 14, item 5: a setting the bus cannot use stops the command at start with one line —
``REFERRAL_BUS_X: expected …, got …`` — and exit status 2, never a traceback (infra/settings.py).
Run as processes, with no broker listening where they look."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from referral_bus.infra.kafka.local_process import free_port


def run(*args: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**{k: v for k, v in os.environ.items() if not k.startswith("REFERRAL_BUS_")},
            "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",   # nothing listens there
            "REFERRAL_BUS_DATA_DIR": str(tmp_path / "data"), "REFERRAL_BUS_TOPIC_PREFIX": "settings-err.", **env}
    return subprocess.run([sys.executable, "-m", "referral_bus.cli", *args], env=full, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize(("command", "env", "says"), [
    (("verify",), {"REFERRAL_BUS_SLA_TICK": "-1"}, "REFERRAL_BUS_SLA_TICK: expected a positive number of seconds, "
                                                   "got '-1'"),
    (("verify",), {"REFERRAL_BUS_SESSION_TIMEOUT": "soon"}, "REFERRAL_BUS_SESSION_TIMEOUT: expected a positive "
                                                            "number of seconds, got 'soon'"),
    (("verify",), {"REFERRAL_BUS_SLA_GRACE": "nan"}, "REFERRAL_BUS_SLA_GRACE: expected a number of seconds ≥ 0"),
    (("verify",), {"REFERRAL_BUS_MAX_EVENT_BYTES": "256k"}, "REFERRAL_BUS_MAX_EVENT_BYTES: expected a whole number "
                                                            "of bytes ≥ 1, got '256k'"),
    (("verify",), {"REFERRAL_BUS_METRICS_PORT": "nine"}, "REFERRAL_BUS_METRICS_PORT: expected a TCP port 1–65535, "
                                                         "got 'nine'"),
    (("verify",), {"REFERRAL_BUS_METRICS_PORT": "65534"}, "REFERRAL_BUS_METRICS_PORT: expected a TCP port 1–65533"),
    (("verify",), {"REFERRAL_BUS_SLA_METRICS_ADDR": "127.0.0.1:99999"},
     "REFERRAL_BUS_SLA_METRICS_ADDR: expected HOST:PORT (e.g. 127.0.0.1:9464) or a port 1–65535, got "
     "'127.0.0.1:99999'"),
    (("verify",), {"REFERRAL_BUS_PRODUCER_IDEMPOTENCE": "maybe"}, "REFERRAL_BUS_PRODUCER_IDEMPOTENCE: expected true "
                                                                  "or false, got 'maybe'"),
    (("verify",), {"REFERRAL_BUS_KAFKA_SECURITY": "kerberos"}, "REFERRAL_BUS_KAFKA_SECURITY must be 'plaintext' or "
                                                               "'sasl_ssl', got 'kerberos'"),
    (("verify",), {"REFERRAL_BUS_LOG_LEVEL": "LOUD"}, "REFERRAL_BUS_LOG_LEVEL: expected one of DEBUG, INFO, "
                                                      "WARNING, ERROR, CRITICAL, got 'LOUD'"),
    (("broker",), {"REFERRAL_BUS_BROKER": "zookeeper"}, "REFERRAL_BUS_BROKER: expected 'kafka' or 'tansu', got "
                                                        "'zookeeper'"),
    (("broker",), {"REFERRAL_BUS_BROKER_PORT": "0"}, "REFERRAL_BUS_BROKER_PORT: expected a TCP port 1–65535, "
                                                     "got '0'"),
    (("up",), {"REFERRAL_BUS_MAX_POLL_INTERVAL": "0"}, "REFERRAL_BUS_MAX_POLL_INTERVAL: expected a positive number "
                                                       "of seconds, got '0'"),
    (("router", "run"), {"REFERRAL_BUS_MAX_CLOCK_SKEW": "-5"}, "REFERRAL_BUS_MAX_CLOCK_SKEW: expected a whole "
                                                               "number of seconds ≥ 0, got '-5'"),
])
def test_a_bad_setting_stops_the_command_with_one_line(command: tuple[str, ...], env: dict[str, str], says: str,
                                                      tmp_path: Path) -> None:
    result = run(*command, tmp_path=tmp_path, **env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert says in result.stderr.strip().splitlines()[-1], result.stderr
    assert "started" not in result.stdout, result.stdout   # `up`: nothing was started


def test_services_shows_almaty_time_with_the_offset(tmp_path: Path) -> None:
    logs = tmp_path / "data" / "logs"
    (logs / "health").mkdir(parents=True)
    (logs / "services.json").write_text(json.dumps({"at": "2026-03-04T06:00:00+00:00", "services": [
        {"service": "router", "state": "running", "pid": 1, "restarts": 0, "last_exit_status": None,
         "log": "router.log"}]}))
    (logs / "health" / "projector.json").write_text(json.dumps({"service": "projector", "state": "degraded",
                                                                "detail": "store away",
                                                                "since": "2026-03-04T05:59:00.5+00:00"}))
    result = run("services", tmp_path=tmp_path)
    assert "projector    degraded       since 2026-03-04 10:59:00 +05:00: store away" in result.stdout, result.stdout
    assert result.stdout.strip().splitlines()[-1] == "as of 2026-03-04 11:00:00 +05:00"
