"""Every bounded field refuses what no real case can hold, naming the field and the rule: a child's
age (Annex B, part 2: 0 to 18), an age on record (18 ends child protection, 6.74(a)/6.78(a)), an
assessed age, and the pseudonymous staff id (never a name, never free text with line breaks)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from referral_bus.contracts.base import City, Producer
from referral_bus.contracts.care_events import AgeAssessmentCompleted
from referral_bus.contracts.events import (
    AgeRecordReason,
    ChildAgeRecorded,
    EmergencyRemoval,
    ReferralKind,
    ReferralMade,
)
from referral_bus.contracts.justice_events import PoliceCustodyStarted
from tests.builders import T0, envelope, make


def refusal(build) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError) as caught:
        build()
    return str(caught.value)


@pytest.mark.parametrize("age", [-5, 18, 250])
def test_a_childs_age_is_0_to_17(age: int) -> None:
    for build in (
        lambda: ReferralMade(envelope=envelope(ReferralMade, "C-1", "school-almaty"), city=City.ALMATY,
                             referral_kind=ReferralKind.CHILD_PROTECTION, child_age_years=age),
        lambda: EmergencyRemoval(envelope=envelope(EmergencyRemoval, "C-1", "police-juvenile-almaty"),
                                 city=City.ALMATY, child_age_years=age, child_removed=True,
                                 cam_social_worker_present=False),
        lambda: PoliceCustodyStarted(envelope=envelope(PoliceCustodyStarted, "C-1", "police-juvenile-almaty"),
                                     city=City.ALMATY, child_age_years=age, criminal_case_ref="CR-1"),
    ):
        message = refusal(build)
        assert "child_age_years" in message and "must be 0–17" in message and "Annex B, part 2" in message


def test_an_age_on_record_may_be_18_once_child_protection_ends_but_no_more() -> None:
    def recorded(age: int) -> ChildAgeRecorded:
        return ChildAgeRecorded(envelope=envelope(ChildAgeRecorded, "C-1", "cam-almaty"), child_age_years=age,
                                reason=AgeRecordReason.BIRTHDAY)
    assert recorded(18).child_age_years == 18
    assert "6.74(a)" in refusal(lambda: recorded(19))


def test_an_assessed_age_may_be_an_adults_but_not_impossible() -> None:
    def assessed(low: int, high: int) -> AgeAssessmentCompleted:
        return AgeAssessmentCompleted(envelope=envelope(AgeAssessmentCompleted, "C-1", "cam-almaty"),
                                      claimed_age_years=15, assessed_min_age_years=low, assessed_max_age_years=high,
                                      conclusive=False)
    assert assessed(16, 19).adopted_age_years == 16
    assert "assessed_max_age_years" in refusal(lambda: assessed(16, 250))


@pytest.mark.parametrize("actor_id", ["inspector 17", "inspector-17\nrm -rf", "", "Test Person", "x" * 65])
def test_a_staff_id_is_a_pseudonymous_token(actor_id: str) -> None:
    assert "pseudonymous staff id" in refusal(lambda: Producer(agency_id="cam-almaty", actor_id=actor_id))


def test_ordinary_staff_ids_and_roles_are_accepted() -> None:
    producer = Producer(agency_id="cam-almaty", actor_id="manager-17@cam.almaty", actor_role="case_manager")
    assert producer.actor_id == "manager-17@cam.almaty"


def test_dates_an_event_states_lie_in_a_plausible_window() -> None:
    """A date 20+ years away from when the event happened, or a child's date of birth after it or
    more than 19 years before it, is a typing mistake: refused, naming the field, never the value."""
    from datetime import date, timedelta

    from referral_bus.contracts.base import PersonalData
    from referral_bus.contracts.events import ChildProtectionMeetingScheduled
    meeting = make(ChildProtectionMeetingScheduled, "cam-almaty", meeting_id="M-1",
                   scheduled_for=T0 + timedelta(days=3), invited_agency_ids=["police-juvenile-almaty"])
    with pytest.raises(ValidationError, match="scheduled_for: more than 20 years from the event's occurred_at"):
        make(ChildProtectionMeetingScheduled, "cam-almaty", meeting_id="M-1",
             scheduled_for=T0.replace(year=2150), invited_agency_ids=["police-juvenile-almaty"])
    assert meeting.scheduled_for.year == T0.year  # type: ignore[attr-defined]
    for born in (T0.date() + timedelta(days=1), date(1990, 1, 1)):
        with pytest.raises(ValidationError) as refused:
            make(ChildProtectionMeetingScheduled, "cam-almaty", meeting_id="M-1", scheduled_for=T0,
                 invited_agency_ids=["police-juvenile-almaty"], personal_data=PersonalData(child_date_of_birth=born))
        assert "child_date_of_birth: must lie within 19 years" in str(refused.value)
        assert str(born) not in str(refused.value)
