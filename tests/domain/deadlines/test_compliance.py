from __future__ import annotations

import uuid
from datetime import timedelta

from referral_bus.contracts.sla_records import (
    DeadlineBreached,
    DeadlineCompletedLate,
    DeadlineMet,
    DeadlineOpened,
)
from referral_bus.domain.deadlines.compliance import sla_figures
from tests.builders import T0


def opened(case: str, due_hours: float) -> DeadlineOpened:
    return DeadlineOpened(sla_event_id=uuid.uuid4(), deadline_id=uuid.uuid5(uuid.NAMESPACE_OID, case), rule_id="4.8-x",
                          paragraph="4.8", case_id=case, trigger_event_id=uuid.uuid4(),
                          responsible_agency_id="police-juvenile-almaty", opened_at=T0,
                          due_at=T0 + timedelta(hours=due_hours))


def closing(kind, d: DeadlineOpened, late: int = 0):  # type: ignore[no-untyped-def]
    common = dict(sla_event_id=uuid.uuid4(), deadline_id=d.deadline_id, rule_id=d.rule_id, paragraph=d.paragraph,
                  case_id=d.case_id, due_at=d.due_at)
    if kind is DeadlineBreached:
        return DeadlineBreached(**common, responsible_agency_id=d.responsible_agency_id, breached_at=d.due_at)
    extra = dict(completing_event_id=uuid.uuid4(), completed_at=d.due_at + timedelta(seconds=late))
    return DeadlineMet(**common, **extra) if kind is DeadlineMet else DeadlineCompletedLate(**common, **extra,
                                                                                            lateness_seconds=late)


def test_met_breached_open_and_lateness_percentiles() -> None:
    ds = [opened(f"C-{i}", 3) for i in range(6)] + [opened("C-future", 100), opened("C-outside", 1000)]
    records = list(ds)
    records.append(closing(DeadlineMet, ds[0]))
    records.append(closing(DeadlineMet, ds[1]))
    for d, late in zip(ds[2:5], (60, 120, 3600)):
        records += [closing(DeadlineBreached, d), closing(DeadlineCompletedLate, d, late)]
    records.append(closing(DeadlineBreached, ds[5]))          # still open, 7 hours past due at `now`
    now = T0 + timedelta(hours=10)
    [row] = sla_figures(records, {f"C-{i}": "ALMATY" for i in range(6)} | {"C-future": "ALMATY"},
                       start=T0, end=T0 + timedelta(days=7), now=now)
    assert (row.due, row.met, row.breached, row.open) == (7, 2, 4, 2)
    assert row.median_lateness == (120 + 3600) / 2
    assert row.p90_lateness is not None and 3600 < row.p90_lateness <= 7 * 3600
    assert row.met_share == 2 / 6 and row.city == "ALMATY" and row.agency == "police-juvenile-almaty"


def test_withdrawn_deadlines_are_counted_apart_not_as_due() -> None:
    from referral_bus.contracts.sla_records import DeadlineWithdrawn
    kept, dropped = opened("C-1", 3), opened("C-2", 3)
    withdrawn = DeadlineWithdrawn(sla_event_id=uuid.uuid4(), deadline_id=dropped.deadline_id, rule_id=dropped.rule_id,
                                  paragraph=dropped.paragraph, case_id="C-2",
                                  responsible_agency_id="police-juvenile-almaty",
                                  withdrawing_event_id=uuid.uuid4(), due_at=dropped.due_at,
                                  withdrawn_at=T0 + timedelta(hours=1), reason="the case file was closed")
    [row] = sla_figures([kept, dropped, closing(DeadlineMet, kept), withdrawn], {"C-1": "ALMATY", "C-2": "ALMATY"},
                       start=T0, end=T0 + timedelta(days=1), now=T0 + timedelta(hours=5))
    assert (row.due, row.met, row.breached, row.open, row.withdrawn) == (1, 1, 0, 0, 1)
