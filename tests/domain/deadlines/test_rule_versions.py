"""Rules in force from/until a date (issue 15): a change in the law never re-judges past deadlines.

Two versions of one rule with different clocks; a trigger opens its deadline under the version in
force on the (Asia/Almaty) day it *occurred*, keeps it, and the deadline id does not depend on the
version. And a check over ``RULES``: the versions of one rule id never overlap in time.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from referral_bus.contracts import EVENT_TYPES
from referral_bus.contracts.base import City, Event, Record
from referral_bus.contracts.sla_records import DeadlineMet, DeadlineOpened
from referral_bus.domain.agencies import Directory
from referral_bus.domain.deadlines.engine import DeadlineEngine, deadline_id_for
from referral_bus.domain.deadlines.rule_table import RULE_VERSIONS, RULES, RULES_BY_ID
from referral_bus.domain.deadlines.rules import (
    IN_FORCE_FROM,
    CalendarDays,
    DeadlineRule,
    ElapsedHours,
    Recurrence,
)
from tests.builders import envelope, on_log

ALMATY = ZoneInfo("Asia/Almaty")
SWITCH = date(2026, 7, 1)          # the day the (fictional) amendment enters into force
REMOVAL = "4.8-removal-outcome-3h"
UNIT_REVIEW = "6.19b-unit-placement-review-monthly"


def local(y: int, m: int, d: int, h: int = 10, minute: int = 0) -> datetime:
    return datetime(y, m, d, h, minute, tzinfo=ALMATY)


def amended(rule_id: str, **new: Any) -> tuple[DeadlineRule, ...]:
    """RULES with ``rule_id`` in two versions: the table's until the day before SWITCH, then ``new``."""
    old = RULES_BY_ID[rule_id]
    v1 = replace(old, in_force_until=SWITCH - timedelta(days=1))
    v2 = replace(old, version=2, in_force_from=SWITCH, **new)
    return tuple(r for r in RULES if r.rule_id != rule_id) + (v1, v2)


class Log:
    def __init__(self, engine: DeadlineEngine, case_id: str = "C-V") -> None:
        self.engine, self.case_id, self.seq = engine, case_id, 0

    def add(self, kind: str, agency: str, at: datetime, recorded_at: datetime | None = None,
            **fields: Any) -> list[Record]:
        model = EVENT_TYPES[kind]
        self.seq += 1
        event: Event = on_log(model(envelope=envelope(model, self.case_id, agency, at=at), **fields), self.seq,
                              recorded_at=recorded_at or at)
        self.event = event
        return self.engine.on_event(event)


def removal(log: Log, at: datetime, recorded_at: datetime | None = None) -> list[Record]:
    return log.add("EmergencyRemoval", "police-juvenile-almaty", at, recorded_at, city=City.ALMATY,
                   child_age_years=9, child_removed=True, cam_social_worker_present=False)


def opened(records: list[Record], rule_id: str) -> list[DeadlineOpened]:
    return [r for r in records if isinstance(r, DeadlineOpened) and r.rule_id == rule_id]


@pytest.fixture
def engine(directory: Directory) -> DeadlineEngine:
    return DeadlineEngine(amended(REMOVAL, clock=ElapsedHours(2)), directory, keep_reasoning=True)


def test_each_trigger_opens_a_deadline_with_its_own_versions_duration(engine: DeadlineEngine) -> None:
    before, after = Log(engine, "C-BEFORE"), Log(engine, "C-AFTER")
    [old] = opened(removal(before, local(2026, 6, 30, 22)), REMOVAL)   # the last day of version 1
    [new] = opened(removal(after, local(2026, 7, 1, 0, 30)), REMOVAL)  # the first day of version 2
    assert old.due_at - old.opened_at == timedelta(hours=3)
    assert new.due_at - new.opened_at == timedelta(hours=2)
    assert (engine.opened_rules[old.sla_event_id].version, engine.opened_rules[new.sla_event_id].version) == (1, 2)
    # the deadline id is the rule id's, whatever the version: ids of existing deadlines never change
    assert old.deadline_id == deadline_id_for(REMOVAL, "C-BEFORE", before.event.envelope.event_id)
    assert new.deadline_id == deadline_id_for(REMOVAL, "C-AFTER", after.event.envelope.event_id)


def test_the_day_it_occurred_chooses_not_the_day_the_bus_recorded_it(engine: DeadlineEngine) -> None:
    """A removal of 30 June reported to the bus on 2 July is judged by the law of 30 June."""
    log = Log(engine)
    [late] = opened(removal(log, local(2026, 6, 30, 20), recorded_at=local(2026, 7, 2, 9)), REMOVAL)
    assert late.due_at == local(2026, 6, 30, 23)
    assert engine.opened_rules[late.sla_event_id].validity() == \
        "version 1, in force from 2020-01-01 until 2026-06-30"


def test_the_local_day_in_almaty_decides(engine: DeadlineEngine) -> None:
    """19:30 UTC on 30 June is 00:30 on 1 July in Almaty: version 2."""
    [new] = opened(removal(Log(engine), datetime(2026, 6, 30, 19, 30, tzinfo=ZoneInfo("UTC"))), REMOVAL)
    assert new.due_at - new.opened_at == timedelta(hours=2)


