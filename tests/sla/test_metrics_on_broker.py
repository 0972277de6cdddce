"""Metrics scraped from the running services: open deadlines, escalation firing lateness, receipts;
no case id or personal data in any label."""

from __future__ import annotations

import urllib.request

import pytest

from referral_bus.infra.kafka.local_process import free_port
from referral_bus.sdk import AgencyClient
from tests.broker_helpers import of_case, read_topic
from tests.builders import case_id, removal
from tests.conftest import start_bus, wait_for

pytestmark = pytest.mark.broker


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:  # noqa: S310
        return response.read().decode()


def value(text: str, prefix: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix))


def test_services_expose_metrics_without_case_data(kafka_bootstrap: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ports = {"router": free_port(), "sla": free_port()}
    bus = start_bus(kafka_bootstrap, tmp_path, metrics_ports=ports)
    try:
        bus.wait_ready()
        case = case_id()
        with AgencyClient("police-juvenile-almaty", actor_id="i-8", runtime=bus.runtime) as police:
            police.publish(removal(police, case, hours_ago=4), wait_for_receipt=True)
        wait_for(lambda: of_case(read_topic(bus.runtime, "escalations"), case), what="escalation")
        sla = wait_for(lambda: (lambda t: t if value(t, "referral_bus_open_deadlines{rule_id=\"4.8") >= 1 else None)(
            scrape(ports["sla"])), what="open-deadline gauge")
        assert value(sla, "referral_bus_escalation_firing_lateness_seconds_count") >= 1
        assert value(sla,
                     'referral_bus_sla_records_total{rule_id="4.8-removal-outcome-3h",type="EscalationRaised"}') >= 1
        router = scrape(ports["router"])
        assert value(router, 'referral_bus_receipts_total{reason_code="",status="ACCEPTED"}') >= 2
        assert case not in sla + router and "Test Child" not in sla + router
    finally:
        bus.stop()
