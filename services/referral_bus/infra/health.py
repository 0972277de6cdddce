"""What a service says about itself while it runs: ``ok``, or ``degraded`` with the reason (a store
away, being retried) — written to ``<data>/logs/health/<service>.json`` for ``referral-bus
services`` and an orchestrator's readiness probe, so an outage a service is riding out is visible
rather than silent (docs/reliability.md). No personal data: states and error class names only."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

OK = "ok"
DEGRADED = "degraded"
#: stopped on purpose and waiting for an operator (e.g. the log and a store disagree)
STOPPED = "stopped"


def health_dir(data_dir: Path) -> Path:
    return data_dir / "logs" / "health"


class Health:
    """One service's health file; written only when the state or its reason changes."""

    def __init__(self, data_dir: Path, service: str) -> None:
        self.path = health_dir(data_dir) / f"{service}.json"
        self.service = service
        self._last: tuple[str, str] | None = None

    def set(self, state: str, detail: str = "") -> None:
        if self._last == (state, detail):
            return
        self._last = (state, detail)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = {"service": self.service, "state": state, "detail": detail, "pid": os.getpid(),
                "since": datetime.now(UTC).isoformat()}
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(body) + "\n")
        temporary.replace(self.path)   # readers never see half a file


def read_health(data_dir: Path) -> dict[str, dict[str, Any]]:
    """Every service's last word, by service name."""
    out = {}
    for path in sorted(health_dir(data_dir).glob("*.json")):
        try:
            body = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        out[body.get("service", path.stem)] = body
    return out


def stop_for_operator(data_dir: Path, service: str, message: str) -> NoReturn:
    """Stop this service on purpose — its stores and the log disagree, and running on would act on
    what the log lacks — saying why and what to run. The exit status tells ``up``'s supervisor not
    to restart it (infra/supervisor.py)."""
    from referral_bus.infra.supervisor import EXIT_NEEDS_OPERATOR
    Health(data_dir, service).set(STOPPED, message)
    print(f"{service} stopped: {message}", file=sys.stderr, flush=True)
    os._exit(EXIT_NEEDS_OPERATOR)
