"""The auditor's modules that need no broker, fed by the simulator and the projector: the
Steering Committee report, what an agency was told (read models), timelines, tail lines, archive
checks."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from referral_bus.auditor.archive import ArchiveError, read_archive
from referral_bus.auditor.history import CaseHistory
from referral_bus.auditor.point_in_time import told_from_read_models
from referral_bus.auditor.steering_report import build_report, write_report
from referral_bus.auditor.tail import format_line
from referral_bus.contracts.bus_records import Receipt, ReceiptStatus
from referral_bus.infra.runtime import Runtime
from referral_bus.projections.projector import Item, Projector
from referral_bus.projections.tables import Base
from referral_bus.simulate import load_scenario
from referral_bus.simulate.runner import Simulation
from tests.simulate.conftest import ROOT

SCENARIO = ROOT / "examples" / "referral-routing-by-age.yaml"


@pytest.fixture
def projected(runtime: Runtime):  # type: ignore[no-untyped-def]
    """A scenario's case log and deliveries, projected into an in-memory read model."""
    simulation = Simulation(load_scenario(SCENARIO, runtime.calendar), runtime)
    lines = simulation.run()
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    inboxes = {runtime.catalogue.inbox(a): a for a in runtime.directory.agencies}
    projector = Projector(engine, "log", "sla", "esc", inboxes, runtime.directory)
    items = [Item("log", 0, n, e.envelope.case_id.encode(), {}, e.envelope.recorded_at or simulation.now, e)
             for n, e in enumerate(simulation.appended)]
    offset = 0
    for event in simulation.appended:
        for delivery in (d for d in lines if d["kind"] == "delivery" and d.get("source") == "router"
                         and d["case_id"] == event.envelope.case_id and d["event_type"] == event.event_type()):
            items.append(Item(runtime.catalogue.inbox(delivery["to"]), 0, offset, event.envelope.case_id.encode(),
                              {"rb-delivery-id": f"{event.envelope.event_id}|{delivery['to']}",
                               "rb-paragraph": delivery["paragraph"], "rb-purpose": delivery["purpose"]},
                              event.envelope.recorded_at or simulation.now, event))
            offset += 1
    projector.apply_batch(items)
    return simulation, engine


def test_steering_report_counts_the_scenarios_referrals_and_writes_html_and_csv(projected, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    simulation, engine = projected
    start = simulation.scenario.start - timedelta(days=1)
    report = build_report(engine, start, start + timedelta(days=30))
    referrals = sum(1 for e in simulation.appended if e.event_type() == "ReferralMade")
    assert sum(report.referrals["category"].values()) == referrals > 0
    written = write_report(report, tmp_path)
    assert {p.name for p in written} >= {"report.html", "referrals.csv", "deadlines.csv"}
    personal = [str(v) for step in simulation.scenario.steps for v in (step.personal_data or {}).values() if v]
    assert personal, "the scenario carries (fictional) personal data"
    text = "".join(p.read_text() for p in written)
    assert not [v for v in personal if v in text], "personal data in the Steering Committee report"


def test_what_an_agency_was_told_comes_from_its_deliveries_only(projected, runtime: Runtime) -> None:  # type: ignore[no-untyped-def]
    simulation, engine = projected
    case = simulation.appended[0].envelope.case_id
    later = datetime.now(UTC) + timedelta(days=3650)
    told = {t.delivery_id.split("|")[1] for agency in runtime.directory.agencies
            for t in told_from_read_models(engine, agency, case, later)}
    assert told, "somebody was told about the first case"
    assert told_from_read_models(engine, "no-such-agency", case, later) == []


def test_timeline_withholds_personal_data_and_tail_lines_are_json(runtime: Runtime) -> None:
    simulation = Simulation(load_scenario(SCENARIO, runtime.calendar), runtime)
    simulation.run()
    first = simulation.appended[0]
    history = CaseHistory(first.envelope.case_id, None, events=[e for e in simulation.appended
                                                                 if e.envelope.case_id == first.envelope.case_id])
    rows = history.timeline()
    assert rows and all("personal_data" not in row["fields"] for row in rows)
    receipt = Receipt(receipt_id=first.envelope.event_id, status=ReceiptStatus.ACCEPTED, source_topic="t",
                      source_partition=0, source_offset=1, recorded_at=datetime.now(UTC))
    assert json.loads(format_line(receipt))["type"] == "Receipt"


def test_an_archive_with_a_missing_or_altered_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(json.dumps({"partitions": {"0": {"file": "p0.avro", "sha256": "x",
                                                                              "records": 1}}}))
    with pytest.raises(ArchiveError, match="p0.avro: missing"):
        read_archive(tmp_path)
    (tmp_path / "p0.avro").write_bytes(b"not avro")
    with pytest.raises(ArchiveError, match="checksum differs"):
        read_archive(tmp_path)
