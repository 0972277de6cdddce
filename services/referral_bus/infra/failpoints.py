"""Failpoints: named places where a fault test can make a service die *exactly there* (kill -9 of
itself), to prove what a crash in that window does — e.g. between the router's case-log append
and its receipts. Off unless ``REFERRAL_BUS_FAILPOINTS`` names them, e.g.
``router.after_append=3`` (die at the 3rd time the router gets there). Never set in production.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

import structlog

log = structlog.get_logger(__name__)


def _parse(spec: str) -> dict[str, int]:
    points: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, nth = item.partition("=")
        points[name] = int(nth or "1")
    return points


_ARMED = _parse(os.environ.get("REFERRAL_BUS_FAILPOINTS", ""))
_hits: Counter[str] = Counter()


def hit(name: str) -> None:
    """Die here (SIGKILL, no clean-up) when this failpoint is armed and its count is reached."""
    if name not in _ARMED:
        return
    _hits[name] += 1
    if _hits[name] >= _ARMED[name]:
        log.warning("failpoint.kill", failpoint=name, hit=_hits[name])
        os.kill(os.getpid(), signal.SIGKILL)
