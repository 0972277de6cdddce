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
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI


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
