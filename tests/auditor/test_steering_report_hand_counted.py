"""The Steering Committee report (``referral-bus report``) against figures counted by hand, and
against ``referral-bus sla report`` on every figure the two share (issue 15).

One small scenario runs through the simulator (the router's and the SLA engine's own code); its case
log and SLA records are projected into an in-memory read model as the projector does, the SLA records
after the Avro round trip they make through rb.sla. The report reads the read model; ``sla report``'s
function reads the SLA records — each figure below is counted by hand first.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine

from referral_bus.auditor.steering_report import (
    CHILDREN_REMOVED,
    REMOVAL_REQUESTS,
    REMOVALS,
    build_report,
    write_report,
)
from referral_bus.contracts.base import City, Event, Record
from referral_bus.contracts.sla_records import DeadlineBreached
from referral_bus.domain.deadlines.compliance import DeadlineFigures, sla_figures
from referral_bus.infra.runtime import Runtime
from referral_bus.projections.projector import Item, Projector
from referral_bus.projections.tables import Base
from referral_bus.simulate.runner import Simulation
from referral_bus.simulate.scenario import Scenario, parse_scenario

# All cases start at 06:00 UTC on Monday 2 March 2026; the run ends (and the report's "now" is) 12:00.
SCENARIO = """
title: Steering Committee report, counted by hand
start: 2026-03-02T06:00:00+00:00
until: +6h
steps:
  # A: the police remove a 9-year-old with no CAM Social Worker present, report the outcome after
  #    1 h (4.8 met); nobody notifies the prosecutor (4.9 due 08:00, breached, still open at 12:00)
  - {id: removal-a, at: +0m, agency: police-juvenile-almaty, case: ALA-A, event: EmergencyRemoval,
     payload: {city: ALMATY, child_age_years: 9, child_removed: true, cam_social_worker_present: false}}
  # B: a removal of a 14-year-old with the Social Worker present (no 4.8 report owed); the CAM
  #    notifies the prosecutor at 09:00, 1 h after the 2-hour policy threshold (4.9 completed late)
  - {id: removal-b, at: +0m, agency: police-juvenile-almaty, case: ALA-B, event: EmergencyRemoval,
     payload: {city: ALMATY, child_age_years: 14, child_removed: true, cam_social_worker_present: true}}
  # C: a school asks for an emergency removal of a 4-year-old; the police visit after 1 h (4.7 met)
  #    and do not remove the child: one referral (request and removal), no 4.9
  - {id: request-c, at: +0m, agency: school-almaty, case: ALA-C, event: EmergencyRemovalRequested,
     payload: {city: ALMATY, child_age_years: 4}}
  # D: a school refers a 10-year-old at immediate risk; assessed (NO_CONCERN) after 2 h, closed at 09:00
  - {id: referral-d, at: +0m, agency: school-almaty, case: ALA-D, event: ReferralMade,
     payload: {referral_kind: CHILD_PROTECTION, city: ALMATY, child_age_years: 10, immediate_risk: true}}
  # E: a school asks the NGO for legal help for a 15-year-old; declined after 1 h (5.18 met)
  - {id: referral-e, at: +0m, agency: school-almaty, case: ALA-E, event: ReferralMade,
     payload: {referral_kind: NGO_SUPPORT, city: ALMATY, child_age_years: 15, services_requested: [LEGAL]}}
  # F: a polyclinic in Shymkent refers a 2-year-old: to the Guardianship (4.5(a)), no CAM/CSC, no deadline
  - {id: referral-f, at: +0m, agency: health-shymkent, case: SHY-F, event: ReferralMade,
     payload: {referral_kind: CHILD_PROTECTION, city: SHYMKENT, child_age_years: 2}}
  # G: a removal of a 7-year-old with the Social Worker present, assessed (NO_CONCERN) after 30 min and
  #    closed at 07:00, before 4.9's due time: the case closure withdraws 4.9 (not due, not breached)
  - {id: removal-g, at: +0m, agency: police-juvenile-almaty, case: ALA-G, event: EmergencyRemoval,
     payload: {city: ALMATY, child_age_years: 7, child_removed: true, cam_social_worker_present: true}}
  - {id: assessment-g, at: +30m, agency: cam-almaty, case: ALA-G, event: InitialAssessmentCompleted,
     payload: {outcome: NO_CONCERN}}
  - {id: outcome-a, at: +1h, agency: police-juvenile-almaty, case: ALA-A, event: RemovalOutcomeReported,
     payload: {child_removed: true, placed_in_temporary_care: true, referred_to_cam: true}}
  - {id: removal-c, at: +1h, agency: police-juvenile-almaty, case: ALA-C, event: EmergencyRemoval,
     payload: {city: ALMATY, child_age_years: 4, child_removed: false, cam_social_worker_present: true}}
  - {id: closure-g, at: +1h, agency: cam-almaty, case: ALA-G, event: CaseClosed, payload: {ground: NO_CONCERN_FOUND}}
  - {id: decline-e, at: +1h, agency: ngo-rodnik, case: ALA-E, event: NGODecision,
     payload: {decision: DECLINED_NO_SPACE, reasons: "fictional: no space"}}
  - {id: assessment-d, at: +2h, agency: cam-almaty, case: ALA-D, event: InitialAssessmentCompleted,
     payload: {outcome: NO_CONCERN}}
  - {id: prosecutor-b, at: +3h, agency: cam-almaty, case: ALA-B, event: ProsecutorNotified, payload: {}}
  - {id: closure-d, at: +3h, agency: cam-almaty, case: ALA-D, event: CaseClosed, payload: {ground: NO_CONCERN_FOUND}}
  # F turns 3 at 10:00: the case passes from the Guardianship to the CAM of Shymkent (4.5(b)(i))
  - {id: turns-3-f, at: +4h, agency: guardianship-shymkent, case: SHY-F, event: ChildAgeRecorded,
     payload: {child_age_years: 3, reason: BIRTHDAY}}
