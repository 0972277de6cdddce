"""A withdrawn referral (issue 15) owes nothing more: the deadlines it opened — the initial
assessment (6.3), the age assessment on its clock (6.9), the NGO's decision (5.18) — are withdrawn,
never breached or escalated. A 6.3 deadline that another referral or a removal also opened stays
owed."""

from __future__ import annotations

from datetime import timedelta

import pytest

from referral_bus.contracts.base import City, Event
from referral_bus.contracts.events import (
    EmergencyRemoval,
    EmergencyRemovalRequested,
    ReferralKind,
    ReferralMade,
    ReferralWithdrawn,
    SupportService,
    WithdrawalReason,
)
from referral_bus.contracts.sla_records import (
    DeadlineBreached,
    DeadlineOpened,
    DeadlineWithdrawn,
    EscalationRaised,
)
from referral_bus.domain.agencies import Directory
from referral_bus.domain.deadlines.engine import DeadlineEngine
from referral_bus.domain.deadlines.rule_table import RULES
from referral_bus.domain.deadlines.rules import ClockContext, PolicyThreshold
from tests.builders import T0, make, on_log

LATER = T0 + timedelta(days=30)


@pytest.fixture
def engine(directory: Directory) -> DeadlineEngine:
    return DeadlineEngine(RULES, directory, grace=timedelta(seconds=10))


class Log:
    """Events of case C-1 as the router appends them: sequence and recorded_at set."""

    def __init__(self, engine: DeadlineEngine) -> None:
        self.engine, self.sequence, self.records = engine, 0, []  # type: ignore[var-annotated]

    def add(self, event: Event, at: timedelta) -> Event:
        self.sequence += 1
        self.records += self.engine.advance(T0 + at)
        self.records += self.engine.on_event(on_log(event, self.sequence, recorded_at=T0 + at))
        return event

    def until(self, when) -> list:  # type: ignore[no-untyped-def]
        self.records += self.engine.advance(when)
        return self.records

    def of(self, kind: type) -> list:  # type: ignore[type-arg]
        return [r for r in self.records if isinstance(r, kind)]


def referral(agency: str = "school-almaty", *, kind: ReferralKind = ReferralKind.CHILD_PROTECTION,
             **fields: object) -> ReferralMade:
    if kind is ReferralKind.NGO_SUPPORT:
        fields.setdefault("services_requested", [SupportService.SOCIAL])
    return make(ReferralMade, agency, referral_kind=kind, city=City.ALMATY,  # type: ignore[return-value]
                **{"child_age_years": 7, **fields})


def withdrawal(of: Event, agency: str = "school-almaty") -> ReferralWithdrawn:
    return make(ReferralWithdrawn, agency, referral_event_id=of.envelope.event_id,  # type: ignore[return-value]
                reason=WithdrawalReason.DUPLICATE)


def test_withdrawn_before_its_due_time_the_assessment_is_not_breached(engine: DeadlineEngine) -> None:
    log = Log(engine)
    made = log.add(referral(age_disputed=True), timedelta(0))
    assert sorted(r.rule_id for r in log.of(DeadlineOpened)) == ["6.3b-initial-assessment-72h",
                                                                "6.9-age-assessment-72h"]
    gone = log.add(withdrawal(made), timedelta(hours=5))
    records = log.until(LATER)
    withdrawn = {r.rule_id: r for r in log.of(DeadlineWithdrawn)}
    assert set(withdrawn) == {"6.3b-initial-assessment-72h", "6.9-age-assessment-72h"}
    assert all(r.withdrawing_event_id == gone.envelope.event_id and "DUPLICATE" in r.reason
               for r in withdrawn.values())
    assert not [r for r in records if isinstance(r, (DeadlineBreached, EscalationRaised))]
    assert not engine.open


def test_a_withdrawn_ngo_request_owes_no_decision(engine: DeadlineEngine) -> None:
    log = Log(engine)
    made = log.add(referral(kind=ReferralKind.NGO_SUPPORT), timedelta(0))
    assert [r.rule_id for r in log.of(DeadlineOpened)] == ["5.18-ngo-decision-2wd"]
    log.add(withdrawal(made), timedelta(hours=1))
    log.until(LATER)
    assert [r.rule_id for r in log.of(DeadlineWithdrawn)] == ["5.18-ngo-decision-2wd"]
    assert not log.of(DeadlineBreached)


def test_the_assessment_stays_owed_to_a_referral_that_stands(engine: DeadlineEngine) -> None:
    # the police refer the same child a day later: 6.3 is re-timed to the later referral (its trigger)
    log = Log(engine)
    first = log.add(referral(), timedelta(0))
    second = log.add(referral("police-juvenile-almaty"), timedelta(days=1))
    due = max(r.due_at for r in log.of(DeadlineOpened))
    assert due == T0 + timedelta(days=1, hours=72)
    log.add(withdrawal(second, "police-juvenile-almaty"), timedelta(days=1, hours=1))   # the trigger goes …
    assert not log.of(DeadlineWithdrawn)                                                 # … the school's stands
    log.add(withdrawal(first), timedelta(days=1, hours=2))
    assert [r.rule_id for r in log.of(DeadlineWithdrawn)] == ["6.3b-initial-assessment-72h"]
    log.until(LATER)
    assert not log.of(DeadlineBreached)


def test_withdrawing_the_earlier_referral_leaves_the_later_ones_deadline(engine: DeadlineEngine) -> None:
    log = Log(engine)
    first = log.add(referral(), timedelta(0))
    log.add(referral("police-juvenile-almaty"), timedelta(days=1))
    log.add(withdrawal(first), timedelta(days=1, hours=1))
    log.until(LATER)
    assert not log.of(DeadlineWithdrawn)
    assert [r.due_at for r in log.of(DeadlineBreached)] == [T0 + timedelta(days=1, hours=72)]


