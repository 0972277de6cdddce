"""The console's read rules without HTTP or a browser, on read models written by hand (SQLite):
who sees which escalations and deadlines, when an escalation counts as acknowledged, the filters,
how late, and that every time leaves in Almaty time with its offset."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session

from referral_bus.gateway.console import page_time, views
from referral_bus.gateway.console.views import Filters, Viewer
from referral_bus.gateway.errors import GatewayError
from referral_bus.infra.runtime import Runtime
from referral_bus.projections.tables import Base, CaseRow, DeadlineRow, EscalationRow, TimelineRow

NOW = datetime(2026, 11, 28, 5, 0, tzinfo=UTC)
OPS = Viewer("rb-operations", True, "claimed")
CHIEF = Viewer("police-department-almaty", False, "claimed")
INSPECTION = Viewer("police-juvenile-almaty", False, "claimed")
COMMISSION = Viewer("commission-almaty", False, "claimed")
SCHOOL = Viewer("school-almaty", False, "claimed")
RULE = "4.8-removal-outcome-3h"


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    """Case 1 (Almaty): 4.8 breached 3 h ago, levels 1 (chief) and 2 (Commission) raised, level 1
    acknowledged by the chief. Case 2 (Almaty): 4.8 breached 1 h ago, level 1 raised, open.
    Case 3 (Shymkent): completed late, level 1 raised. Case 4: a 6.28 deadline due tomorrow."""
    engine = create_engine(f"sqlite:///{tmp_path / 'rm.sqlite'}")
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        for case, city in (("C-1", "ALMATY"), ("C-2", "ALMATY"), ("C-3", "SHYMKENT"), ("C-4", "ALMATY")):
            s.add(CaseRow(case_id=case, city=city, opened_at=NOW - timedelta(hours=8), opened_by="x", last_sequence=1,
                          last_event_type="EmergencyRemoval", last_recorded_at=NOW - timedelta(hours=8)))

        def deadline(n: int, case: str, due: timedelta, status: str, rule: str = RULE, paragraph: str = "4.8",
                     responsible: str = "police-juvenile-almaty", late: int | None = None) -> None:
            s.add(DeadlineRow(deadline_id=f"d{n}", case_id=case, rule_id=rule, paragraph=paragraph,
                              responsible_agency_id=responsible, opened_at=NOW - timedelta(hours=8),
                              due_at=NOW + due, status=status, lateness_seconds=late))
        deadline(1, "C-1", -timedelta(hours=3), "breached")
        deadline(2, "C-2", -timedelta(hours=1), "breached")
        deadline(3, "C-3", -timedelta(hours=4), "late", responsible="police-juvenile-shymkent", late=600)
        deadline(4, "C-4", timedelta(days=1), "open", rule="6.28-social-assessment-8w", paragraph="6.28",
                 responsible="cam-almaty")
        for n, (d, case, level, to) in enumerate((("d1", "C-1", 1, "police-department-almaty"),
                                                  ("d1", "C-1", 2, "commission-almaty"),
                                                  ("d2", "C-2", 1, "police-department-almaty"),
                                                  ("d3", "C-3", 1, "police-department-shymkent"))):
            s.add(EscalationRow(escalation_id=f"e{n}", deadline_id=d, case_id=case, rule_id=RULE, level=level,
                                escalated_to_agency_id=to, raised_for=NOW - timedelta(hours=2)))
        s.add(TimelineRow(case_id="C-1", sequence=5, event_id="a1", event_type="EscalationAcknowledged",
                          producer_agency_id="police-department-almaty", occurred_at=NOW - timedelta(hours=1),
                          recorded_at=NOW - timedelta(hours=1), hash="h",
                          fields={"escalation_id": "e0", "deadline_id": "d1", "level": 1}))
        s.commit()
    return engine


def board(engine: Engine, who: Viewer, state: str = "all", **filters: str) -> list[tuple[str, int, str]]:
    return [(e["case_id"], e["level"], e["state"])
            for e in views.escalations(engine, who, Filters(**filters), state, NOW)]


def test_staff_see_every_escalation_and_an_acknowledgement_covers_its_level_only(engine: Engine) -> None:
    assert sorted(board(engine, OPS)) == [("C-1", 1, "acknowledged"), ("C-1", 2, "open"), ("C-2", 1, "open"),
                                          ("C-3", 1, "closed")]
    assert sorted(board(engine, OPS, "open")) == [("C-1", 2, "open"), ("C-2", 1, "open")]
    [ack] = [e for e in views.escalations(engine, OPS, Filters(), "acknowledged", NOW)]
    assert ack["acknowledged"]["by"] == "police-department-almaty"


def test_an_agency_sees_what_it_owes_and_what_reached_it(engine: Engine) -> None:
    assert sorted(board(engine, INSPECTION)) == [("C-1", 1, "acknowledged"), ("C-1", 2, "open"), ("C-2", 1, "open")]
    assert sorted(board(engine, CHIEF)) == [("C-1", 1, "acknowledged"), ("C-1", 2, "open"), ("C-2", 1, "open")]
    # the Commission was reached on C-1 only: it sees that deadline's whole ladder, not C-2
    assert sorted(board(engine, COMMISSION)) == [("C-1", 1, "acknowledged"), ("C-1", 2, "open")]
    assert board(engine, SCHOOL) == []
    assert [d["case_id"] for d in views.deadlines(engine, COMMISSION, Filters(), False, NOW)] == ["C-1"]
    assert views.deadlines(engine, SCHOOL, Filters(), False, NOW) == []
    assert views.may_read_case(engine, COMMISSION, "C-1") and not views.may_read_case(engine, COMMISSION, "C-2")
    assert not views.may_read_case(engine, SCHOOL, "C-1") and views.may_read_case(engine, OPS, "C-2")


def test_filters_narrow_and_never_widen(engine: Engine) -> None:
    assert {c for c, _, _ in board(engine, OPS, city="SHYMKENT")} == {"C-3"}
    assert {c for c, _, _ in board(engine, OPS, agency="commission-almaty")} == {"C-1"}
    assert len(board(engine, OPS, rule="4.8")) == 4 and board(engine, OPS, rule="6.28") == []
    assert board(engine, SCHOOL, agency="police-juvenile-almaty") == []
    owed = views.deadlines(engine, OPS, Filters(), False, NOW)
    assert [d["case_id"] for d in owed] == ["C-1", "C-2", "C-4"]           # soonest first; C-3 is closed
    assert [d["case_id"] for d in views.deadlines(engine, OPS, Filters(), True, NOW)] == ["C-1", "C-2"]
    assert [d["escalation_level"] for d in owed] == [2, 1, 0]


def test_how_late_and_every_time_in_almaty(engine: Engine) -> None:
    rows = views.escalations(engine, OPS, Filters(), "all", NOW)
    by_case = {(e["case_id"], e["level"]): e for e in rows}
    assert by_case[("C-2", 1)]["late"] == "1 h 00 min late" and by_case[("C-2", 1)]["late_seconds"] == 3600
    assert by_case[("C-3", 1)]["late"] == "10 min late"                      # completed late: as recorded
    assert by_case[("C-1", 1)]["due_at"] == "2026-11-28T07:00:00+05:00"
    for row in rows + views.deadlines(engine, OPS, Filters(), False, NOW):
        for key, value in row.items():
            if key.endswith("_at") and value:
                assert value.endswith("+05:00"), (key, value)
    assert views.how_late(None) == "-" and views.how_late(-5) == "-" and views.how_late(42) == "42 s late"
    assert views.how_late(90_000) == "1 d 1 h 00 min late" and views.how_late(61) == "1 min late"
    assert views.visible_deadline_ids(engine, COMMISSION) == {"d1"} and views.visible_deadline_ids(engine, OPS) is None


def test_compliance_is_the_shared_definition_and_an_agency_sees_its_rows(engine: Engine, runtime: Runtime) -> None:
    start, end = NOW - timedelta(days=30), NOW + timedelta(days=30)
    rows = views.compliance(engine, runtime.directory, OPS, None, start, end, NOW)
    mine = views.compliance(engine, runtime.directory, INSPECTION, None, start, end, NOW)
    assert {r["agency"] for r in rows} == {"police-juvenile-almaty", "police-juvenile-shymkent", "cam-almaty"}
    [row] = mine
    assert (row["due"], row["breached"], row["breached_open"], row["met_share"]) == (2, 2, 2, 0.0)


def test_times_from_the_page_are_almaty_and_bad_ones_are_refused() -> None:
    assert page_time("2026-11-28T10:00", "as_of", NOW) == datetime(2026, 11, 28, 5, 0, tzinfo=UTC)
    assert page_time("2026-11-28T10:00:00+00:00", "as_of", NOW) == datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
    assert page_time("", "as_of", NOW) == NOW
    for bad in ("yesterday", "0001-01-01T00:00:00+14:00"):
        with pytest.raises(GatewayError) as refused:
            page_time(bad, "as_of", NOW)
        assert refused.value.problem.code == "BAD_TIME" and refused.value.problem.field == "as_of"
