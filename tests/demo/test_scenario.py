"""The demonstration that `scripts/run.sh` runs, against a real router and SLA processor: it must
show what it says it shows (a 4.8 escalation, a met deadline, 4.5 routing, seed 002's SOP)."""

from __future__ import annotations

import pytest

from referral_bus.demo.scenario import run_demo
from tests.conftest import Bus

pytestmark = pytest.mark.broker


def test_demo_shows_escalation_routing_and_the_medical_sop(bus: Bus) -> None:
    lines: list[str] = []
    results = run_demo(bus.runtime, say=lines.append)
    assert results["escalation"] is not None and results["escalation"].rule_id == "4.8-removal-outcome-3h"
    late, timely, referral, violence = results["cases"]
    kinds = {case: [(row["type"], row["fields"].get("rule_id")) for row in results[case].timeline()]
             for case in results["cases"]}
    assert ("DeadlineCompletedLate", "4.8-removal-outcome-3h") in kinds[late]
    assert ("DeadlineMet", "4.8-removal-outcome-3h") in kinds[timely]
    assert ("DeadlineOpened", "6.3b-initial-assessment-72h") in kinds[referral]
    assert ("DeadlineCompletedLate", "seed002-multidisciplinary-evaluation-1h") in kinds[violence]
    assert ("DeadlineMet", "seed002-medical-written-notice-1d") in kinds[violence]
    assert any("refused by the SDK" in line for line in lines)
    assert all(not results[case].chain_problems for case in results["cases"])
