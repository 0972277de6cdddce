"""decisions.check_transition and fold: legal transitions of Part 4 and 6.3–6.39, every rejection
naming its code and paragraph."""

from __future__ import annotations

import pytest

from referral_bus.contracts.base import City, Event
from referral_bus.contracts.events import (
    AssessmentOutcome,
    EmergencyRemoval,
    GuardianshipNotified,
    InitialAssessmentCompleted,
    NGODecision,
    NGODecisionKind,
    NotificationChannel,
    ProsecutorNotified,
    ReferralKind,
    ReferralMade,
    RemovalOutcomeReported,
    SocialAssessmentCompleted,
)
from referral_bus.domain.agencies import Directory
from referral_bus.domain.case_state import CaseState
from referral_bus.domain.decisions import check_transition
from referral_bus.domain.decisions import fold as fold_event
from referral_bus.domain.rejections import Code, Rejection
from tests.builders import T0, envelope, on_log


def removal(removed: bool = True) -> EmergencyRemoval:
    return EmergencyRemoval(envelope=envelope(EmergencyRemoval, "C-1", "police-juvenile-almaty"), city=City.ALMATY,
                            child_age_years=9, child_removed=removed, cam_social_worker_present=False)


def report() -> RemovalOutcomeReported:
    return RemovalOutcomeReported(envelope=envelope(RemovalOutcomeReported, "C-1", "police-juvenile-almaty"),
                                  child_removed=True, placed_in_temporary_care=True, referred_to_cam=True)


def assessment() -> InitialAssessmentCompleted:
    return InitialAssessmentCompleted(envelope=envelope(InitialAssessmentCompleted, "C-1", "cam-almaty"),
                                      outcome=AssessmentOutcome.SIGNIFICANT_HARM_CONCERN)


def fold(directory: Directory, *events: Event) -> CaseState:
    state = CaseState("C-1")
    for i, event in enumerate(events, start=1):
        check_transition(event, state)
        fold_event(state, on_log(event, i), directory)
    return state


def rejected(event: Event, state: CaseState) -> Rejection:
    with pytest.raises(Rejection) as caught:
        check_transition(event, state)
    return caught.value


def test_a_case_starts_with_a_referral_or_removal() -> None:
    r = rejected(report(), CaseState("C-1"))
    assert (r.code, r.paragraph) == (Code.UNKNOWN_CASE, "4.5, 4.7")


def test_report_needs_an_unreported_removal(directory: Directory) -> None:
    state = fold(directory, removal(), report())
    r = rejected(report(), state)
    assert (r.code, r.paragraph) == (Code.ILLEGAL_TRANSITION, "4.8")


def test_prosecutor_notice_needs_a_removed_child(directory: Directory) -> None:
    state = fold(directory, removal(removed=False))
    notice = ProsecutorNotified(envelope=envelope(ProsecutorNotified, "C-1", "cam-almaty"))
    assert rejected(notice, state).paragraph == "4.9"
    fold(directory, removal(removed=True), notice)  # legal once removed


def test_initial_assessment_once_and_only_after_referral_to_cam(directory: Directory) -> None:
    under_three = ReferralMade(envelope=envelope(ReferralMade, "C-1", "school-almaty"),
                               referral_kind=ReferralKind.CHILD_PROTECTION, city=City.ALMATY, child_age_years=2)
    state = fold(directory, under_three)
    assert rejected(assessment(), state).paragraph == "6.3"
    state = fold(directory, removal(), assessment())
    r = rejected(assessment(), state)
    assert (r.code, r.paragraph) == (Code.ILLEGAL_TRANSITION, "6.3")
    assert "already completed" in r.message


