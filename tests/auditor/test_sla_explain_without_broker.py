"""`sla explain` without a broker (the case's history is given), issue 15: it and the SLA processor
warn of a working-day due time counted through a year whose day-off transfers are not configured;
it names the version of the rule each deadline was opened under and that version's validity."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import structlog
from prometheus_client import REGISTRY

from referral_bus.auditor import sla_explain
from referral_bus.auditor.history import CaseHistory
from referral_bus.cli import main
from referral_bus.contracts.base import City, Event
from referral_bus.contracts.events import EmergencyRemoval, ReferralKind, ReferralMade
from referral_bus.domain.deadlines.calendar import WorkingCalendar
from referral_bus.domain.deadlines.engine import DeadlineEngine
from referral_bus.domain.deadlines.rule_table import RULES, RULES_BY_ID
from referral_bus.domain.deadlines.rules import ElapsedHours
from referral_bus.infra.runtime import Runtime
from referral_bus.infra.settings import Settings
from referral_bus.sla.app import report_unconfigured_years
from tests.builders import make, on_log

ROOT = Path(__file__).resolve().parents[2]


def runtime_with(calendar: WorkingCalendar) -> Runtime:
    runtime = Runtime(Settings(root=ROOT, topic_prefix="", schema_registry_url=None))
    runtime.__dict__["calendar"] = calendar   # before the clock context (cached) is first built
    return runtime


def explain(monkeypatch: pytest.MonkeyPatch, calendar: WorkingCalendar, at: datetime,
            events: list[Event] | None = None, runtime: Runtime | None = None) -> list[sla_explain.DeadlineExplanation]:
    request = on_log(make(ReferralMade, "school-almaty", case="C-CAL", at=at, referral_kind=ReferralKind.NGO_SUPPORT,
                          city=City.ALMATY, child_age_years=12, services_requested=["LEGAL"]), 1)
    monkeypatch.setattr(sla_explain, "rebuild_case_sync",
                        lambda runtime, case_id: CaseHistory(case_id, None, events=events or [request]))
    return sla_explain.explain_case(runtime or runtime_with(calendar), "C-CAL", at + timedelta(hours=1))


def test_explain_says_the_years_transfers_are_not_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    [row] = [e for e in explain(monkeypatch, WorkingCalendar(), datetime(2026, 3, 20, 6, tzinfo=UTC))
             if e.rule_id == "5.18-ngo-decision-2wd"]
    [warning] = row.warnings
    assert warning.startswith("warning: the day-off transfers of 2026 are not configured") and "may be off" in warning
    assert warning in row.reasoning and row.reasoning[-1].startswith("ends at the end of working day 2")
    assert row.as_dict()["warnings"] == (warning,)   # `sla explain --json`


def test_explain_is_silent_for_a_configured_or_known_year(monkeypatch: pytest.MonkeyPatch) -> None:
    configured = WorkingCalendar(transfer_years={2026: "decree (test)"})
    for calendar, at in ((configured, datetime(2026, 3, 20, 6, tzinfo=UTC)),
                         (WorkingCalendar(), datetime(2025, 3, 3, 6, tzinfo=UTC))):
        rows = [e for e in explain(monkeypatch, calendar, at) if e.rule_id == "5.18-ngo-decision-2wd"]
        assert rows and all(not e.warnings for e in rows)


def test_the_sla_processor_logs_each_year_once_and_sets_the_metrics() -> None:
    calendar = WorkingCalendar()
    calendar.lacking[2031] += 2
    reported: dict[int, int] = {}
    with structlog.testing.capture_logs() as logs:
        assert report_unconfigured_years(calendar, reported) == [2031]
        calendar.lacking[2031] += 3
        assert report_unconfigured_years(calendar, reported) == []     # known: no second log line
    [line] = [entry for entry in logs if entry["event"] == "sla.calendar_transfers_unconfigured"]
    assert line["year"] == 2031 and line["due_times"] == 2 and line["log_level"] == "warning"
    assert set(line) == {"event", "log_level", "year", "due_times", "fix"}    # nothing about a case or a child
    assert REGISTRY.get_sample_value("referral_bus_unconfigured_calendar_years", {"year": "2031"}) == 1
    assert REGISTRY.get_sample_value("referral_bus_due_times_in_unconfigured_years_total", {"year": "2031"}) == 5


# -- rule versions ------------------------------------------------------------------------------
REMOVAL = "4.8-removal-outcome-3h"


def removal(at: datetime, seq: int) -> Event:
    return on_log(make(EmergencyRemoval, "police-juvenile-almaty", case="C-CAL", at=at, city=City.ALMATY,
                       child_age_years=9, child_removed=True, cam_social_worker_present=False), seq)


def test_explain_names_each_deadlines_rule_version_and_its_validity(monkeypatch: pytest.MonkeyPatch,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    old = RULES_BY_ID[REMOVAL]
    versions = (replace(old, in_force_until=date(2026, 6, 30)),
                replace(old, version=2, in_force_from=date(2026, 7, 1), clock=ElapsedHours(2)))
    rules = tuple(r for r in RULES if r.rule_id != REMOVAL) + versions
    runtime = runtime_with(WorkingCalendar())
    monkeypatch.setattr(runtime, "deadline_engine", lambda keep_reasoning=False: DeadlineEngine(
        rules, runtime.directory, context=runtime.clock_context, keep_reasoning=keep_reasoning))
    events = [removal(datetime(2026, 6, 30, 6, tzinfo=UTC), 1), removal(datetime(2026, 7, 2, 6, tzinfo=UTC), 2)]
    rows = [e for e in explain(monkeypatch, WorkingCalendar(), datetime(2026, 7, 2, 6, tzinfo=UTC), events, runtime)
            if e.rule_id == REMOVAL]
    assert [(e.version, e.in_force, e.clock) for e in rows] == [
        (1, "version 1, in force from 2020-01-01 until 2026-06-30", "3 hours"),
        (2, "version 2, in force from 2026-07-01 until further notice", "2 hours")]
    assert rows[0].as_dict()["in_force"] == rows[0].in_force   # `sla explain --json`
    # the text `sla explain` prints
    monkeypatch.setattr(sla_explain, "explain_case", lambda runtime, case_id, now: rows)
    recorded = no_broker_for_the_read_audit(monkeypatch)
    assert main(["sla", "explain", "C-CAL", "--purpose", "calendar check 2026"]) == 0
    assert recorded == [("C-CAL", "sla explain", "calendar check 2026")]   # the read is audited first
    text = capsys.readouterr().out
    assert "  rule version 1, in force from 2020-01-01 until 2026-06-30\n" in text
    assert "  rule version 2, in force from 2026-07-01 until further notice\n" in text


def test_the_text_of_explain_carries_the_calendar_warning(monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    rows = explain(monkeypatch, WorkingCalendar(), datetime(2026, 3, 20, 6, tzinfo=UTC))
    monkeypatch.setattr(sla_explain, "explain_case", lambda runtime, case_id, now: rows)
    no_broker_for_the_read_audit(monkeypatch)
    assert main(["sla", "explain", "C-CAL", "--purpose", "calendar check 2026"]) == 0
    assert "    warning: the day-off transfers of 2026 are not configured" in capsys.readouterr().out


def no_broker_for_the_read_audit(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str]]:
    """``sla explain`` is an audited read: record it in a list instead of on the broker (the
    broker side is tests/auditor/test_audited_reads_on_broker.py)."""
    from referral_bus.infra import read_audit
    recorded: list[tuple[str, str, str]] = []

    def record(runtime: object, *, case_id: str, tool: str, purpose: str, **_: object) -> None:
        recorded.append((case_id, tool, purpose))
    monkeypatch.setattr(read_audit, "record_read", record)
    return recorded
