"""Divergence (issue 12): the brokers lose the case log while the read models, the receipts and
the SLA topics remember it. Before, the projector skipped every new record up to its old offsets
and the router reused sequence numbers; now each service that can tell stops with a clear message
and the recovery command (exit status 4, which ``up`` does not restart), health says so, and
following the message brings the bus back: ``restore`` from the latest archive, after which the
router, SLA processor and projector carry on; or ``projections rebuild`` for the read models."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from referral_bus.contracts.bus_records import ReceiptStatus
from referral_bus.infra.health import STOPPED, read_health
from referral_bus.infra.supervisor import EXIT_NEEDS_OPERATOR
from referral_bus.sdk import AgencyClient
from tests.broker_helpers import read_topic, timeline_rows
from tests.builders import case_id, outcome_report, referral, removal
from tests.conftest import Bus, apply_test_topics, start_bus, wait_for

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def cli(bus: Bus, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "referral_bus.cli", *args], env=bus.env, capture_output=True,
                          text=True, timeout=300)


def lose_the_case_log(bus: Bus) -> None:
    """What a broker whose disks were wiped leaves: the topic, empty."""
    name = bus.runtime.catalogue.name("case_log")
    admin = KafkaAdminClient(bootstrap_servers=bus.runtime.settings.bootstrap_servers)
    try:
        admin.delete_topics([name])
        wait_for(lambda: name not in admin.list_topics(), timeout=60, what="the case log to be deleted")
    finally:
        admin.close()
    deadline = time.monotonic() + 60
    while True:   # the deletion finishes on the controller a moment after the topic is gone from the list
        try:
            apply_test_topics(bus.runtime)
            break
        except KafkaError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def stops_for_the_operator(bus: Bus, service: str, *said: str) -> None:
    proc = bus.start(service)
    if service == "router":   # it rebuilds its state for its first batch: something must arrive
        with AgencyClient("school-almaty", actor_id="t-lost", runtime=bus.runtime) as school:
            school.publish(referral(school, case_id("NEXT")))
    wait_for(lambda: proc.poll() is not None, timeout=180, what=f"{service} to stop")
    log = bus.log_text(service)
    assert proc.returncode == EXIT_NEEDS_OPERATOR, f"{service} exited with {proc.returncode}:\n{log[-3000:]}"
    assert all(s in log for s in said), log[-3000:]
    assert "Traceback" not in log.split("stopped", 1)[-1]
    health = read_health(Path(bus.runtime.settings.data_dir))[service]
    assert health["state"] == STOPPED and said[-1] in health["detail"], health


def test_a_lost_case_log_stops_each_service_with_the_way_back(kafka_bootstrap: str, tmp_path: Path,
                                                              postgres_database) -> None:  # type: ignore[no-untyped-def]
    bus = start_bus(kafka_bootstrap, tmp_path, services=("router", "sla", "projector"),
                    database_url=postgres_database())
    try:
        bus.wait_ready(timeout=180)
        case = case_id("LOST")
        with AgencyClient("police-juvenile-almaty", actor_id="i-lost", runtime=bus.runtime) as police:
            assert police.publish(removal(police, case, hours_ago=5), wait_for_receipt=True,
                                  timeout=120).status is ReceiptStatus.ACCEPTED  # type: ignore[union-attr]
        wait_for(lambda: any(getattr(r.record, "case_id", None) == case
                             for r in read_topic(bus.runtime, "escalations")),
                 timeout=90, what="the 4.8 escalation of the late removal")
        wait_for(lambda: timeline_rows(bus.runtime) == 2, timeout=90,
                 what="the projector to catch up")  # warm-up + removal
        archived = cli(bus, "archive", str(tmp_path / "archive"))
        assert archived.returncode == 0, archived.stderr
        bus.stop()

        lose_the_case_log(bus)
        stops_for_the_operator(bus, "router", "the case log lost data", "referral-bus restore")
        stops_for_the_operator(bus, "sla", "the case log lost data", "referral-bus restore")
        stops_for_the_operator(bus, "projector", "ends at 0", "projections rebuild")
        verified = cli(bus, "verify", "--read-models")
        assert verified.returncode == 1 and "ends at 0" in verified.stdout, verified.stdout + verified.stderr

        # the way back the messages name: restore the case log from the archive
        restored = cli(bus, "restore", str(tmp_path / "archive"))
        assert restored.returncode == 0, restored.stderr
        assert cli(bus, "verify", "--read-models").returncode == 0
        for service in ("router", "sla", "projector"):
            bus.start(service)
        with AgencyClient("police-juvenile-almaty", actor_id="i-lost", runtime=bus.runtime) as police:
            report = police.publish(outcome_report(police, case), wait_for_receipt=True, timeout=180)
            assert report is not None and report.status is ReceiptStatus.ACCEPTED and report.sequence == 2, report
        wait_for(lambda: timeline_rows(bus.runtime, case) == 2, timeout=90,
                 what="the projector to go on after the restore")
        for service, proc in bus.processes.items():
            assert proc.poll() is None, f"{service} exited:\n{bus.log_text(service)[-3000:]}"
        assert {h["state"] for h in read_health(Path(bus.runtime.settings.data_dir)).values()} <= {"ok", STOPPED}
        assert read_health(Path(bus.runtime.settings.data_dir))["projector"]["state"] == "ok"
    finally:
        bus.stop()


def test_projections_rebuild_is_the_way_back_when_the_log_is_right(kafka_bootstrap: str, tmp_path: Path) -> None:
    """The read models belong to another log (a database kept across a cluster rebuilt from
    scratch): the projector stops, ``projections rebuild`` makes them the log's again."""
    bus = start_bus(kafka_bootstrap, tmp_path, services=("router", "projector"))
    try:
        bus.wait_ready(timeout=180)
        with AgencyClient("school-almaty", actor_id="t-lost", runtime=bus.runtime) as school:
            for _ in range(3):
                school.publish(referral(school, case_id("OTHER")), wait_for_receipt=True, timeout=120)
        wait_for(lambda: timeline_rows(bus.runtime) == 4, timeout=90, what="the projector to catch up")
        bus.stop()
        lose_the_case_log(bus)
        stops_for_the_operator(bus, "projector", "ends at 0", "projections rebuild")
        rebuilt = cli(bus, "projections", "rebuild")
        assert rebuilt.returncode == 0, rebuilt.stderr
        assert timeline_rows(bus.runtime) == 0
        bus.start("projector")
        time.sleep(3)
        assert bus.processes["projector"].poll() is None, bus.log_text("projector")[-3000:]
    finally:
        bus.stop()
