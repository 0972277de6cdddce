"""Helpers for the gateway's tests: serve an app with uvicorn on a free port (in a thread, so that
a test talks to it over real HTTP), and agencies' events as the JSON a non-Python system sends."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import uvicorn
from fastapi import FastAPI

if TYPE_CHECKING:
    from tests.infra.kafka.test_security_on_broker import Secured


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    url: str
    server: uvicorn.Server


@contextmanager
def serve(app: FastAPI, *, tls_cert: Path | None = None) -> Iterator[Served]:
    """``app`` on 127.0.0.1 with uvicorn, TLS when a certificate (PEM with its key) is given."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            ssl_certfile=str(tls_cert) if tls_cert else None)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="gateway-under-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the gateway did not start")
        time.sleep(0.05)
    try:
        yield Served(f"{'https' if tls_cert else 'http'}://127.0.0.1:{port}", server)
    finally:
        server.should_exit = True
        thread.join(15)


@contextmanager
def serve_on_secured(secured: Secured) -> Iterator[Served]:
    """The gateway over HTTPS (a certificate from the secured cluster's CA) under its own principal
    ``rb-gateway``, which only records audited reads and reads the case log: every request goes to
    the brokers under the caller's own credentials; it holds the agencies' signing keys (custody)."""
    from referral_bus.gateway import create_app
    from referral_bus.gateway.server import tls_certificate
    from referral_bus.infra.runtime import load_runtime
    from referral_bus.infra.settings import GatewaySettings, Settings
    certificate = tls_certificate(secured.cluster.data_dir / "secrets" / "tls", ["127.0.0.1", "localhost"])
    runtime = load_runtime(Settings(bootstrap_servers=secured.cluster.bootstrap_servers, topic_prefix=secured.prefix,
                                    data_dir=secured.runtime.settings.data_dir,
                                    kafka_security=secured.cluster.security_for("rb-gateway")))
    config = GatewaySettings(address=("127.0.0.1", 0), kafka_ca_file=secured.cluster.credentials.ca_file,
                             tls_cert=certificate, tls_key=None,
                             signing_key_dir=secured.runtime.settings.signing_keys, receipt_wait_seconds=60)
    with serve(create_app(runtime, config), tls_cert=certificate) as served:
        yield served


def referral_json(case: str, *, event_id: str | None = None, age: int = 7, agency: str | None = None,
                  **extra: Any) -> dict[str, Any]:
    """A school's child-protection referral as a non-Python system writes it (docs/gateway.md)."""
    producer: dict[str, Any] = {"actor_id": "teacher-1"}
    if agency is not None:
        producer["agency_id"] = agency
    return {"envelope": {"event_type": "ReferralMade", "event_id": event_id or str(uuid.uuid4()), "case_id": case,
                         "occurred_at": datetime.now(UTC).isoformat(), "producer": producer},
            "referral_kind": "CHILD_PROTECTION", "city": "ALMATY", "child_age_years": age, **extra}


def sse_events(response: httpx.Response, want: int, timeout: float = 60.0) -> list[dict[str, str]]:
    """The first ``want`` events (``id``, ``event``, ``data``) of a Server-Sent Events response."""
    events: list[dict[str, str]] = []
    current: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    for line in response.iter_lines():
        if time.monotonic() > deadline:
            break
        if line == "":
            if "data" in current:
                events.append(current)
                if len(events) >= want:
                    break
            current = {}
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        current[name] = value.removeprefix(" ")
    return events
