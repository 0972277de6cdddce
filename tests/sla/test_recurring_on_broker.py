"""A recurring, fanned-out duty through the real router and SLA processor: 7.9 monthly updates from
every service provider that signed the plan (7.8), one series each; a late update closes that
provider's occurrence and opens the next; the NGO closing its file withdraws what is still owed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from referral_bus.contracts.base import City, Event
from referral_bus.contracts.bus_records import ReceiptStatus
from referral_bus.contracts.events import (
    NGODecision,
    NGODecisionKind,
    NGOFirstContactMade,
    NGOInitialMeetingHeld,
    NGOStaffRole,
    ReferralKind,
    ReferralMade,
    ServicePlanAgreed,
    SupportService,
)
from referral_bus.contracts.ngo_events import (
    NGOCaseClosed,
    NGOCaseClosureReason,
    ServiceProgressReported,
)
from referral_bus.contracts.sla_records import (
    DeadlineBreached,
    DeadlineCompletedLate,
    DeadlineOpened,
    DeadlineWithdrawn,
    EscalationRaised,
)
from referral_bus.sdk import AgencyClient
from tests.broker_helpers import of_case, read_topic
from tests.builders import case_id
from tests.conftest import Bus, wait_for

pytestmark = pytest.mark.broker

RULE = "7.9-service-provider-update-monthly"


@pytest.fixture(scope="module")
def clients(bus: Bus) -> Iterator[dict[str, AgencyClient]]:
    made = {a: AgencyClient(a, actor_id="staff-9", runtime=bus.runtime)
            for a in ("school-almaty", "health-almaty", "ngo-rodnik")}
    yield made
    for client in made.values():
        client.close()


def accepted(client: AgencyClient, event_type: type[Event], case: str, **fields: Any) -> None:
    receipt = client.publish(client.event(event_type, case_id=case, **fields), wait_for_receipt=True)
    assert receipt is not None and receipt.status is ReceiptStatus.ACCEPTED, receipt


def records_of(bus: Bus, topic: str, case: str) -> list[Any]:
    return [r for r in of_case(read_topic(bus.runtime, topic), case) if getattr(r, "rule_id", "") == RULE]


def test_monthly_updates_per_provider_late_then_withdrawn_when_the_ngo_closes(
        bus: Bus, clients: dict[str, AgencyClient]) -> None:
    case, school, ngo = case_id("REC"), clients["school-almaty"], clients["ngo-rodnik"]
    accepted(school, ReferralMade, case, referral_kind=ReferralKind.NGO_SUPPORT, city=City.ALMATY, child_age_years=11,
             services_requested=[SupportService.SOCIAL])
    accepted(ngo, NGODecision, case, decision=NGODecisionKind.ACCEPTED)
    accepted(ngo, NGOFirstContactMade, case, by_role=NGOStaffRole.SOCIAL_WORKER)
    accepted(ngo, NGOInitialMeetingHeld, case, by_role=NGOStaffRole.SOCIAL_WORKER)
    # the plan was agreed 40 days ago: both providers' first monthly update is already overdue
    accepted(ngo, ServicePlanAgreed, case, by_role=NGOStaffRole.SOCIAL_WORKER,
             occurred_at=datetime.now(UTC) - timedelta(days=40),
             service_provider_agency_ids=["school-almaty", "health-almaty"])
    opened = wait_for(lambda: (lambda o: o if len(o) == 2 else None)(
        [r for r in records_of(bus, "sla", case) if isinstance(r, DeadlineOpened)]), what="one series per provider")
    by_agency = {o.responsible_agency_id: o for o in opened}
    assert set(by_agency) == {"school-almaty", "health-almaty"}
    wait_for(lambda: len([r for r in records_of(bus, "sla", case) if isinstance(r, DeadlineBreached)]) == 2,
             what="both first updates breached on the clock")

    accepted(school, ServiceProgressReported, case, ngo_agency_id="ngo-rodnik", service="school enrolment")
    late = wait_for(lambda: [r for r in records_of(bus, "sla", case) if isinstance(r, DeadlineCompletedLate)],
                    what="the school's late update")
    assert [r.deadline_id for r in late] == [by_agency["school-almaty"].deadline_id]
    second = wait_for(lambda: [r for r in records_of(bus, "sla", case) if isinstance(r, DeadlineOpened)
                               and r.trigger_event_id == late[0].completing_event_id], what="the school's next month")
    assert second[0].responsible_agency_id == "school-almaty" and second[0].due_at > datetime.now(UTC)

    accepted(ngo, NGOCaseClosed, case, reason=NGOCaseClosureReason.GOALS_MET)
    [withdrawn] = wait_for(lambda: [r for r in records_of(bus, "sla", case) if isinstance(r, DeadlineWithdrawn)],
                           what="the school's open occurrence withdrawn")
    assert withdrawn.deadline_id == second[0].deadline_id and "NGO closed its case file" in withdrawn.reason
    # the health provider's breach is not withdrawn: its ladder went to its supervisor
    escalations = records_of(bus, "escalations", case)
    assert escalations and {e.responsible_agency_id for e in escalations} == {"school-almaty", "health-almaty"}
    assert all(isinstance(e, EscalationRaised) for e in escalations)

    from referral_bus.auditor.sla_explain import explain_case
    rows = [e for e in explain_case(bus.runtime, case, datetime.now(UTC)) if e.rule_id == RULE]
    statuses = sorted((e.responsible_agency_id or "", e.status.split(":")[0]) for e in rows)
    assert statuses == [("health-almaty", "breached"), ("school-almaty", "completed late"),
                        ("school-almaty", "withdrawn")]
    [next_month] = [e for e in rows if e.status.startswith("withdrawn")]
    assert next_month.reasoning[0] == "occurrence 2 of a recurring duty" and next_month.clock == "1 calendar month"
