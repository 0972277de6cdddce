"""Read models in PostgreSQL: the live projector (killed with -9 and restarted on the way) equals
a projection rebuilt from the log; point-in-time answers from the log and the read models agree."""

from __future__ import annotations

import csv
import dataclasses
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from referral_bus.auditor.point_in_time import (
    case_from_log,
    case_from_read_models,
    told_from_log,
    told_from_read_models,
)
from referral_bus.contracts.events import (
    AssessmentOutcome,
    InitialAssessmentCompleted,
    NGODecision,
    NGODecisionKind,
    ReferralKind,
)
from referral_bus.infra.runtime import Runtime
from referral_bus.projections.service import rebuild
from referral_bus.projections.tables import (
    CaseRow,
    ConsumerOffset,
    DeadlineRow,
    DeliveryRow,
    EscalationRow,
    ReferralRow,
    TimelineRow,
)
from referral_bus.sdk import AgencyClient
from tests.builders import case_id, outcome_report, referral, removal
from tests.conftest import start_bus, wait_for

pytestmark = pytest.mark.broker
TABLES = (CaseRow, TimelineRow, ReferralRow, DeadlineRow, EscalationRow, DeliveryRow)


def snapshot(url: str) -> dict[str, list[tuple]]:  # type: ignore[type-arg]
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            out = {}
            for table in TABLES:
                columns = [c.name for c in table.__table__.columns]
                rows = session.execute(select(*[table.__table__.c[c] for c in columns])).all()
                out[table.__tablename__] = sorted(tuple(str(v) for v in row) for row in rows)
            return out
    finally:
        engine.dispose()


def test_live_projection_equals_rebuild_and_point_in_time_agrees(kafka_bootstrap, postgres_database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    live_url, rebuilt_url = postgres_database(), postgres_database()
    bus = start_bus(kafka_bootstrap, tmp_path, services=("router", "sla", "projector"), database_url=live_url)
    try:
        bus.wait_ready()
        school = AgencyClient("school-almaty", actor_id="t-1", runtime=bus.runtime)
        police = AgencyClient("police-juvenile-almaty", actor_id="i-1", runtime=bus.runtime)
        cam = AgencyClient("cam-almaty", actor_id="m-1", runtime=bus.runtime)
        ngo = AgencyClient("ngo-rodnik", actor_id="c-1", runtime=bus.runtime)
        cases = [case_id() for _ in range(6)]
        for i, case in enumerate(cases[:3]):
            school.publish(referral(school, case, age=2 + 5 * i), wait_for_receipt=True)
        before_assessment = datetime.now(UTC)
        cam.publish(cam.event(InitialAssessmentCompleted, case_id=cases[1], outcome=AssessmentOutcome.NO_CONCERN),
                    wait_for_receipt=True)
        bus.kill9("projector")                       # mid-way: the restarted one resumes from its offsets
        police.publish(removal(police, cases[3], hours_ago=5), wait_for_receipt=True)
        police.publish(outcome_report(police, cases[3]), wait_for_receipt=True)
        bus.start("projector")
        police.publish(removal(police, cases[4], hours_ago=1), wait_for_receipt=True)
        school.publish(referral(school, cases[5], age=13, kind=ReferralKind.NGO_SUPPORT), wait_for_receipt=True)
        ngo.publish(ngo.event(NGODecision, case_id=cases[5], decision=NGODecisionKind.DECLINED_NO_SPACE,
                              reasons="programme full this month"), wait_for_receipt=True)

        live_engine = create_engine(live_url)

        def caught_up() -> bool:
            with Session(live_engine) as s:
                late = s.scalar(select(func.count()).select_from(DeadlineRow).where(DeadlineRow.status == "late"))
                decided = s.scalar(select(func.count()).select_from(ReferralRow)
                                   .where(ReferralRow.outcome.is_not(None)))
                escalated = s.scalar(select(func.count()).select_from(EscalationRow))
                return bool(late == 1 and decided == 2 and escalated)

        wait_for(caught_up, timeout=240, what="the live projector to catch up")  # a kill -9 and a restart on the way
        rebuild(Runtime(dataclasses.replace(bus.runtime.settings, database_url=rebuilt_url)))
        wait_for(lambda: snapshot(live_url) == snapshot(rebuilt_url), timeout=60, what="live == rebuilt")
        live = snapshot(live_url)
        assert len(live["cases"]) == 7  # six cases and the warm-up referral
        assert ("NO_CONCERN" in {row[7] for row in live["referrals"]})
        with Session(live_engine) as s:  # offsets were stored with the rows
            assert s.scalar(select(func.count()).select_from(ConsumerOffset)) > 0
            [referral_row] = s.scalars(select(ReferralRow).where(ReferralRow.case_id == cases[1])).all()
            assert (referral_row.age_band, referral_row.outcome) == ("6-11", "NO_CONCERN")

        # point in time: the case and what CAM Almaty had been told, before and after the assessment
        for moment in (before_assessment, datetime.now(UTC)):
            assert case_from_log(bus.runtime, cases[1], moment) == case_from_read_models(live_engine, cases[1], moment)
            for agency in ("cam-almaty", "guardianship-almaty", "school-almaty"):
                from_log = told_from_log(bus.runtime, agency, cases[1], moment)
                assert from_log == told_from_read_models(live_engine, agency, cases[1], moment)
        assert [t.paragraph for t in told_from_log(bus.runtime, "school-almaty", cases[1], before_assessment)] == []
        assert [t.paragraph for t in told_from_log(bus.runtime, "school-almaty", cases[1],
                                                   datetime.now(UTC))] == ["6.21–6.24"]
        # the Steering Committee report from the same read models, through the CLI
        report_dir = tmp_path / "report"
        result = subprocess.run([sys.executable, "-m", "referral_bus.cli", "report", "--city", "ALMATY",
                                 "--from", "2026-01-01T00:00:00+05:00", "--to", "2027-01-01T00:00:00+05:00",
                                 "--out", str(report_dir)], env={**bus.env, "REFERRAL_BUS_DATABASE_URL": live_url},
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        with (report_dir / "referrals.csv").open() as f:
            referral_rows = {(r["dimension"], r["value"]): int(r["referrals"]) for r in csv.DictReader(f)}
        assert referral_rows[("category", "CHILD_PROTECTION")] == 4  # three + the warm-up
        assert referral_rows[("outcome", "DECLINED_NO_SPACE")] == 1 and referral_rows[("age band", "0-2")] == 1
        with (report_dir / "deadlines.csv").open() as f:
            deadline_rows = {r["rule"]: r for r in csv.DictReader(f)}
        assert deadline_rows["4.8-removal-outcome-3h"]["completed late"] == "1"
        page = (report_dir / "report.html").read_text()
        assert "<svg" in page and "Steering Committee report" in page and "Test Child" not in page
        live_engine.dispose()
        for client in (school, police, cam, ngo):
            client.close()
    finally:
        bus.stop()
