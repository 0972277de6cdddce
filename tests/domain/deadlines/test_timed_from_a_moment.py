"""Duties timed from a moment the triggering event itself records (issue 15): 5.2/5.8/5.11 — the NGO
referral request within 1 working day of identifying the need (``ReferralMade.need_identified_at``) —
and 7.10 — a provider tells the NGO "as soon as possible" that consent was withdrawn
(``ServiceProgressReported.consent_withdrawn_at``, the operator's threshold). The event is the
completion too, so the deadline is met, or breached and completed late, the moment it opens."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from referral_bus.contracts.base import City
from referral_bus.contracts.events import (
    NGODecision,
    NGODecisionKind,
    NGOInitialMeetingHeld,
    NGOStaffRole,
    ReferralKind,
    ReferralMade,
    ServicePlanAgreed,
    SupportService,
)
from referral_bus.contracts.ngo_events import ServiceProgressReported
from referral_bus.contracts.sla_records import (
    DeadlineBreached,
    DeadlineCompletedLate,
    DeadlineMet,
    DeadlineOpened,
    EscalationRaised,
)
from referral_bus.domain.agencies import Directory
from referral_bus.domain.deadlines.engine import DeadlineEngine
from referral_bus.domain.deadlines.rule_table import NOT_ENFORCEABLE, RULES
from referral_bus.domain.deadlines.rules import ClockContext, PolicyThreshold
from referral_bus.domain.rejections import Code
from tests.builders import CaseFold, make
from tests.domain.deadlines.test_recurring import GRACE, Case, end_of, kinds, local, of


def engine_with(directory: Directory, hours: dict[str, float] | None = None,
                reasoning: bool = False) -> DeadlineEngine:
    policy = {paragraph: PolicyThreshold(h, "test") for paragraph, h in (hours or {}).items()}
    return DeadlineEngine(RULES, directory, grace=GRACE, context=ClockContext(policy=policy),
                          keep_reasoning=reasoning)


def ngo_referral(case: Case, at: Any, **fields: Any) -> list[Any]:
    return case.add("ReferralMade", fields.pop("agency", "school-almaty"), at, referral_kind="NGO_SUPPORT",
                    city="ALMATY", child_age_years=9, services_requested=fields.pop("services", ["SOCIAL"]),
                    **fields)


# -- 5.2, 5.8, 5.11 ---------------------------------------------------------------------------------

def test_a_referral_within_1_working_day_of_identifying_the_need_is_met_at_once(directory: Directory) -> None:
    case = Case(engine_with(directory))
    out = ngo_referral(case, local(2026, 3, 4, 11), need_identified_at=local(2026, 3, 3, 15))
    [opened] = of(out, "5.2-", DeadlineOpened)
    assert (opened.paragraph, opened.opened_at, opened.due_at) == ("5.2, 5.8, 5.11", local(2026, 3, 3, 15),
                                                                   end_of(2026, 3, 4))
    assert opened.responsible_agency_id == "school-almaty"   # the professional who identified the need
    [met] = of(out, "5.2-", DeadlineMet)
    assert met.completed_at == local(2026, 3, 4, 11) and met.deadline_id == opened.deadline_id
    assert kinds(of(out, "5.2-")) == ["DeadlineOpened", "DeadlineMet"]
    assert of(out, "5.18-ngo-decision-2wd", DeadlineOpened)   # the NGO's own 2 working days start as before
    assert of(case.advance(local(2026, 3, 20)), "5.2-") == []  # nothing left open


def test_a_late_referral_is_breached_escalated_and_completed_late_together(directory: Directory) -> None:
    case = Case(engine_with(directory, reasoning=True))
    # identified on Friday 6 March 2026: Monday 9 March is the day off for 8 March (a Sunday), so the
    # working day is Tuesday 10 March; the referral comes on Wednesday morning
    out = ngo_referral(case, local(2026, 3, 11, 9), need_identified_at=local(2026, 3, 6, 10),
                       services=["LEGAL"], legal_matters=["ACCESS_TO_STATE_SERVICES"])
    [opened] = of(out, "5.2-", DeadlineOpened)
    assert opened.due_at == end_of(2026, 3, 10)
    assert kinds(of(out, "5.2-")) == ["DeadlineOpened", "DeadlineBreached", "EscalationRaised",
                                      "DeadlineCompletedLate"]
    [breach] = of(out, "5.2-", DeadlineBreached)
    assert breach.responsible_agency_id == "school-almaty"
    [escalation] = of(out, "5.2-", EscalationRaised)
    assert (escalation.level, escalation.escalated_to_agency_id) == (1, "commission-almaty")   # the school's supervisor
    [late] = of(out, "5.2-", DeadlineCompletedLate)
    assert late.lateness_seconds == int((local(2026, 3, 11, 9) - end_of(2026, 3, 10)).total_seconds())
    clock, lines = case.engine.reasoning[opened.sla_event_id]
    assert clock == "1 working day" and any("2026-03-09" in line for line in lines)


def test_days_late_reaches_the_commission_but_not_the_steering_committee(directory: Directory) -> None:
    case = Case(engine_with(directory), case_id="C-2")
    out = ngo_referral(case, local(2026, 3, 20, 9), need_identified_at=local(2026, 3, 2, 10),
                       agency="police-juvenile-almaty")
    escalations = of(out, "5.2-", EscalationRaised)
    assert [(e.level, e.escalated_to_agency_id) for e in escalations] == [
        (1, "police-department-almaty"), (2, "commission-almaty")]
    assert of(out, "5.2-", DeadlineCompletedLate)


def test_without_the_moment_or_for_other_referrals_nothing_is_timed(directory: Directory) -> None:
    case = Case(engine_with(directory))
    assert of(ngo_referral(case, local(2026, 3, 4, 11)), "5.2-") == []
    assert of(case.add("ReferralMade", "school-almaty", local(2026, 3, 4, 12), referral_kind="CHILD_PROTECTION",
                       city="ALMATY", child_age_years=9, need_identified_at=local(2026, 3, 4, 9)), "5.2-") == []
    # an oral request the NGO records for a referrer (5.14–5.17) is the NGO's record, not the request
    assert of(ngo_referral(case, local(2026, 3, 4, 13), agency="ngo-almaty", on_behalf_of_agency_id="school-almaty",
                           need_identified_at=local(2026, 3, 4, 9)), "5.2-") == []
    assert not [u for u in NOT_ENFORCEABLE if "5.2" in u.paragraph]


def test_the_need_cannot_be_identified_after_the_referral(directory: Directory) -> None:
    case = CaseFold(directory)
    refusal = case.rejects(make(ReferralMade, "school-almaty", at=local(2026, 3, 4, 11),
                                referral_kind=ReferralKind.NGO_SUPPORT, city=City.ALMATY, child_age_years=9,
                                services_requested=[SupportService.SOCIAL], need_identified_at=local(2026, 3, 4, 12)))
    assert (refusal.code, refusal.paragraph, refusal.field) == (Code.ILLEGAL_TRANSITION, "5.2, 5.8, 5.11",
                                                                "need_identified_at")
    case.add(make(ReferralMade, "school-almaty", at=local(2026, 3, 4, 11), referral_kind=ReferralKind.NGO_SUPPORT,
                  city=City.ALMATY, child_age_years=9, services_requested=[SupportService.SOCIAL],
                  need_identified_at=local(2026, 3, 4, 11)))   # the same moment is fine


# -- 4.5: a child protection referral "immediately" ----------------------------------------------------

def protection_referral(case: Case, at: Any, **fields: Any) -> list[Any]:
    return case.add("ReferralMade", fields.pop("agency", "school-almaty"), at, referral_kind="CHILD_PROTECTION",
                    city="ALMATY", child_age_years=fields.pop("age", 9), **fields)


def test_a_child_protection_referral_is_due_immediately_by_the_operators_threshold(directory: Directory) -> None:
    case = Case(engine_with(directory, {"4.5": 24}))
    out = protection_referral(case, local(2026, 3, 4, 11), need_identified_at=local(2026, 3, 4, 9))
    [opened] = of(out, "4.5-", DeadlineOpened)
    assert (opened.paragraph, opened.opened_at, opened.due_at) == ("4.5", local(2026, 3, 4, 9), local(2026, 3, 5, 9))
    assert opened.responsible_agency_id == "school-almaty"   # the professional who formed the cause
    assert kinds(of(out, "4.5-")) == ["DeadlineOpened", "DeadlineMet"]
    assert of(out, "6.3", DeadlineOpened)   # the CAM/CSC's initial assessment starts as before
    # a child under 3 (4.5(a), to the Guardianship) is timed the same way; two days later is late
    late = protection_referral(case, local(2026, 3, 6, 11), age=2, need_identified_at=local(2026, 3, 4, 9))
    assert kinds(of(late, "4.5-")) == ["DeadlineOpened", "DeadlineBreached", "EscalationRaised", "EscalationRaised",
                                       "DeadlineCompletedLate"]   # a day late: the supervisor, then the Commission


def test_the_cause_cannot_be_formed_after_a_child_protection_referral(directory: Directory) -> None:
    refusal = CaseFold(directory).rejects(make(ReferralMade, "school-almaty", at=local(2026, 3, 4, 11),
                                               referral_kind=ReferralKind.CHILD_PROTECTION, city=City.ALMATY,
                                               child_age_years=9, need_identified_at=local(2026, 3, 4, 12)))
    assert (refusal.code, refusal.paragraph, refusal.field) == (Code.ILLEGAL_TRANSITION, "4.5", "need_identified_at")


def test_no_threshold_or_no_moment_no_4_5_deadline(directory: Directory) -> None:
    assert of(protection_referral(Case(engine_with(directory)), local(2026, 3, 4, 11),
                                  need_identified_at=local(2026, 3, 4, 9)), "4.5-") == []   # no policy: none invented
    assert of(protection_referral(Case(engine_with(directory, {"4.5": 24})), local(2026, 3, 4, 11)), "4.5-") == []


# -- 7.10 -------------------------------------------------------------------------------------------

def withdrawal(case: Case, at: Any, **fields: Any) -> list[Any]:
    return case.add("ServiceProgressReported", fields.pop("agency", "school-almaty"), at, ngo_agency_id="ngo-rodnik",
                    service="remedial education", consent_withdrawn=True, **fields)


def test_withdrawn_consent_reported_within_the_policy_threshold_is_met(directory: Directory) -> None:
    case = Case(engine_with(directory, {"7.10": 24}))
    out = withdrawal(case, local(2026, 3, 4, 9), consent_withdrawn_at=local(2026, 3, 3, 16))
    [opened] = of(out, "7.10-", DeadlineOpened)
    assert (opened.due_at, opened.responsible_agency_id) == (local(2026, 3, 4, 16), "school-almaty")
    assert of(out, "7.10-", DeadlineMet)


def test_withdrawn_consent_reported_late_is_escalated_as_policy(directory: Directory) -> None:
    case = Case(engine_with(directory, {"7.10": 24}))
    out = withdrawal(case, local(2026, 3, 6, 9), consent_withdrawn_at=local(2026, 3, 3, 16), agency="health-almaty")
    assert kinds(of(out, "7.10-")) == ["DeadlineOpened", "DeadlineBreached", "EscalationRaised", "EscalationRaised",
                                       "DeadlineCompletedLate"]
    first, second = of(out, "7.10-", EscalationRaised)
    assert (first.level, first.escalated_to_agency_id) == (1, "commission-almaty")   # the polyclinics' supervisor
    assert second.level == 2 and "policy threshold, not law" in first.summary
    [late] = of(out, "7.10-", DeadlineCompletedLate)
    assert late.lateness_seconds == int(timedelta(hours=41).total_seconds())


def test_no_threshold_or_no_moment_no_7_10_deadline(directory: Directory) -> None:
    assert of(withdrawal(Case(engine_with(directory)), local(2026, 3, 4, 9),
                         consent_withdrawn_at=local(2026, 3, 3, 16)), "7.10-") == []
    assert of(withdrawal(Case(engine_with(directory, {"7.10": 24})), local(2026, 3, 4, 9)), "7.10-") == []


def test_the_withdrawal_moment_needs_a_withdrawal_before_the_report(directory: Directory) -> None:
    case = CaseFold(directory)
    case.add(make(ReferralMade, "school-almaty", referral_kind=ReferralKind.NGO_SUPPORT, city=City.ALMATY,
                  child_age_years=14, services_requested=[SupportService.SOCIAL]))
    case.add(make(NGODecision, "ngo-rodnik", decision=NGODecisionKind.ACCEPTED))
    case.add(make(NGOInitialMeetingHeld, "ngo-rodnik", by_role=NGOStaffRole.SOCIAL_WORKER))
    case.add(make(ServicePlanAgreed, "ngo-rodnik", by_role=NGOStaffRole.SOCIAL_WORKER,
                  service_provider_agency_ids=["school-almaty"]))
    at = local(2026, 3, 4, 9)
    late = case.rejects(make(ServiceProgressReported, "school-almaty", at=at, ngo_agency_id="ngo-rodnik",
                             service="remedial education", consent_withdrawn=True,
                             consent_withdrawn_at=at + timedelta(hours=1)))
    not_withdrawn = case.rejects(make(ServiceProgressReported, "school-almaty", at=at, ngo_agency_id="ngo-rodnik",
                                      service="remedial education", consent_withdrawn_at=at))
    for refusal in (late, not_withdrawn):
        assert (refusal.code, refusal.paragraph, refusal.field) == (Code.ILLEGAL_TRANSITION, "7.10",
                                                                    "consent_withdrawn_at")
    got = case.add(make(ServiceProgressReported, "school-almaty", at=at, ngo_agency_id="ngo-rodnik",
                        service="remedial education", consent_withdrawn=True, consent_withdrawn_at=at))
    assert got["ngo-rodnik"].purpose == "consent withdrawn"
