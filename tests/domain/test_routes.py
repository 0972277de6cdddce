"""Routing follows Annex B 4.5–4.9, 5.15, 5.18–5.20, 6.21–6.24."""

from __future__ import annotations

import pytest

from referral_bus.contracts.base import City
from referral_bus.contracts.events import (
    AssessmentOutcome,
    EmergencyRemoval,
    InitialAssessmentCompleted,
    NGODecision,
    NGODecisionKind,
    ReferralKind,
    ReferralMade,
)
from referral_bus.domain.agencies import Directory
from referral_bus.domain.case_state import CaseState
from referral_bus.domain.decisions import fold, route
from referral_bus.domain.rejections import Code, Rejection
from tests.builders import envelope, on_log


def referral(city: City, age: int, kind: ReferralKind = ReferralKind.CHILD_PROTECTION, producer: str = "school-almaty",
             case: str = "C-1") -> ReferralMade:
    extra = {"services_requested": ["LEGAL"]} if kind is ReferralKind.NGO_SUPPORT else {}
    return ReferralMade(envelope=envelope(ReferralMade, case, producer), referral_kind=kind, city=city,
                        child_age_years=age, **extra)


def recipients(deliveries):  # type: ignore[no-untyped-def]
    return {d.recipient_id: (d.paragraph, d.purpose, d.redacted) for d in deliveries}


def test_under_three_goes_to_guardianship_only(directory: Directory) -> None:
    assert recipients(route(referral(City.ALMATY, 2), CaseState("C-1"), directory)) == {
        "guardianship-almaty": ("4.5(a)", "referral", False)}


@pytest.mark.parametrize("city, cam", [(City.ALMATY, "cam-almaty"), (City.NUR_SULTAN, "csc-nur-sultan"),
                                       (City.SHYMKENT, "cam-shymkent"), (City.TURKESTAN_OBLAST, "cam-shymkent")])
def test_three_and_over_goes_to_city_cam_and_notifies_guardianship(directory: Directory, city: City, cam: str) -> None:
    got = recipients(route(referral(city, 3, producer="helpline-150"), CaseState("C-1"), directory))
    assert got[cam] == ("4.5(b)(i), 4.6", "referral", False)
    guardianship = next(k for k in got if k.startswith("guardianship-"))
    assert got[guardianship] == ("4.5(b)(ii)", "notification", False)
    assert len(got) == 2


@pytest.mark.parametrize("city, ngo", [(City.ALMATY, "ngo-rodnik"), (City.NUR_SULTAN, "ngo-kibhr"),
                                       (City.TURKESTAN_OBLAST, "ngo-sana-sezim")])
def test_ngo_request_goes_to_the_city_ngo(directory: Directory, city: City, ngo: str) -> None:
    got = recipients(route(referral(city, 10, ReferralKind.NGO_SUPPORT, "helpline-150"), CaseState("C-1"), directory))
    assert got == {ngo: ("5.2, 5.15", "referral", False)}


def test_emergency_removal_notifies_4_7_and_never_the_producer(directory: Directory) -> None:
    event = EmergencyRemoval(envelope=envelope(EmergencyRemoval, "C-1", "police-juvenile-almaty"), city=City.ALMATY,
                             child_age_years=9, child_removed=True, cam_social_worker_present=False)
    assert recipients(route(event, CaseState("C-1"), directory)) == {
        "guardianship-almaty": ("4.7(a)", "notification", False), "cam-almaty": ("4.7(c)", "referral", False)}


def test_assessment_outcome_reaches_referrer_redacted(directory: Directory) -> None:
    state = CaseState("C-1")
    fold(state, on_log(referral(City.ALMATY, 8), 1), directory)
    event = InitialAssessmentCompleted(envelope=envelope(InitialAssessmentCompleted, "C-1", "cam-almaty"),
                                       outcome=AssessmentOutcome.NO_CONCERN)
    got = recipients(route(event, state, directory))
    assert got["school-almaty"] == ("6.21–6.24", "outcome", True)
    assert got["guardianship-almaty"] == ("4.10", "outcome", False)
    assert got["commission-almaty"] == ("4.10", "outcome", False)


def test_ngo_decision_goes_back_to_the_referrer_redacted(directory: Directory) -> None:
    state = CaseState("C-1")
    fold(state, on_log(referral(City.ALMATY, 12, ReferralKind.NGO_SUPPORT, "health-almaty"), 1), directory)
    decision = NGODecision(envelope=envelope(NGODecision, "C-1", "ngo-rodnik"),
                           decision=NGODecisionKind.DECLINED_NO_SPACE,
                           reasons="programme full")
    assert recipients(route(decision, state, directory)) == {"health-almaty": ("5.18–5.20", "outcome", True)}


def test_missing_agency_is_a_rejection_naming_the_paragraph() -> None:
    with pytest.raises(Rejection) as caught:
        route(referral(City.ALMATY, 5), CaseState("C-1"), Directory())
    assert caught.value.code is Code.NO_RECIPIENT
    assert caught.value.paragraph == "4.6"


def test_social_assessment_conclusion_reaches_referrer_redacted_6_30(directory: Directory) -> None:
    from referral_bus.contracts.events import SocialAssessmentCompleted
    state = CaseState("C-1")
    fold(state, on_log(referral(City.ALMATY, 8), 1), directory)
    event = SocialAssessmentCompleted(envelope=envelope(SocialAssessmentCompleted, "C-1", "cam-almaty"),
                                      conclusion="NO_REASONABLE_CAUSE")
    got = recipients(route(event, state, directory))
    assert got == {"school-almaty": ("6.30 (6.22–6.25)", "outcome", True),
                   "guardianship-almaty": ("6.30", "outcome", False), "commission-almaty": ("6.30", "outcome", False)}


def test_meeting_invitation_goes_to_invited_members_only(directory: Directory) -> None:
    from datetime import timedelta

    from referral_bus.contracts.events import ChildProtectionMeetingScheduled
    from tests.builders import T0
    meeting = ChildProtectionMeetingScheduled(envelope=envelope(ChildProtectionMeetingScheduled, "C-1", "cam-almaty"),
                                              meeting_id="M-1", scheduled_for=T0 + timedelta(days=5),
                                              invited_agency_ids=["school-almaty", "police-juvenile-almaty"])
    state = CaseState("C-1")
    fold(state, on_log(referral(City.ALMATY, 8), 1), directory)
    assert recipients(route(meeting, state, directory)) == {
        "school-almaty": ("6.33", "invitation", False), "police-juvenile-almaty": ("6.33", "invitation", False)}
    ghost = meeting.model_copy(update={"invited_agency_ids": ["nobody"]})
    with pytest.raises(Rejection) as caught:
        route(ghost, state, directory)
    assert (caught.value.paragraph, caught.value.field) == ("6.33", "invited_agency_ids")