def test_ngo_decision_needs_a_pending_request_to_that_ngo(directory: Directory) -> None:
    decision = NGODecision(envelope=envelope(NGODecision, "C-1", "ngo-rodnik"), decision=NGODecisionKind.ACCEPTED)
    state = fold(directory, removal())
    assert rejected(decision, state).paragraph == "5.18"
    request = ReferralMade(envelope=envelope(ReferralMade, "C-1", "school-almaty"),
                           referral_kind=ReferralKind.NGO_SUPPORT, city=City.ALMATY, child_age_years=12,
                           services_requested=["LEGAL"])
    state = fold(directory, request, decision)
    assert rejected(decision, state).paragraph == "5.18"  # decided already


def test_guardianship_notice_follows_a_cam_referral(directory: Directory) -> None:
    notice = GuardianshipNotified(envelope=envelope(GuardianshipNotified, "C-1", "school-almaty"),
                                  channel=NotificationChannel.TELEPHONE)
    state = fold(directory, removal(removed=False))
    assert rejected(notice, state).paragraph == "4.5(b)(ii)"


def social(conclusion: str = "SIGNIFICANT_HARM") -> SocialAssessmentCompleted:
    return SocialAssessmentCompleted(envelope=envelope(SocialAssessmentCompleted, "C-1", "cam-almaty"),
                                     conclusion=conclusion)


def test_social_assessment_follows_a_concern_and_happens_once(directory: Directory) -> None:
    no_concern = InitialAssessmentCompleted(envelope=envelope(InitialAssessmentCompleted, "C-1", "cam-almaty"),
                                            outcome=AssessmentOutcome.NO_CONCERN)
    r = rejected(social(), fold(directory, removal(), no_concern))
    assert (r.code, r.paragraph) == (Code.ILLEGAL_TRANSITION, "6.26")
    state = fold(directory, removal(), assessment(), social())
    r = rejected(social(), state)
    assert (r.paragraph, "already completed" in r.message) == ("6.28, 6.50", True)


def test_meeting_material_is_for_invited_members_only(directory: Directory) -> None:
    from datetime import timedelta

    from referral_bus.contracts.events import (
        ChildProtectionMeetingHeld,
        ChildProtectionMeetingScheduled,
        MeetingAttendanceDeclined,
        MeetingDecision,
    )
    meeting = ChildProtectionMeetingScheduled(envelope=envelope(ChildProtectionMeetingScheduled, "C-1", "cam-almaty"),
                                              meeting_id="M-1", scheduled_for=T0 + timedelta(days=5),
                                              invited_agency_ids=["school-almaty"])
    assert rejected(meeting, fold(directory, removal(), assessment())).paragraph == "6.32"  # no social assessment yet
    state = fold(directory, removal(), assessment(), social(), meeting)
    outsider = MeetingAttendanceDeclined(envelope=envelope(MeetingAttendanceDeclined, "C-1", "health-almaty"),
                                         meeting_id="M-1")
    r = rejected(outsider, state)
    assert (r.code, r.paragraph, r.field) == (Code.AGENCY_NOT_ALLOWED, "6.33", "envelope.producer.agency_id")
    unknown = MeetingAttendanceDeclined(envelope=envelope(MeetingAttendanceDeclined, "C-1", "school-almaty"),
                                        meeting_id="M-9")
    assert rejected(unknown, state).field == "meeting_id"
    held = ChildProtectionMeetingHeld(envelope=envelope(ChildProtectionMeetingHeld, "C-1", "cam-almaty"),
                                      meeting_id="M-1", decision=MeetingDecision.CHILD_PROTECTION_PLAN)
    state = fold(directory, removal(), assessment(), social(), meeting, held)
    assert rejected(held, state).paragraph == "6.34"
    assert rejected(meeting, state).paragraph == "6.33"   # a held meeting cannot be moved