"""
START = datetime.fromisoformat("2026-03-02T06:00:00+00:00")
NOW = START + timedelta(hours=6)
WEEK = (START - timedelta(days=1), START + timedelta(days=7))
FIRST_DAY = (START, START + timedelta(days=1))          # due 08:00 and 09:00: 4.7, 4.8, 4.9
AFTER_FIRST_DAY = (START + timedelta(days=1), START + timedelta(days=7))   # due on 4 March: 6.3(a), 5.18


class _Recording(Simulation):
    """The simulator, keeping the SLA records it emits (as the SLA processor writes them to rb.sla)."""

    def __init__(self, scenario: Scenario, runtime: Runtime) -> None:
        super().__init__(scenario, runtime)
        self.sla_records: list[Record] = []

    def _sla(self, record: Record) -> None:
        self.sla_records.append(record)
        super()._sla(record)


@dataclass
class Run:
    simulation: _Recording
    engine: Engine
    sla_records: list[Record]
    case_city: dict[str, str]


@pytest.fixture(scope="module")
def run(runtime: Runtime) -> Run:
    simulation = _Recording(parse_scenario(SCENARIO, runtime.calendar, source="hand-count"), runtime)
    simulation.run()
    assert len(simulation.appended) == 16, "every step accepted"
    codec = simulation.codec
    records = [codec.decode(codec.encode(r)) for r in simulation.sla_records]   # as read back from rb.sla (UTC)
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    projector = Projector(engine, "log", "sla", "esc", {}, runtime.directory)
    items = [Item("log", 0, n, e.envelope.case_id.encode(), {}, e.envelope.recorded_at or START, e)
             for n, e in enumerate(simulation.appended)]
    items += [Item("sla", 0, n, None, {}, NOW, r) for n, r in enumerate(records)]
    projector.apply_batch(items)
    case_city: dict[str, str] = {}   # as sla_report() finds it on the case log
    for event in simulation.appended:
        city = getattr(event, "city", None)
        if isinstance(event, Event) and isinstance(city, City):
            case_city.setdefault(event.envelope.case_id, city.value)
    return Run(simulation, engine, records, case_city)


def _figures(rows: list[DeadlineFigures]) -> dict[str, dict[str, object]]:
    return {str(r.rule_id): r.shared() for r in rows}


def test_deadline_figures_equal_the_hand_count(run: Run, runtime: Runtime) -> None:
    report = build_report(run.engine, *WEEK, directory=runtime.directory, now=NOW)
    got = {rule: (f["agency"], f["city"], f["due"], f["met"], f["completed late"], f["breached"],
                  f["breached, still open"], f["open"], f["withdrawn"])
           for rule, f in _figures(report.deadlines).items()}
    #        rule                                  responsible             city     due met late br br-open open wd
    assert got == {
        "4.7-removal-request-immediately":        ("police-juvenile-almaty", "ALMATY", 1, 1, 0, 0, 0, 0, 0),  # C
        "4.8-removal-outcome-3h":                 ("police-juvenile-almaty", "ALMATY", 1, 1, 0, 0, 0, 0, 0),  # A
        "4.9-prosecutor-notice-immediately":      ("cam-almaty", "ALMATY", 2, 0, 1, 2, 1, 1, 1),  # A, B; G withdrawn
        "5.18-ngo-decision-2wd":                  ("ngo-rodnik", "ALMATY", 1, 1, 0, 0, 0, 0, 0),  # E
        "6.3a-initial-assessment-48h-referral":   ("cam-almaty", "ALMATY", 1, 1, 0, 0, 0, 0, 0),  # D
        "6.3a-initial-assessment-48h-removal":    ("cam-almaty", "ALMATY", 3, 1, 0, 0, 0, 2, 0),  # G met; A, B
        "6.3a-initial-assessment-48h-removal-request": ("cam-almaty", "ALMATY", 1, 0, 0, 0, 0, 1, 0),  # C
        "6.3b-initial-assessment-72h-turned-3":   ("cam-shymkent", "SHYMKENT", 1, 0, 0, 0, 0, 1, 0),  # F
    }
    prosecutor = _figures(report.deadlines)["4.9-prosecutor-notice-immediately"]
    # 4.9 lateness: B 1 h (completed late), A 4 h so far (due 08:00, now 12:00)
    assert prosecutor["met share"] == 0.0
    assert prosecutor["median lateness (s)"] == (3600 + 14400) / 2
    assert prosecutor["p90 lateness (s)"] == pytest.approx(3600 + 0.9 * (14400 - 3600))
    # every deadline is one of met / completed late / breached, still open / open, not breached
    for f in _figures(report.deadlines).values():
        assert f["due"] == f["met"] + f["breached"] + f["open"] - f["breached, still open"]  # type: ignore[operator]


def test_referrals_count_emergency_removals_and_show_them_apart(run: Run, runtime: Runtime) -> None:
    report = build_report(run.engine, *WEEK, directory=runtime.directory, now=NOW)
    # A, B, G (removals no request preceded), C (request; its removal is the same referral), D, E, F
    assert report.referrals["category"] == Counter({"EMERGENCY_REMOVAL": 4, "CHILD_PROTECTION": 2, "NGO_SUPPORT": 1})
    assert report.referrals["referring body"] == Counter({"school-almaty": 3, "police-juvenile-almaty": 3,
                                                          "health-shymkent": 1})
    assert report.referrals["age band"] == Counter({"0-2": 1, "3-5": 1, "6-11": 3, "12-15": 2})  # F; C; A D G; B E
    assert report.referrals["outcome"] == Counter({"pending": 4, "NO_CONCERN": 2, "DECLINED_NO_SPACE": 1})
    # their own lines: C's request; A's, B's, C's and G's visits, of which A, B and G removed the child
    assert report.emergency == {REMOVAL_REQUESTS: 1, REMOVALS: 4, CHILDREN_REMOVED: 3}
    assert report.cases_opened == 7
    assert report.cases_with_open_deadlines == 4   # A (4.9, 6.3(a)), B, C (6.3(a)), F (6.3(b)); G closed

    almaty = build_report(run.engine, *WEEK, "ALMATY", directory=runtime.directory, now=NOW)
    assert sum(almaty.referrals["category"].values()) == 6   # not F (Shymkent)
    assert almaty.emergency == report.emergency


def test_caseload_per_cam_csc_and_ngo(run: Run, runtime: Runtime) -> None:
    report = build_report(run.engine, *WEEK, directory=runtime.directory, now=NOW)
    load = {str(row["agency"]): {k: v for k, v in row.items() if k not in ("agency", "kind")}
            for row in report.caseload}

    def row(received: int, emergency: int, declined: int, closed: int, still_open: int) -> dict[str, object]:
        return {"referrals received": received, "of which emergency (4.7)": emergency, "withdrawn by the referrer": 0,
                "declined (5.19)": declined, "closed": closed, "open at the end of the period": still_open}
    # CAM Almaty: A, B, C, G (emergency) and D; D and G closed; A, B, C still open
    assert load["cam-almaty"] == row(5, 4, 0, 2, 3)
    # Rodnik (Almaty's NGO): E, declined
    assert load["ngo-rodnik"] == row(1, 0, 1, 0, 0)
    # Shymkent: F went to the Guardianship (under 3) and passed to the CAM when it turned 3 (not a new
    # referral in the referral counts, but a case the CAM received)
    assert load["cam-shymkent"] == row(1, 0, 0, 0, 1)
    kinds = {str(r["agency"]): r["kind"] for r in report.caseload}
    assert set(kinds.values()) == {"cam-csc", "ngo"}
    assert set(kinds) == {a.id for a in runtime.directory.agencies.values() if a.kind.value in ("cam-csc", "ngo")}
    # a period ending at 08:30, after G's closure (07:00), before D's (09:00): D still open then
    early = build_report(run.engine, START, START + timedelta(hours=2, minutes=30), "ALMATY",
                         directory=runtime.directory, now=NOW)
    [cam] = [r for r in early.caseload if r["agency"] == "cam-almaty"]
    assert (cam["closed"], cam["open at the end of the period"]) == (1, 4)
    assert {r["agency"] for r in early.caseload} == {"cam-almaty", "ngo-rodnik"}   # the agencies serving Almaty


@pytest.mark.parametrize("period", [WEEK, FIRST_DAY, AFTER_FIRST_DAY], ids=["week", "first-day", "after-first-day"])
def test_the_report_equals_sla_report_on_every_shared_figure(run: Run, runtime: Runtime,
                                                             period: tuple[datetime, datetime]) -> None:
    report = build_report(run.engine, *period, directory=runtime.directory, now=NOW)
    sla = sla_figures(run.sla_records, run.case_city, start=period[0], end=period[1], now=NOW)
    assert [r.shared() for r in report.deadlines] == [r.shared() for r in sla]
    assert report.deadlines, "the period has deadlines"
    due_dates = {r.rule_id for r in sla}
    if period == FIRST_DAY:        # membership by due date: the 6.3(a) deadlines opened that day are due later
        assert due_dates == {"4.7-removal-request-immediately", "4.8-removal-outcome-3h",
                             "4.9-prosecutor-notice-immediately"}
    elif period == AFTER_FIRST_DAY:
        assert not due_dates & {"4.7-removal-request-immediately", "4.8-removal-outcome-3h",
                                "4.9-prosecutor-notice-immediately"}


def test_the_written_report_carries_the_caseload_the_figures_and_their_definitions(run: Run, runtime: Runtime,
                                                                                  tmp_path: Path) -> None:
    report = build_report(run.engine, *WEEK, directory=runtime.directory, now=NOW)
    written = {p.name: p.read_text() for p in write_report(report, tmp_path)}
    assert set(written) == {"report.html", "referrals.csv", "deadlines.csv", "caseload.csv", "notes.csv"}
    assert "cam-almaty" in written["caseload.csv"] and "Caseload per CAM/CSC and NGO" in written["report.html"]
    assert "emergency,emergency removals (4.7–4.8),4" in written["referrals.csv"]
    header = written["deadlines.csv"].splitlines()[0]
    assert "breached, still open" in header and "completed late" in header and "withdrawn" in header
    assert "exactly as `referral-bus sla report` counts them" in written["report.html"]


def test_a_breach_not_yet_declared_is_open_in_both_reports(run: Run, runtime: Runtime) -> None:
    """Before the SLA processor declares A's 4.9 breach (its grace period, or the processor behind),
    A's notice is open, not breached — in both reports (``sla report`` used to count it nowhere)."""
    [breach] = [r for r in run.sla_records if isinstance(r, DeadlineBreached) and r.case_id == "ALA-A"]
    records = [r for r in run.sla_records if r is not breach]
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    projector = Projector(engine, "log", "sla", "esc", {}, runtime.directory)
    projector.apply_batch([Item("log", 0, n, None, {}, START, e) for n, e in enumerate(run.simulation.appended)]
                          + [Item("sla", 0, n, None, {}, NOW, r) for n, r in enumerate(records)])
    report = build_report(engine, *WEEK, directory=runtime.directory, now=NOW)
    sla = sla_figures(records, run.case_city, start=WEEK[0], end=WEEK[1], now=NOW)
    assert [r.shared() for r in report.deadlines] == [r.shared() for r in sla]
    prosecutor = _figures(sla)["4.9-prosecutor-notice-immediately"]
    # A open (not breached), B completed late, G withdrawn
    assert (prosecutor["due"], prosecutor["completed late"], prosecutor["breached"], prosecutor["breached, still open"],
            prosecutor["open"], prosecutor["withdrawn"]) == (2, 1, 1, 0, 1, 1)
    assert prosecutor["median lateness (s)"] == 3600


