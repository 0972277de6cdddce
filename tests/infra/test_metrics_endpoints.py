"""Issue 14, item 5: every service serves its metrics on its own address — the projector too — so
the services ``up`` runs never fight for a port; a taken port is one line naming the setting,
never a traceback. Real sockets: the endpoints are scraped over HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from referral_bus.infra import metrics
from referral_bus.infra.kafka.local_process import free_port
from referral_bus.infra.settings import Settings


def scrape(host: str, port: int) -> str:
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=5) as response:  # noqa: S310
        return str(response.read().decode())


def three_free_ports() -> int:
    """A base port with the next two free as well."""
    for _ in range(50):
        base = free_port()
        if base + 2 <= 65535 and not metrics.check_free({s: ("127.0.0.1", base + i) for i, s in
                                                          enumerate(("a", "b", "c"))}, {"a": "", "b": "", "c": ""}):
            return base
    raise AssertionError("no three free ports in a row")


@pytest.fixture
def held_port() -> Iterator[int]:
    """A port another program listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_one_base_port_gives_each_service_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REFERRAL_BUS_METRICS_PORT", "9464")
    for name in ("ROUTER", "SLA", "PROJECTOR"):
        monkeypatch.delenv(f"REFERRAL_BUS_{name}_METRICS_ADDR", raising=False)
    assert Settings().metrics_addresses == {"router": ("127.0.0.1", 9464), "sla": ("127.0.0.1", 9465),
                                            "projector": ("127.0.0.1", 9466)}
    monkeypatch.setenv("REFERRAL_BUS_SLA_METRICS_ADDR", "0.0.0.0:9100")   # its own address wins
    monkeypatch.setenv("REFERRAL_BUS_PROJECTOR_METRICS_ADDR", "9200")     # a bare port: 127.0.0.1
    settings = Settings()
    assert settings.metrics_address("sla") == ("0.0.0.0", 9100)
    assert settings.metrics_address("projector") == ("127.0.0.1", 9200)
    assert settings.metrics_address("router") == ("127.0.0.1", 9464)
    assert settings.metrics_setting("sla") == "REFERRAL_BUS_SLA_METRICS_ADDR"
    assert settings.metrics_setting("router").startswith("REFERRAL_BUS_METRICS_PORT (+0 for the router)")
    monkeypatch.delenv("REFERRAL_BUS_METRICS_PORT")
    monkeypatch.delenv("REFERRAL_BUS_SLA_METRICS_ADDR")
    assert Settings().metrics_addresses == {"projector": ("127.0.0.1", 9200)}   # unset: no endpoint


def test_two_services_serve_their_own_metrics_in_one_process(monkeypatch: pytest.MonkeyPatch) -> None:
    base = three_free_ports()
    monkeypatch.setenv("REFERRAL_BUS_METRICS_PORT", str(base))
    settings = Settings()
    servers = [metrics.serve(settings.metrics_address(s), settings.metrics_setting(s), s) for s in ("router",
                                                                                                    "projector")]
    try:
        metrics.PROJECTOR_BATCHES.inc()
        metrics.PROJECTOR_LAG.set(7)
        for port in (base, base + 2):
            text = scrape("127.0.0.1", port)
            assert "referral_bus_projector_batches_total" in text and "referral_bus_projector_lag_records 7.0" in text
        with pytest.raises(OSError):   # the SLA processor's port (+1) is not taken by anyone
            scrape("127.0.0.1", base + 1)
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def test_a_taken_port_is_one_line_naming_the_setting(held_port: int) -> None:
    with pytest.raises(metrics.MetricsAddressUnusable) as refused:
        metrics.serve(("127.0.0.1", held_port), "REFERRAL_BUS_SLA_METRICS_ADDR", "sla")
    assert str(refused.value.strerror) == (f"REFERRAL_BUS_SLA_METRICS_ADDR: the sla's metrics cannot listen on "
                                           f"127.0.0.1:{held_port}: the port is already in use (another service or "
                                           "program listens there); choose another")
    problems = metrics.check_free({"router": ("127.0.0.1", 9464), "sla": ("127.0.0.1", 9464),
                                   "projector": ("127.0.0.1", held_port)},
                                  {"router": "REFERRAL_BUS_ROUTER_METRICS_ADDR", "sla": "REFERRAL_BUS_SLA_METRICS_ADDR",
                                   "projector": "REFERRAL_BUS_PROJECTOR_METRICS_ADDR"})
    assert problems[0].startswith("REFERRAL_BUS_SLA_METRICS_ADDR: the sla's metrics would listen on 127.0.0.1:9464, "
                                  "as the router's do")
    assert problems[-1].startswith(f"REFERRAL_BUS_PROJECTOR_METRICS_ADDR: the projector's metrics cannot listen on "
                                   f"127.0.0.1:{held_port}: the port is already in use")


def cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if "METRICS" not in k}
    full = {**base, "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",   # nothing listens there
            "REFERRAL_BUS_DATA_DIR": str(tmp_path / "data"), "REFERRAL_BUS_TOPIC_PREFIX": "metrics-err.", **env}
    return subprocess.run([sys.executable, "-m", "referral_bus.cli", *args], env=full, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize(("command", "setting"), [
    (("router", "run"), "REFERRAL_BUS_ROUTER_METRICS_ADDR"),
    (("sla", "run"), "REFERRAL_BUS_SLA_METRICS_ADDR"),
    (("projections", "run"), "REFERRAL_BUS_PROJECTOR_METRICS_ADDR"),
])
def test_a_service_whose_port_is_taken_exits_2_naming_the_setting(command: tuple[str, ...], setting: str,
                                                                   held_port: int, tmp_path: Path) -> None:
    result = cli(tmp_path, *command, **{setting: f"127.0.0.1:{held_port}"})
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: {setting}: the "), result.stderr
    assert f"cannot listen on 127.0.0.1:{held_port}: the port is already in use" in result.stderr


def test_up_refuses_to_start_when_the_services_would_collide(held_port: int, tmp_path: Path) -> None:
    result = cli(tmp_path, "up", REFERRAL_BUS_ROUTER_METRICS_ADDR="127.0.0.1:9464",
                 REFERRAL_BUS_SLA_METRICS_ADDR="127.0.0.1:9464")
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert ("error: REFERRAL_BUS_SLA_METRICS_ADDR: the sla's metrics would listen on 127.0.0.1:9464, as the "
            "router's do") in result.stderr
    assert "nothing started" in result.stderr and "broker" not in result.stdout
    taken = cli(tmp_path, "up", REFERRAL_BUS_METRICS_PORT=str(held_port))   # the router's port (+0) is taken
    assert taken.returncode == 2 and "Traceback" not in taken.stderr, taken.stderr
    assert f"error: REFERRAL_BUS_METRICS_PORT (+0 for the router) or REFERRAL_BUS_ROUTER_METRICS_ADDR: the router's " \
           f"metrics cannot listen on 127.0.0.1:{held_port}: the port is already in use" in taken.stderr