def test_a_removal_keeps_the_assessment_owed(engine: DeadlineEngine) -> None:
    log = Log(engine)
    made = log.add(referral(), timedelta(0))
    log.add(make(EmergencyRemoval, "police-juvenile-almaty", at=T0 + timedelta(hours=1), city=City.ALMATY,
                 child_age_years=7, child_removed=True, cam_social_worker_present=True), timedelta(hours=1))
    log.add(withdrawal(made), timedelta(hours=2))
    log.until(LATER)
    assert not log.of(DeadlineWithdrawn)
    assert [r.rule_id for r in log.of(DeadlineBreached)] == ["6.3b-initial-assessment-72h"]


def test_a_breach_before_the_withdrawal_stands(engine: DeadlineEngine) -> None:
    log = Log(engine)
    made = log.add(referral(kind=ReferralKind.NGO_SUPPORT), timedelta(0))
    log.add(withdrawal(made), timedelta(days=10))
    assert [r.rule_id for r in log.of(DeadlineBreached)] == ["5.18-ngo-decision-2wd"]
    assert not log.of(DeadlineWithdrawn)   # a breach stays a breach; its ladder runs until acknowledged



@pytest.mark.parametrize("ticked", [True, False], ids=["ticked-before", "no-tick-before"])
def test_a_withdrawal_that_fires_the_breach_itself_leaves_its_ladder_running(engine: DeadlineEngine,
                                                                              ticked: bool) -> None:
    """Withdrawn three days on, past the 2-working-day due time: whether the timer breached it first
    (live) or the withdrawal fires the breach itself (a rebuild folding both events, then one tick),
    the later levels still come. Before, the second way lost levels 2 and 3."""
    made = referral(kind=ReferralKind.NGO_SUPPORT)
    records = engine.on_event(on_log(made, 1, recorded_at=T0))
    if ticked:
        records += engine.advance(T0 + timedelta(days=3) - timedelta(seconds=1))
    records += engine.on_event(on_log(withdrawal(made), 2, recorded_at=T0 + timedelta(days=3)))
    records += engine.advance(LATER + timedelta(days=60))
    assert [r.level for r in records if isinstance(r, EscalationRaised)] == [1, 2, 3]

def test_replay_gives_the_same_records(directory: Directory) -> None:
    made = referral()
    gone = withdrawal(made)

    def run() -> list[str]:
        log = Log(DeadlineEngine(RULES, directory))
        log.add(made, timedelta(0))
        log.add(gone, timedelta(hours=3))
        return [str(r.sla_event_id) for r in log.until(LATER)]
    assert run() == run() and len(run()) == 2   # opened, withdrawn


# -- 4.7: a removal request withdrawn by its requester (issue 15) --------------------------------------
def removal_engine(directory: Directory) -> DeadlineEngine:
    """4.7's "immediately" is the operator's threshold (policy.yaml: 2 hours)."""
    return DeadlineEngine(RULES, directory, grace=timedelta(seconds=10),
                          context=ClockContext(policy={"4.7": PolicyThreshold(2, "test")}))


def removal_request() -> EmergencyRemovalRequested:
    return make(EmergencyRemovalRequested, "school-almaty", city=City.ALMATY,  # type: ignore[return-value]
                child_age_years=7)


def test_a_withdrawn_removal_request_owes_neither_the_removal_nor_the_48h_assessment(directory: Directory) -> None:
    log = Log(removal_engine(directory))
    request = log.add(removal_request(), timedelta(0))
    assert sorted(r.rule_id for r in log.of(DeadlineOpened)) == ["4.7-removal-request-immediately",
                                                                "6.3a-initial-assessment-48h-removal-request"]
    gone = log.add(withdrawal(request), timedelta(minutes=30))
    records = log.until(LATER)
    withdrawn = {r.rule_id: r for r in log.of(DeadlineWithdrawn)}
    assert set(withdrawn) == {"4.7-removal-request-immediately", "6.3a-initial-assessment-48h-removal-request"}
    assert all(r.withdrawing_event_id == gone.envelope.event_id for r in withdrawn.values())
    assert not [r for r in records if isinstance(r, (DeadlineBreached, EscalationRaised))]
    assert not log.engine.open


def test_a_removal_request_withdrawn_late_keeps_its_breach(directory: Directory) -> None:
    log = Log(removal_engine(directory))
    request = log.add(removal_request(), timedelta(0))
    log.add(withdrawal(request), timedelta(hours=3))   # the police's 2-hour threshold had passed
    assert [r.rule_id for r in log.of(DeadlineBreached)] == ["4.7-removal-request-immediately"]
    assert [r.rule_id for r in log.of(DeadlineWithdrawn)] == ["6.3a-initial-assessment-48h-removal-request"]


def test_the_assessment_stays_owed_to_a_referral_beside_a_withdrawn_request(directory: Directory) -> None:
    log = Log(removal_engine(directory))
    log.add(referral(), timedelta(0))                     # 6.3(b): 72 hours
    request = log.add(removal_request(), timedelta(hours=1))   # 6.3(a): 48 hours from it — earlier, kept as a trigger
    log.add(withdrawal(request), timedelta(hours=1, minutes=30))
    assert [r.rule_id for r in log.of(DeadlineWithdrawn)] == ["4.7-removal-request-immediately"]
    log.until(LATER)
    assert [r.rule_id for r in log.of(DeadlineBreached)] == ["6.3b-initial-assessment-72h"]