WITHDRAWALS = """
title: Referrals withdrawn by their referrers, counted by hand
start: 2026-03-02T06:00:00+00:00
until: +6h
steps:
  # H1: a school asks the NGO for help for a 13-year-old and withdraws the request after 30 min
  - {id: request-h1, at: +0m, agency: school-almaty, case: ALA-H1, event: ReferralMade,
     payload: {referral_kind: NGO_SUPPORT, city: ALMATY, child_age_years: 13, services_requested: [SOCIAL]}}
  # H2: a school refers an 8-year-old to the CAM; the police refer the same child 1 h later and
  #     withdraw their duplicate at 08:00; the school's referral stays with the CAM
  - {id: referral-h2, at: +0m, agency: school-almaty, case: ALA-H2, event: ReferralMade,
     payload: {referral_kind: CHILD_PROTECTION, city: ALMATY, child_age_years: 8}}
  - {id: withdrawn-h1, at: +30m, agency: school-almaty, case: ALA-H1, event: ReferralWithdrawn,
     payload: {referral_event_id: request-h1, reason: NO_LONGER_NEEDED}}
  - {id: duplicate-h2, at: +1h, agency: police-juvenile-almaty, case: ALA-H2, event: ReferralMade,
     payload: {referral_kind: CHILD_PROTECTION, city: ALMATY, child_age_years: 8}}
  - {id: withdrawn-h2, at: +2h, agency: police-juvenile-almaty, case: ALA-H2, event: ReferralWithdrawn,
     payload: {referral_event_id: duplicate-h2, reason: DUPLICATE}}
"""


