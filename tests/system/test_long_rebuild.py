"""A first start that folds a long case log — longer than the consumer group's poll interval —
must not cost the service its place in the group. The router and the SLA processor fold before
they join (``prepare``, run by ``run_worker``); a fold inside the group that outlasted
REFERRAL_BUS_MAX_POLL_INTERVAL had the member dropped, and the SLA processor's stream never
resumed (found at 1M log events: a 315 s rebuild against the default 300 s). Here the interval is
cut to 5 s and the log made long enough that each fold takes longer."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.case_log import fill
from referral_bus.contracts.bus_records import ReceiptStatus
from referral_bus.contracts.sla_records import DeadlineOpened
from referral_bus.sdk import AgencyClient
from tests.broker_helpers import of_case, read_topic
from tests.builders import case_id, removal
from tests.conftest import start_bus, wait_for

pytestmark = pytest.mark.broker
#: the services' poll interval (and rebalance timeout) here, in seconds
POLL = "5"
#: log events: each service's full fold takes well over POLL seconds (router ~0.25 ms, SLA ~0.45 ms an event)
EVENTS = 40_000


def test_a_fold_longer_than_the_poll_interval_keeps_both_services_in_their_groups(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    bus = start_bus(kafka_bootstrap, tmp_path, services=())
    try:
        fill(bus.runtime, EVENTS)
        for service in ("router", "sla"):
            bus.start(service, REFERRAL_BUS_MAX_POLL_INTERVAL=POLL, REFERRAL_BUS_REBALANCE_TIMEOUT=POLL)
        bus.wait_ready(timeout=300)
        for service in ("router", "sla"):
            wait_for(lambda s=service: bus.log_events(s, f"{s}.state_rebuilt"), timeout=300,
                     what=f"the {service} to finish its first fold")
        # both keep working well after their folds: a new removal is answered and its 4.8 deadline opened
        with AgencyClient("police-juvenile-almaty", actor_id="i-1", runtime=bus.runtime) as police:
            for _ in range(3):
                case = case_id("LONG")
                receipt = police.publish(removal(police, case, hours_ago=1), wait_for_receipt=True, timeout=120)
                assert receipt is not None and receipt.status is ReceiptStatus.ACCEPTED, receipt
                wait_for(lambda c=case: any(isinstance(r, DeadlineOpened) and r.rule_id.startswith("4.8")
                                            for r in of_case(read_topic(bus.runtime, "sla"), c)),
                         timeout=120, what="the SLA processor to open 4.8 for a removal after its fold")
        for service in ("router", "sla"):
            assert bus.processes[service].poll() is None, bus.log_text(service)[-3000:]
    finally:
        bus.stop()
        bus.discard_topics()
