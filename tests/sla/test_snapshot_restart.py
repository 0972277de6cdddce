"""The SLA processor restarts from its snapshot (infra/snapshots.py, issue 13 item 1): after kill -9
it folds only what the case log gained since, emits nothing again that it emitted before, and the
escalation ladder goes on — a level falling due after the restart is raised once."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from referral_bus.contracts.sla_records import EscalationRaised
from referral_bus.sdk import AgencyClient
from referral_bus.sla.app import record_id
from tests.broker_helpers import of_case, read_topic
from tests.builders import case_id, referral, removal
from tests.conftest import Bus, wait_for

pytestmark = pytest.mark.broker
#: 4.8's level 2 falls due 2 h after the 3 h deadline: a removal this long ago reaches it after the restart
LEVEL_2_AFTER = timedelta(seconds=45)


def escalations_of(bus: Bus, case: str) -> list[EscalationRaised]:
    return [e for e in of_case(read_topic(bus.runtime, "escalations"), case) if e.rule_id.startswith("4.8")]


def test_a_restart_resumes_from_the_snapshot_and_the_ladder_goes_on(own_bus: Bus) -> None:
    bus = own_bus
    with AgencyClient("police-juvenile-almaty", actor_id="i-1", runtime=bus.runtime) as police, \
            AgencyClient("school-almaty", actor_id="t-1", runtime=bus.runtime) as school:
        hours_ago = (timedelta(hours=5) - LEVEL_2_AFTER).total_seconds() / 3600
        case = case_id("SLASNAP")
        police.publish(removal(police, case, hours_ago=hours_ago), wait_for_receipt=True)
        for _ in range(10):
            school.publish(referral(school, case_id("SLAFILL")), wait_for_receipt=True)
        wait_for(lambda: [e.level for e in escalations_of(bus, case)] == [1], what="4.8's level 1")
        [level_1] = [line for line in bus.log_events("sla", "sla.escalation")
                     if line.get("case_id") == case and str(line.get("rule_id")).startswith("4.8")]
        wait_for(lambda: any(str(line["timestamp"]) > str(level_1["timestamp"])
                             for line in bus.log_events("sla", "sla.snapshot_saved")), timeout=60,
                 what="a snapshot after level 1")
        emitted_before = sorted(record_id(r.record) for t in ("sla", "escalations") for r in read_topic(bus.runtime, t))

        bus.kill9("sla")
        bus.start("sla")
        wait_for(lambda: bus.log_events("sla", "sla.state_rebuilt")[1:], what="the SLA processor restarted")
        rebuilt = bus.log_events("sla", "sla.state_rebuilt")[-1]
        assert rebuilt["from_snapshot"] is True and rebuilt["missing"] == 0, rebuilt
        assert bus.log_events("sla", "sla.snapshot_loaded")

        wait_for(lambda: [e.level for e in escalations_of(bus, case)] == [1, 2], timeout=120,
                 what="level 2, due after the restart")
        time.sleep(3)   # more ticks: still once each
        assert [e.level for e in escalations_of(bus, case)] == [1, 2]
        emitted_after = [record_id(r.record) for t in ("sla", "escalations") for r in read_topic(bus.runtime, t)]
        assert len(emitted_after) == len(set(emitted_after)), "nothing emitted twice"
        assert set(emitted_before) <= set(emitted_after)
