"""Legal transitions: every rejection names its code and paragraph."""

from __future__ import annotations

import pytest

from referral_bus.core.contracts.base import City, Event
from referral_bus.core.contracts.events import (
    AssessmentOutcome, EmergencyRemoval, GuardianshipNotified, InitialAssessmentCompleted, NGODecision,
    NGODecisionKind, NotificationChannel, ProsecutorNotified, ReferralKind, ReferralMade, RemovalOutcomeReported,
)
from referral_bus.core.domain.agencies import Directory
from referral_bus.core.domain.case import CaseState, check_transition
from referral_bus.core.domain.rejections import Code, Rejection
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
        state.apply(on_log(event, i), directory)
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


def social(conclusion: str = "SIGNIFICANT_HARM") -> "SocialAssessmentCompleted":
    from referral_bus.core.contracts.events import SocialAssessmentCompleted
    return SocialAssessmentCompleted(envelope=envelope(SocialAssessmentCompleted, "C-1", "cam-almaty"),
                                     conclusion=conclusion)


def test_social_assessment_follows_a_concern_and_happens_once(directory: Directory) -> None:
    no_concern = InitialAssessmentCompleted(envelope=envelope(InitialAssessmentCompleted, "C-1", "cam-almaty"),
                                            outcome=AssessmentOutcome.NO_CONCERN)
    r = rejected(social(), fold(directory, removal(), no_concern))
    assert (r.code, r.paragraph) == (Code.ILLEGAL_TRANSITION, "6.26")
    state = fold(directory, removal(), assessment(), social())
    r = rejected(social(), state)
    assert (r.paragraph, "already completed" in r.message) == ("6.28", True)


def test_meeting_material_is_for_invited_members_only(directory: Directory) -> None:
    from referral_bus.core.contracts.events import (
        ChildProtectionMeetingHeld, ChildProtectionMeetingScheduled, MeetingAttendanceDeclined, MeetingDecision,
    )
    from datetime import timedelta
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
