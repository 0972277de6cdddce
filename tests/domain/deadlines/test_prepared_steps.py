"""Steps drafted during the grace (``DeadlineEngine.prepare``, issue 13: an end-of-day burst made
ahead of its instant) change nothing the engine owes: ``advance`` gives the very records it gives
without them — or, when an event changed the deadline meanwhile, what it changed it to."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from referral_bus.contracts.base import Event, Record
from referral_bus.contracts.sla_records import DeadlineBreached, DeadlineMet, DeadlineWarning, EscalationRaised
from referral_bus.domain.agencies import Directory
from referral_bus.domain.deadlines.engine import DeadlineEngine
from referral_bus.domain.deadlines.rule_table import RULES
from referral_bus.infra.runtime import Runtime, load_runtime
from referral_bus.simulate import load_scenario
from referral_bus.simulate.runner import Simulation
from tests.builders import T0
from tests.domain.deadlines.test_engine import GRACE, acknowledgement, kinds, only, removal, report
from tests.simulate.shifting import REPLAYABLE


@pytest.fixture
def engine(directory: Directory) -> DeadlineEngine:
    return DeadlineEngine(RULES, directory, grace=GRACE)


def test_a_drafted_breach_is_the_breach_advance_fires(engine: DeadlineEngine, directory: Directory) -> None:
    plain = DeadlineEngine(RULES, directory, grace=GRACE)
    due, event = T0 + timedelta(hours=3), removal()
    for e in (engine, plain):
        e.on_event(event)
        e.advance(due - timedelta(seconds=1))   # the warning
    drafted = engine.prepare(due + GRACE / 2)
    assert kinds(only(drafted, DeadlineBreached) + only(drafted, EscalationRaised)) == [
        "DeadlineBreached", "EscalationRaised"]
    assert engine.prepare(due + GRACE / 2) == []          # drafted once
    fired = engine.advance(due + GRACE)
    assert fired == plain.advance(due + GRACE)
    assert [id(r) for r in only(fired, EscalationRaised)] == [id(r) for r in only(drafted, EscalationRaised)]
    assert engine.drafts == {}
    # the ladder goes on from the drafted step: level 2 as without a draft
    later = due + timedelta(days=30)
    assert engine.advance(later) == plain.advance(later)


def test_nothing_is_drafted_before_the_step_s_time_or_after_its_grace(engine: DeadlineEngine) -> None:
    engine.on_event(removal())
    due = T0 + timedelta(hours=3)
    assert only(engine.prepare(due - timedelta(seconds=1)), DeadlineBreached) == []
    engine.advance(due - timedelta(seconds=1))   # the warning
    assert engine.prepare(due + GRACE) == []     # advance fires it now: nothing to draft


def test_a_completion_recorded_in_time_and_folded_in_the_grace_voids_the_draft(engine: DeadlineEngine) -> None:
    engine.on_event(removal())
    due = T0 + timedelta(hours=3)
    engine.advance(due - timedelta(seconds=1))   # the warning
    assert only(engine.prepare(due + timedelta(seconds=2)), DeadlineBreached)
    met = engine.on_event(report(due - timedelta(seconds=1)))   # recorded before due, folded after it
    assert kinds(only(met, DeadlineMet)) == ["DeadlineMet"]
    assert engine.drafts == {}
    assert only(engine.advance(due + GRACE), DeadlineBreached) == []


def test_an_acknowledgement_in_the_grace_stops_the_next_level(engine: DeadlineEngine, directory: Directory) -> None:
    plain = DeadlineEngine(RULES, directory, grace=GRACE)
    due, event = T0 + timedelta(hours=3), removal()
    for e in (engine, plain):
        e.on_event(event)
        e.advance(due + GRACE)   # breach, level 1
    [level_2_at] = [d.next_step()[0] for d in engine.open.values() if d.rule.rule_id.startswith("4.8")]  # type: ignore[index]
    assert only(engine.prepare(level_2_at + GRACE / 2), EscalationRaised)
    for e in (engine, plain):
        e.on_event(acknowledgement(e, 1, level_2_at - timedelta(seconds=1)))
    assert engine.advance(level_2_at + GRACE) == plain.advance(level_2_at + GRACE)
    assert only(engine.advance(level_2_at + GRACE), EscalationRaised) == []


def test_only_the_cases_this_process_owns_are_drafted(engine: DeadlineEngine) -> None:
    for case in ("C-1", "C-2"):
        engine.on_event(removal(case))
    engine.advance(T0 + timedelta(hours=3) - timedelta(seconds=1))   # the warnings
    drafted = engine.prepare(T0 + timedelta(hours=3, seconds=5), owns=lambda case: case == "C-2")
    assert {r.case_id for r in drafted} == {"C-2"}  # type: ignore[attr-defined]


def test_the_limit_bounds_one_call(engine: DeadlineEngine) -> None:
    for n in range(5):
        engine.on_event(removal(f"C-{n}"))
    at = T0 + timedelta(hours=3, seconds=5)
    engine.advance(T0 + timedelta(hours=3) - timedelta(seconds=1))
    assert len({r.case_id for r in engine.prepare(at, limit=2)}) == 2  # type: ignore[attr-defined]
    assert len({r.case_id for r in engine.prepare(at)}) == 3  # type: ignore[attr-defined]


# -- every shipped scenario, with drafts at every step's grace and at every event --------------------
@pytest.fixture(scope="module")
def runtime() -> Runtime:
    return load_runtime()


def _drive(engine: DeadlineEngine, events: list[Event], end: datetime, drafting: bool) -> tuple[list[Record], int]:
    """The live timer's ticks at each step's time plus the grace, events folded at their recording
    time; ``drafting``: a draft during each grace and just before each event, too. Returns what
    the engine owed and how many records were drafted."""
    out: list[Record] = []
    drafted = 0
    grace = engine.grace
    for until, event in [*((e.envelope.recorded_at, e) for e in events), (end, None)]:
        while (due := engine.next_step_at()) is not None and due <= until:  # type: ignore[operator]
            if drafting:
                drafted += len(engine.prepare(due - grace / 2))
            out += engine.advance(due)
        if event is not None:
            if drafting:
                drafted += len(engine.prepare(until))  # type: ignore[arg-type]
            out += engine.on_event(event)
    return out + engine.advance(end), drafted


@pytest.mark.parametrize("path", REPLAYABLE, ids=lambda p: p.stem)
def test_drafts_change_nothing_in_any_scenario(path: Path, runtime: Runtime) -> None:
    simulation = Simulation(load_scenario(path, runtime.calendar), runtime)
    simulation.run()
    events = simulation.appended
    end = max(e.envelope.recorded_at for e in events) + timedelta(days=400)  # type: ignore[type-var]
    plain, _ = _drive(runtime.deadline_engine(), events, end, drafting=False)
    with_drafts, drafted = _drive(runtime.deadline_engine(), events, end, drafting=True)
    assert with_drafts == plain
    assert drafted > 0 or not any(isinstance(r, (DeadlineWarning, DeadlineBreached)) for r in plain)