def test_a_deadline_keeps_its_version_after_the_switch(engine: DeadlineEngine) -> None:
    """Opened under version 1 (3 hours), completed after version 2 (2 hours) came into force: met."""
    log = Log(engine)
    removal(log, local(2026, 6, 30, 23))
    out = log.add("RemovalOutcomeReported", "police-juvenile-almaty", local(2026, 7, 1, 1, 30),
                  child_removed=True, placed_in_temporary_care=True, referred_to_cam=True)
    # the warning (1 hour before the 3-hour due time) fell due before the report came; no breach
    assert [type(r).__name__ for r in out if getattr(r, "rule_id", "") == REMOVAL] == ["DeadlineWarning",
                                                                                        "DeadlineMet"]
    [met] = [r for r in out if isinstance(r, DeadlineMet)]
    assert met.due_at == local(2026, 7, 1, 2)


def test_before_the_rules_came_into_force_nothing_opens(directory: Directory) -> None:
    engine = DeadlineEngine(RULES, directory)
    day_before = datetime.combine(IN_FORCE_FROM - timedelta(days=1), datetime.min.time(), tzinfo=ALMATY)
    assert opened(removal(Log(engine), day_before.replace(hour=12)), REMOVAL) == []
    assert len(opened(removal(Log(engine, "C-2"), local(2020, 1, 1, 12)), REMOVAL)) == 1


def test_the_next_occurrence_takes_the_version_in_force_when_it_opens(directory: Directory) -> None:
    """A monthly review series from May; the amendment makes it fortnightly from 1 July: the review
    completed on 20 June opens a monthly occurrence, the one completed on 10 July a fortnightly one."""
    rules = amended(UNIT_REVIEW, clock=CalendarDays(14), recurrence=Recurrence(CalendarDays(14)))
    log = Log(DeadlineEngine(rules, directory))
    log.add("SchoolScreeningFlagRaised", "school-almaty", local(2026, 5, 20), city=City.ALMATY,   # the case's city
            child_age_years=9, concern="NEGLECT")
    [first] = opened(log.add("TemporaryCareDecided", "guardianship-almaty", local(2026, 5, 25),
                             placement_necessary=True, form="CAM_RESIDENTIAL_UNIT"), UNIT_REVIEW)
    assert first.due_at == datetime(2026, 6, 25, 23, 59, 59, tzinfo=ALMATY)          # one calendar month
    review: dict[str, Any] = {"placement": "TEMPORARY_RESIDENTIAL_UNIT", "continues": True}
    [second] = opened(log.add("PlacementReviewed", "cam-almaty", local(2026, 6, 20), **review), UNIT_REVIEW)
    assert second.due_at == datetime(2026, 7, 20, 23, 59, 59, tzinfo=ALMATY)         # still version 1
    [third] = opened(log.add("PlacementReviewed", "cam-almaty", local(2026, 7, 10), **review), UNIT_REVIEW)
    assert third.due_at == datetime(2026, 7, 24, 23, 59, 59, tzinfo=ALMATY)          # version 2: 14 days


def test_a_repealed_duty_opens_nothing_after_its_last_day(directory: Directory) -> None:
    old = RULES_BY_ID[REMOVAL]
    rules = tuple(r for r in RULES if r.rule_id != REMOVAL) + (replace(old, in_force_until=SWITCH),)
    engine = DeadlineEngine(rules, directory)
    assert len(opened(removal(Log(engine, "C-1"), local(2026, 7, 1, 23)), REMOVAL)) == 1   # the last day counts
    assert opened(removal(Log(engine, "C-2"), local(2026, 7, 2, 0, 5)), REMOVAL) == []


def test_a_version_cannot_end_before_it_begins() -> None:
    with pytest.raises(ValueError, match="in_force_until 2026-06-30 is before in_force_from 2026-07-01"):
        replace(RULES_BY_ID[REMOVAL], version=2, in_force_from=SWITCH, in_force_until=date(2026, 6, 30))


# -- the table itself ---------------------------------------------------------------------------
def overlaps(rules: tuple[DeadlineRule, ...]) -> list[str]:
    """Pairs of versions of one rule id whose days overlap, and version numbers used twice."""
    problems: list[str] = []
    by_id: dict[str, list[DeadlineRule]] = {}
    for rule in rules:
        by_id.setdefault(rule.rule_id, []).append(rule)
    for rule_id, versions in by_id.items():
        numbers = [v.version for v in versions]
        if len(set(numbers)) != len(numbers):
            problems.append(f"{rule_id}: version numbers {numbers} repeat")
        ordered = sorted(versions, key=lambda v: v.in_force_from)
        for earlier, later in zip(ordered, ordered[1:]):
            if earlier.in_force_until is None or earlier.in_force_until >= later.in_force_from:
                problems.append(f"{rule_id}: version {earlier.version} ({earlier.validity()}) overlaps version "
                                f"{later.version} ({later.validity()})")
            if later.version <= earlier.version:
                problems.append(f"{rule_id}: version {later.version} comes into force after version {earlier.version}")
    return problems


def test_versions_of_one_rule_never_overlap_in_time() -> None:
    assert overlaps(RULES) == []


def test_the_overlap_check_finds_overlaps() -> None:
    two = amended(REMOVAL, clock=ElapsedHours(2))
    assert overlaps(two) == []
    v1, v2 = two[-2:]
    assert overlaps((replace(v1, in_force_until=SWITCH), v2)) != []                # one day in both
    assert overlaps((replace(v1, in_force_until=None), v2)) != []                  # the old never ends
    assert overlaps((v1, replace(v2, version=1))) != []                            # the same number twice


def test_the_latest_version_is_the_rule_by_id_and_all_are_listed() -> None:
    assert all(RULES_BY_ID[rule_id] is versions[-1] for rule_id, versions in RULE_VERSIONS.items())
    assert sum(len(v) for v in RULE_VERSIONS.values()) == len(RULES)