def test_closure_waits_for_the_criminal_case_and_needs_a_ground_6_25(directory: Directory) -> None:
    from referral_bus.contracts.events import (
        CaseClosed,
        ClosureGround,
        CriminalCaseConcluded,
        CriminalCaseOpened,
        CriminalCaseOutcome,
    )
    no_concern = InitialAssessmentCompleted(envelope=envelope(InitialAssessmentCompleted, "C-1", "cam-almaty"),
                                            outcome=AssessmentOutcome.NO_CONCERN)
    opened = CriminalCaseOpened(envelope=envelope(CriminalCaseOpened, "C-1", "police-juvenile-almaty"),
                                criminal_case_ref="KZ-CR-1", parent_or_relative_charged=True)

    def closed(ground: ClosureGround, referred: bool = False) -> CaseClosed:
        return CaseClosed(envelope=envelope(CaseClosed, "C-1", "cam-almaty"), ground=ground,
                          referred_to_support_services=referred)

    def concluded(outcome: CriminalCaseOutcome) -> CriminalCaseConcluded:
        return CriminalCaseConcluded(envelope=envelope(CriminalCaseConcluded, "C-1", "police-juvenile-almaty"),
                                     criminal_case_ref="KZ-CR-1", outcome=outcome)

    state = fold(directory, removal(), no_concern, opened)
    r = rejected(closed(ClosureGround.NO_CONCERN_FOUND), state)
    assert (r.code, r.paragraph) == (Code.ILLEGAL_TRANSITION, "6.25")
    state = fold(directory, removal(), no_concern, opened, concluded(CriminalCaseOutcome.PARENT_FOUND_GUILTY))
    assert rejected(closed(ClosureGround.NO_CONCERN_FOUND), state).paragraph == "6.22, 6.30, 6.39(a)"
    state = fold(directory, removal(), no_concern, opened, concluded(CriminalCaseOutcome.PARENT_NOT_RESPONSIBLE),
                 closed(ClosureGround.NO_CONCERN_FOUND))
    r = rejected(report(), state)
    assert (r.code, "closed" in r.message) == (Code.ILLEGAL_TRANSITION, True)
    plan_state = fold(directory, removal(), no_concern)
    assert rejected(closed(ClosureGround.PLAN_NO_LONGER_NECESSARY, True), plan_state).paragraph == "6.51"
    assert rejected(concluded(CriminalCaseOutcome.PROCEEDINGS_TERMINATED), plan_state).field == "criminal_case_ref"


def test_a_new_referral_reopens_a_closed_case(directory: Directory) -> None:
    from referral_bus.contracts.events import CaseClosed, ClosureGround
    no_concern = InitialAssessmentCompleted(envelope=envelope(InitialAssessmentCompleted, "C-1", "cam-almaty"),
                                            outcome=AssessmentOutcome.NO_CONCERN)
    closed = CaseClosed(envelope=envelope(CaseClosed, "C-1", "cam-almaty"), ground=ClosureGround.NO_CONCERN_FOUND)
    again = ReferralMade(envelope=envelope(ReferralMade, "C-1", "school-almaty"),
                         referral_kind=ReferralKind.CHILD_PROTECTION, city=City.ALMATY, child_age_years=10)
    state = fold(directory, removal(), no_concern, closed, again)
    assert not state.closed


def test_ngo_programme_steps_need_acceptance_and_order(directory: Directory) -> None:
    from referral_bus.contracts.events import NGOFirstContactMade, ServicePlanAgreed
    request = ReferralMade(envelope=envelope(ReferralMade, "C-1", "school-almaty"),
                           referral_kind=ReferralKind.NGO_SUPPORT, city=City.ALMATY, child_age_years=12,
                           services_requested=["LEGAL"])
    state = fold(directory, request)
    contact = NGOFirstContactMade(envelope=envelope(NGOFirstContactMade, "C-1", "ngo-rodnik"), by_role="LAWYER")
    assert rejected(contact, state).paragraph == "7.1"
    accepted = NGODecision(envelope=envelope(NGODecision, "C-1", "ngo-rodnik"), decision=NGODecisionKind.ACCEPTED)
    state = fold(directory, request, accepted, contact)
    plan = ServicePlanAgreed(envelope=envelope(ServicePlanAgreed, "C-1", "ngo-rodnik"), by_role="SOCIAL_WORKER")
    assert rejected(plan, state).paragraph == "7.3"
