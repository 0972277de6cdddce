"""Scale-out (issue 13 item 2): more router and SLA processes share the partitions of one bus. A
second router and a second SLA processor join while agencies submit steadily (a rebalance), then
the first of each is killed with -9 (another rebalance, the survivors take every partition).
Afterwards: no acknowledged submission lost, none duplicated on the case log, every submission
answered exactly once, ``verify`` clean, and every removal's 4.8 deadline opened — the SLA
records are deduplicated by their deterministic ``sla_event_id``, so a repeat after a rebalance is
allowed, a gap is not. A process that joins folds the whole log once (it has no snapshot yet,
and appends of the running one go on meanwhile); at each rebalance after that, every process
catches up from where it is (docs/decisions.md 73)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from referral_bus.contracts.events import EmergencyRemoval
from referral_bus.contracts.sla_records import DeadlineOpened
from tests.broker_helpers import read_topic
from tests.conftest import start_bus, wait_for
from tests.system.steady_load import SteadyLoad, check_nothing_lost
from tests.system.test_broker_faults import answered_yet

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def test_processes_join_and_die_mid_stream_and_nothing_is_lost_or_duplicated(kafka_bootstrap: str,
                                                                            tmp_path: Path) -> None:
    bus = start_bus(kafka_bootstrap, tmp_path / "bus")
    try:
        bus.wait_ready(timeout=180)
        load = SteadyLoad(bus.runtime, rate=20.0, prefix="SCALE").start()
        time.sleep(8)
        bus.start("router", instance="router-2")      # joins: the partitions are shared out again
        bus.start("sla", instance="sla-2")
        time.sleep(25)
        bus.kill9("router")                           # dies: router-2 takes every partition
        bus.kill9("sla")
        time.sleep(20)
        load.stop()
        wait_for(lambda: answered_yet(bus, load), timeout=300, interval=2, what="a receipt for every submission")
        for survivor in ("router-2", "sla-2"):
            proc = bus.processes[survivor]
            assert proc.poll() is None, f"{survivor} exited:\n{bus.log_text(survivor)[-3000:]}"
        assert "router.state_rebuilt" in bus.log_text("router-2")
        checked = check_nothing_lost(bus.runtime, load.sent)
        assert checked.events_on_log >= len(load.sent)

        removals = {str(e.envelope.event_id) for e in load.sent.values() if isinstance(e, EmergencyRemoval)}
        assert removals

        def opened() -> set[str]:
            return {str(r.record.trigger_event_id) for r in read_topic(bus.runtime, "sla")
                    if isinstance(r.record, DeadlineOpened) and r.record.rule_id == "4.8-removal-outcome-3h"}
        wait_for(lambda: removals <= opened(), timeout=180, interval=2, what="every removal's 4.8 deadline opened")
        print(f"\nscale-out: {len(load.sent)} submissions across a join and a kill -9 of a router and an SLA "
              f"processor; 0 lost, 0 duplicated; {len(removals)} removals, each with its 4.8 deadline")
    finally:
        bus.stop()
        bus.discard_topics()