def test_withdrawn_referrals_leave_the_caseload_and_their_deadlines_are_not_due(runtime: Runtime) -> None:
    simulation = _Recording(parse_scenario(WITHDRAWALS, runtime.calendar, source="withdrawals"), runtime)
    simulation.run()
    assert len(simulation.appended) == 5, "every step accepted"
    records = [simulation.codec.decode(simulation.codec.encode(r)) for r in simulation.sla_records]
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    Projector(engine, "log", "sla", "esc", {}, runtime.directory).apply_batch(
        [Item("log", 0, n, None, {}, START, e) for n, e in enumerate(simulation.appended)]
        + [Item("sla", 0, n, None, {}, NOW, r) for n, r in enumerate(records)])
    report = build_report(engine, *WEEK, "ALMATY", directory=runtime.directory, now=NOW)
    load = {str(r["agency"]): r for r in report.caseload}
    # Rodnik: H1 received and withdrawn, nothing open; CAM Almaty: H2 twice, one withdrawn, the case open
    assert (load["ngo-rodnik"]["referrals received"], load["ngo-rodnik"]["withdrawn by the referrer"],
            load["ngo-rodnik"]["open at the end of the period"]) == (1, 1, 0)
    assert (load["cam-almaty"]["referrals received"], load["cam-almaty"]["withdrawn by the referrer"],
            load["cam-almaty"]["open at the end of the period"]) == (2, 1, 1)
    # the police's duplicate is no referral of a child in need: only among the withdrawals; H1's request,
    # withdrawn because it was no longer needed, was a referral and counts, with its outcome
    assert report.referrals["outcome"] == Counter({"WITHDRAWN": 1, "pending": 1})
    assert report.referrals["referring body"] == Counter({"school-almaty": 2})
    assert report.referrals["withdrawn by the referrer (reason)"] == Counter({"NO_LONGER_NEEDED": 1, "DUPLICATE": 1})
    # H1's 5.18 decision deadline: withdrawn, not due; H2's initial assessment: still owed, once
    figures = _figures(report.deadlines)
    assert (figures["5.18-ngo-decision-2wd"]["due"], figures["5.18-ngo-decision-2wd"]["withdrawn"]) == (0, 1)
    assert sum(int(str(f["open"])) for rule, f in figures.items() if rule.startswith("6.3")) == 1
    case_city = {e.envelope.case_id: "ALMATY" for e in simulation.appended}
    sla = sla_figures(records, case_city, start=WEEK[0], end=WEEK[1], now=NOW)
    assert [r.shared() for r in report.deadlines] == [r.shared() for r in sla]
