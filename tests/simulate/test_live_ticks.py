"""The SLA processor ticks between the events it folds; a rebuild folds them all and ticks once.
Both must owe the same records, or a restart would emit what the live process never did and miss
what it owes (the deadline engine is "deterministic: depends only on the times").

Each shipped scenario is told as the bus records it when replayed late: every step recorded now,
a fraction of a second apart, while its dates (a meeting's, a review's) lie days in the past. That
is where a re-timing event (a moved meeting, 6.34; an amended review date, 6.49) meets a deadline
the live timer has already breached."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from referral_bus.contracts.base import Event
from referral_bus.infra.runtime import Runtime, load_runtime
from referral_bus.simulate import load_scenario
from referral_bus.simulate.runner import Simulation
from referral_bus.sla.app import record_id
from tests.simulate.shifting import REPLAYABLE, into_the_past

#: a week of moments, 7 hours apart: the replay lands on every weekday and time of day
MOMENTS = [datetime(2026, 11, 23, tzinfo=UTC) + timedelta(hours=7 * i) for i in range(24)]


@pytest.fixture(scope="module")
def runtime() -> Runtime:
    return load_runtime()


def recorded_now(path: Path, runtime: Runtime, now: datetime) -> list[Event]:
    """The case log of ``path`` replayed at ``now``: occurred in the past, recorded now."""
    told = into_the_past(load_scenario(path, runtime.calendar), now)
    steps = tuple(dataclasses.replace(step, at=now + timedelta(seconds=0.3 * i),
                                      occurred_at=step.occurred_at or step.at) for i, step in enumerate(told.steps))
    scenario = dataclasses.replace(told, start=now, steps=steps, until=None)
    simulation = Simulation(scenario, runtime)
    simulation.run()
    return simulation.appended


@pytest.mark.parametrize("path", REPLAYABLE, ids=lambda p: p.stem)
def test_ticks_between_events_owe_what_one_fold_owes(path: Path, runtime: Runtime) -> None:
    for now in MOMENTS:
        events = recorded_now(path, runtime, now)
        assert events, f"{path.name}: nothing reached the case log"
        end = now + timedelta(hours=1)
        rebuilt = runtime.deadline_engine()
        once = [r for e in events for r in rebuilt.on_event(e)] + rebuilt.advance(end)
        live = runtime.deadline_engine()
        ticked = []
        for event in events:
            ticked += live.advance(event.envelope.recorded_at - timedelta(milliseconds=1))   # type: ignore[operator]
            ticked += live.on_event(event)
        ticked += live.advance(end)
        assert sorted(map(record_id, ticked)) == sorted(map(record_id, once)), f"{path.name} replayed at {now}"
