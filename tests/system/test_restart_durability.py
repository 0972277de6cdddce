"""Stop the whole bus (``referral-bus up``: broker, router, SLA processor, projector) and start it
again: every case, deadline, escalation, delivery and read-model row is still there, the router
carries each case's sequence and hash chain on, and the SLA processor carries on where it stopped —
a deadline that fell due while the bus was down is breached and escalated once, after the restart.
Then ``up``'s supervision: the router killed with -9 is restarted and the bus answers again.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from referral_bus.contracts.bus_records import ReceiptStatus
from referral_bus.contracts.sla_records import DeadlineBreached, EscalationRaised
from referral_bus.infra.kafka.credentials import CredentialStore
from referral_bus.infra.kafka.local_process import free_port, port_is_free
from referral_bus.infra.kafka.security import KafkaSecurity
from referral_bus.infra.runtime import Runtime, load_runtime
from referral_bus.infra.settings import Settings
from referral_bus.sdk import AgencyClient
from referral_bus.sla.app import record_id
from tests.broker_helpers import read_topic
from tests.builders import case_id, outcome_report, referral, removal
from tests.conftest import wait_for
from tests.system.steady_load import check_nothing_lost

pytestmark = [pytest.mark.broker, pytest.mark.slow]

RULE_4_8 = "4.8-removal-outcome-3h"
READ_MODEL_TABLES = ("cases", "case_events", "referrals", "deadlines", "escalations", "deliveries")
APPEND_ONLY = ("case_events", "deliveries")


def two_free_ports() -> int:
    for _ in range(50):
        port = free_port()
        if port_is_free(port + 1):
            return port
    raise RuntimeError("no pair of free ports")


class Up:
    """``referral-bus up --secure`` as a process, as ``scripts/run.sh`` runs it (its own local secured broker)."""

    def security_for(self, principal: str) -> KafkaSecurity:
        secrets = self.data_dir / "kafka-secured" / "secrets"
        return KafkaSecurity.for_principal(CredentialStore(secrets / "principals", secrets / "tls" / "ca.pem")
                                           .load(principal))

    def runtime_for(self, principal: str) -> Runtime:
        return load_runtime(Settings(bootstrap_servers=f"127.0.0.1:{self.port}", topic_prefix="",
                                     data_dir=self.data_dir, kafka_security=self.security_for(principal)))

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir, self.port = data_dir, port
        self.proc: subprocess.Popen[str] | None = None
        self.output = data_dir.parent / "up.out"
        self.gateway_port = free_port()   # not the default 8080, which another program may hold

    def start(self, timeout: float = 240.0) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "REFERRAL_BUS_TOPIC_PREFIX",
                                                                 "REFERRAL_BUS_DATABASE_URL")}
        env.update(REFERRAL_BUS_DATA_DIR=str(self.data_dir), REFERRAL_BUS_BROKER_PORT=str(self.port),
                   REFERRAL_BUS_SLA_GRACE="2", REFERRAL_BUS_GATEWAY_ADDR=f"127.0.0.1:{self.gateway_port}")
        seen = len(self.output.read_text()) if self.output.exists() else 0
        with open(self.output, "a") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "referral_bus.cli", "up", "--secure"], env=env,
                                         stdout=out, stderr=subprocess.STDOUT, text=True)
        wait_for(lambda: self.proc.poll() is not None  # type: ignore[union-attr]
                 or "The bus is running" in self.output.read_text()[seen:], timeout=timeout,
                 what="referral-bus up to start")
        assert self.proc.poll() is None, self.output.read_text()[-3000:]

    def stop(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(120)
        assert "stopped." in self.output.read_text()


def snapshot(runtime, database_url: str) -> dict[str, object]:  # type: ignore[no-untyped-def]
    engine = create_engine(database_url)
    with engine.connect() as conn:
        rows = {t: sorted(map(tuple, conn.execute(text(f"SELECT * FROM {t}")).all()),
                          key=repr) for t in READ_MODEL_TABLES}
    engine.dispose()
    return {
        "case_log": sorted((r.partition, r.offset, r.key, r.record.envelope.hash)  # type: ignore[attr-defined]
                           for r in read_topic(runtime, "case_log")),
        "sla": sorted(record_id(r.record) for t in ("sla", "escalations") for r in read_topic(runtime, t)),
        "inbox": sorted((r.headers.get("rb-delivery-id"), r.offset) for r in read_topic(runtime, "inbox",
                                                                                        agency="cam-almaty")),
        "read_models": rows,
    }


def test_stop_and_start_the_whole_bus_keeps_everything_and_carries_on(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = two_free_ports()
    up = Up(data_dir, port)
    up.start()
    runtime = up.runtime_for("admin")  # the checks read every topic (ingress too); agencies publish as themselves
    database_url = f"sqlite:///{data_dir / 'kafka-secured' / 'read-models.db'}"   # up keeps it beside the broker's log
    assert f"read models: {database_url}" in up.output.read_text()
    try:
        sent = {}
        with AgencyClient("school-almaty", actor_id="t-1", runtime=up.runtime_for("school-almaty")) as school, \
                AgencyClient("police-juvenile-almaty", actor_id="i-1",
                             runtime=up.runtime_for("police-juvenile-almaty")) as police:
            late, due_while_down, referred = case_id("LATE"), case_id("DOWN"), case_id("REF")
            events = [(school, referral(school, referred)), (police, removal(police, late, hours_ago=4)),
                      (police, outcome_report(police, late))]
            # 4.8: three hours after the removal; this one falls due while the bus is stopped
            down_removal = removal(police, due_while_down, hours_ago=3 - 90 / 3600)
            events.append((police, down_removal))
            for client, event in events:
                receipt = client.publish(event, wait_for_receipt=True, timeout=120)
                assert receipt is not None and receipt.status is ReceiptStatus.ACCEPTED, receipt
                sent[str(event.envelope.event_id)] = event
        due = down_removal.envelope.occurred_at + timedelta(hours=3)
        # the late report's breach and escalation, and the projector, are through before the stop
        wait_for(lambda: any(isinstance(r.record, EscalationRaised) and r.record.case_id == late
                             for r in read_topic(runtime,
                                                 "escalations")), timeout=60, what="the late case's escalation")
        wait_for(lambda: _count(database_url, "case_events") == len(sent), timeout=60, what="the projector")
        before = snapshot(runtime, database_url)
        assert not any(r.record.case_id == due_while_down and r.record.rule_id == RULE_4_8  # type: ignore[attr-defined]
                       for r in read_topic(runtime, "escalations"))

        up.stop()
        assert datetime.now(UTC) < due, "the bus took too long to stop for this test's timing"
        time.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()) + 3)  # due while the bus is down

        up.start()
        after = snapshot(runtime, database_url)
        assert after["case_log"] == before["case_log"]                      # every event, same place, same hash
        assert set(before["sla"]) <= set(after["sla"])                      # type: ignore[arg-type]
        assert after["inbox"][:len(before["inbox"])] == before["inbox"]     # type: ignore[index]
        for table in READ_MODEL_TABLES:                                     # read models survived (SQLite file)
            old, new = before["read_models"][table], after["read_models"][table]  # type: ignore[index]
            if table in APPEND_ONLY:
                assert set(old) <= set(new), table
            else:  # rows that move on while the bus runs (a breached deadline climbs its ladder): same keys
                assert {row[0] for row in old} <= {row[0] for row in new}, table

        # the SLA processor carries on: the deadline that fell due while down is breached, once
        def escalated() -> list[EscalationRaised]:
            return [r.record for r in read_topic(runtime, "escalations")
                    if isinstance(r.record, EscalationRaised) and r.record.case_id == due_while_down
                    and r.record.rule_id == RULE_4_8]
        wait_for(lambda: escalated(), timeout=120, what="the escalation of the deadline that fell due while down")
        breaches = [r.record for r in read_topic(runtime, "sla")
                    if isinstance(r.record, DeadlineBreached) and r.record.case_id == due_while_down]
        assert [b.rule_id for b in breaches].count(RULE_4_8) == 1
        assert [e.level for e in escalated()] == [1]

        # the router carries the case on: sequence 2 on the same chain
        with AgencyClient("police-juvenile-almaty", actor_id="i-1",
                          runtime=up.runtime_for("police-juvenile-almaty")) as police:
            report = outcome_report(police, due_while_down)
            receipt = police.publish(report, wait_for_receipt=True, timeout=120)
            assert receipt is not None and receipt.status is ReceiptStatus.ACCEPTED and receipt.sequence == 2
            sent[str(report.envelope.event_id)] = report
        ids = [str(r.record.envelope.event_id) for r in read_topic(runtime, "case_log")]
        assert set(sent) <= set(ids)
        check_nothing_lost(runtime, sent)
        wait_for(lambda: _count(database_url, "case_events") == len(ids), timeout=60, what="the projector to resume")

        # up supervises: a router killed with -9 is restarted, says so, and the bus answers again
        router_pid = int(re.findall(r"started router \(pid (\d+)", up.output.read_text())[-1])
        os.kill(router_pid, signal.SIGKILL)
        wait_for(lambda: "router restarted" in up.output.read_text(), timeout=60, what="up to restart the router")
        assert re.search(r"router exited with status -9 after \d+ s; restarting in 1 s", up.output.read_text())
        with AgencyClient("school-almaty", actor_id="t-1", runtime=up.runtime_for("school-almaty")) as school:
            receipt = school.publish(referral(school, case_id("AFTER-KILL")), wait_for_receipt=True, timeout=120)
            assert receipt is not None and receipt.status is ReceiptStatus.ACCEPTED, receipt
        services = subprocess.run([sys.executable, "-m", "referral_bus.cli", "services"], capture_output=True,
                                  text=True, env={**os.environ, "REFERRAL_BUS_DATA_DIR": str(data_dir)}, timeout=60)
        assert services.returncode == 0 and re.search(r"router\s+running .* restarts 1, last exit status -9",
                                                      services.stdout), services.stdout
    finally:
        if up.proc is not None and up.proc.poll() is None:
            up.stop()


def _count(database_url: str, table: str) -> int:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
    except Exception:  # noqa: BLE001 - the projector may not have created its tables yet
        return -1
    finally:
        engine.dispose()
