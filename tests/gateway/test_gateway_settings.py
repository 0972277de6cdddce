"""The gateway's settings are checked at start like every other (exit 2, one line naming the
setting), and a secured bus's gateway never serves plain HTTP (callers send their passwords)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest


def gateway(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "referral_bus.cli", "gateway"], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "REFERRAL_BUS_DATA_DIR": str(tmp_path), **env})


@pytest.mark.parametrize("env, said", [
    ({"REFERRAL_BUS_GATEWAY_ADDR": "127.0.0.1:http"}, "error: REFERRAL_BUS_GATEWAY_ADDR: expected HOST:PORT"),
    ({"REFERRAL_BUS_GATEWAY_RECEIPT_WAIT": "-1"}, "error: REFERRAL_BUS_GATEWAY_RECEIPT_WAIT: expected a number"),
    ({"REFERRAL_BUS_GATEWAY_TLS_CERT": "/nonexistent.pem"}, "error: REFERRAL_BUS_GATEWAY_TLS_CERT: expected a "
                                                            "readable file"),
])
def test_a_bad_setting_stops_the_gateway_naming_it(tmp_path: Path, env: dict[str, str], said: str) -> None:
    result = gateway(tmp_path, **env)
    assert result.returncode == 2 and result.stderr.startswith(said), result.stderr
    assert "Traceback" not in result.stderr


def test_a_secured_bus_needs_tls_on_the_gateway(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not used: refused before it is read\n")
    result = gateway(tmp_path, REFERRAL_BUS_GATEWAY_KAFKA_CA_FILE=str(ca))
    assert result.returncode == 2 and "REFERRAL_BUS_GATEWAY_TLS_CERT" in result.stderr, result.stderr


def test_an_address_in_use_is_refused(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = gateway(tmp_path, REFERRAL_BUS_GATEWAY_ADDR=f"127.0.0.1:{port}")
    assert result.returncode == 2 and result.stderr.startswith("error: REFERRAL_BUS_GATEWAY_ADDR:"), result.stderr
