"""Scenarios moved in time, for replays against the wall clock (on the bus, and the engine's
live-ticks check)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from typing import Any

from referral_bus.simulate.scenario import Scenario
from tests.simulate.conftest import EXAMPLES

#: Acknowledgements name escalations the wall-clock SLA processor raises at other times.
REPLAYABLE = [p for p in EXAMPLES if "acknowledge:" not in p.read_text()]


def _shift(value: Any, delta: timedelta) -> Any:
    if isinstance(value, datetime):
        return value + delta
    if isinstance(value, date):
        return value + timedelta(days=delta.days)
    if isinstance(value, dict):
        return {k: _shift(v, delta) for k, v in value.items()}
    if isinstance(value, list):
        return [_shift(v, delta) for v in value]
    return value


def into_the_past(scenario: Scenario, now: datetime | None = None) -> Scenario:
    """The same story, ending ten minutes before ``now`` (default: the wall clock's)."""
    delta = (now or datetime.now(UTC)) - timedelta(minutes=10) - max(step.at for step in scenario.steps)
    steps = tuple(dataclasses.replace(step, at=step.at + delta, payload=_shift(step.payload, delta),
                                      occurred_at=_shift(step.occurred_at, delta)) for step in scenario.steps)
    return dataclasses.replace(scenario, start=scenario.start + delta, steps=steps,
                               until=scenario.until + delta if scenario.until else None)
