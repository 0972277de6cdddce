"""A child found in one city whose family and case belong to another (issue 15): the city where the
child is gets the referral (4.5, 4.6, 4.7); the home city's CAM/CSC — the Guardianship for a child
under 3 — is told of every child protection contact, and later key outcomes reach it redacted (6.24).
Annex B is silent: a bus rule modelled on the UK's CP-IS."""

from __future__ import annotations

from datetime import timedelta

from referral_bus.contracts.base import City
from referral_bus.contracts.events import (
    AssessmentOutcome,
    CaseClosed,
    ChildProtectionMeetingHeld,
    ChildProtectionMeetingScheduled,
    ClosureGround,
    EmergencyRemoval,
    EmergencyRemovalRequested,
    InitialAssessmentCompleted,
    MeetingDecision,
    ReferralKind,
    ReferralMade,
    ReferralWithdrawn,
    RemovalOutcomeReported,
    SocialAssessmentCompleted,
    SocialAssessmentConclusion,
    SupportService,
    WithdrawalReason,
)
from referral_bus.contracts.justice_events import PoliceCustodyStarted
from referral_bus.contracts.violence_events import (
    Helpline,
    HelplineRedirected,
    RedirectTarget,
    SchoolScreeningFlagRaised,
    ScreeningConcern,
    ViolenceSuspectedByMedicalStaff,
)
from referral_bus.domain.agencies import Directory
from referral_bus.domain.pathways.base import OUT_OF_AREA
from tests.builders import T0, CaseFold, make

SCHOOL, POLICE = "school-almaty", "police-juvenile-almaty"
CAM, GUARDIANSHIP = "cam-almaty", "guardianship-almaty"
HOME_CAM, HOME_GUARDIANSHIP = "cam-shymkent", "guardianship-shymkent"


def referral(agency: str = SCHOOL, *, age: int = 9, city: City = City.ALMATY, home: City | None = City.SHYMKENT,
             kind: ReferralKind = ReferralKind.CHILD_PROTECTION, **fields: object) -> ReferralMade:
    if kind is ReferralKind.NGO_SUPPORT:
        fields.setdefault("services_requested", [SupportService.SOCIAL])
    return make(ReferralMade, agency, referral_kind=kind, city=city, child_age_years=age,  # type: ignore[return-value]
                home_city=home, **fields)


def removal(*, home: City | None = City.SHYMKENT, removed: bool = True) -> EmergencyRemoval:
    return make(EmergencyRemoval, POLICE, city=City.ALMATY, child_age_years=9,  # type: ignore[return-value]
                child_removed=removed, cam_social_worker_present=False, home_city=home)


def removal_request(agency: str = SCHOOL, *, home: City | None = City.SHYMKENT) -> EmergencyRemovalRequested:
    return make(EmergencyRemovalRequested, agency, city=City.ALMATY, child_age_years=9,  # type: ignore[return-value]
                home_city=home)


def summary(got: dict) -> dict:  # type: ignore[type-arg]
    return {a: (d.purpose, d.redacted) for a, d in got.items()}


def test_the_home_citys_cam_is_told_of_a_referral_where_the_child_is(directory: Directory) -> None:
    case = CaseFold(directory)
    got = case.add(referral())
    assert summary(got) == {CAM: ("referral", False), GUARDIANSHIP: ("notification", False),
                            HOME_CAM: ("out-of-area notification", False)}   # the details, to match its case
    assert got[HOME_CAM].paragraph == f"4.5, 4.6; {OUT_OF_AREA}"
    assert "CP-IS" in got[HOME_CAM].paragraph and "issue 15" in got[HOME_CAM].paragraph
    assert (case.state.city, case.state.home_city, case.state.home_city_notified) == (
        City.ALMATY, City.SHYMKENT, City.SHYMKENT)


def test_under_three_the_home_citys_guardianship_is_told(directory: Directory) -> None:
    got = CaseFold(directory).add(referral(age=2))
    assert summary(got) == {GUARDIANSHIP: ("referral", False), HOME_GUARDIANSHIP: ("out-of-area notification", False)}


def test_a_child_at_home_or_of_unknown_home_owes_no_extra_delivery(directory: Directory) -> None:
    at_home = CaseFold(directory)
    assert set(at_home.add(referral(home=City.ALMATY))) == {CAM, GUARDIANSHIP}
    assert at_home.state.home_city is City.ALMATY and at_home.state.home_city_notified is None
    assert set(CaseFold(directory).add(referral(home=None))) == {CAM, GUARDIANSHIP}
    # Turkestan Oblast's CAM is Shymkent's (4.6(e)): the child is already referred to its home agency
    shymkent = CaseFold(directory).add(referral("school-shymkent", city=City.SHYMKENT, home=City.TURKESTAN_OBLAST))
    assert summary(shymkent) == {HOME_CAM: ("referral", False), HOME_GUARDIANSHIP: ("notification", False)}


def test_the_latest_stated_home_city_wins_and_an_omission_leaves_it(directory: Directory) -> None:
    case = CaseFold(directory)
    case.add(referral())
    second = case.add(referral(POLICE, home=None))   # a second contact: the home city is told again
    assert summary(second)[HOME_CAM] == ("out-of-area notification", False)
    assert case.state.home_city is City.SHYMKENT
    corrected = case.add(referral("health-almaty", home=City.NUR_SULTAN))   # the family lives in Nur-Sultan
    assert corrected["csc-nur-sultan"].purpose == "out-of-area notification" and HOME_CAM not in corrected
    assert case.state.home_city is City.NUR_SULTAN
    outcome = case.add(make(InitialAssessmentCompleted, CAM, outcome=AssessmentOutcome.NO_CONCERN))
    assert "csc-nur-sultan" in outcome and HOME_CAM not in outcome


def test_key_outcomes_reach_the_home_city_redacted(directory: Directory) -> None:
    case = CaseFold(directory)
    case.add(referral())
    assessed = case.add(make(InitialAssessmentCompleted, CAM, outcome=AssessmentOutcome.NO_CONCERN))
    assert summary(assessed)[HOME_CAM] == ("out-of-area outcome", True)
    assert assessed[HOME_CAM].paragraph == f"6.21–6.24; {OUT_OF_AREA}"
    closed = case.add(make(CaseClosed, CAM, ground=ClosureGround.NO_CONCERN_FOUND))
    assert summary(closed)[HOME_CAM] == ("out-of-area outcome", True)
    assert closed[HOME_CAM].paragraph.startswith("6.51, 6.78; ")


def test_the_social_assessment_and_the_meetings_decision_reach_the_home_city_redacted(directory: Directory) -> None:
    case = CaseFold(directory)
    case.add(referral())
    case.add(make(InitialAssessmentCompleted, CAM, outcome=AssessmentOutcome.SIGNIFICANT_HARM_CONCERN))
    social = case.add(make(SocialAssessmentCompleted, CAM, conclusion=SocialAssessmentConclusion.SIGNIFICANT_HARM))
    assert summary(social)[HOME_CAM] == ("out-of-area outcome", True)
    assert social[HOME_CAM].paragraph == f"6.30; {OUT_OF_AREA}"
    case.add(make(ChildProtectionMeetingScheduled, CAM, meeting_id="M-1", scheduled_for=T0 + timedelta(days=5),
                  invited_agency_ids=[SCHOOL, GUARDIANSHIP]))
    held = case.add(make(ChildProtectionMeetingHeld, CAM, meeting_id="M-1", decision=MeetingDecision.SUPPORT_SERVICES))
    assert summary(held)[HOME_CAM] == ("out-of-area outcome", True) and held[HOME_CAM].paragraph.startswith("6.39; ")


def test_seed_002_and_003_contacts_tell_the_home_city(directory: Directory) -> None:
    """A child whose violence is suspected by medical staff, whose call a helpline redirects, whom a school
    flags or the police hold in custody away from home: the home city's CAM/CSC is told, as of a referral."""
    contacts = [
        make(ViolenceSuspectedByMedicalStaff, "health-almaty", city=City.ALMATY, child_age_years=9,
             home_city=City.SHYMKENT),
        make(HelplineRedirected, "helpline-111", city=City.ALMATY, child_age_years=9, helpline=Helpline.HELPLINE_111,
             redirected_to=RedirectTarget.POLICE, home_city=City.SHYMKENT),
        make(SchoolScreeningFlagRaised, SCHOOL, city=City.ALMATY, child_age_years=9,
             concern=ScreeningConcern.NEGLECT, home_city=City.SHYMKENT),
        make(PoliceCustodyStarted, POLICE, city=City.ALMATY, child_age_years=15, criminal_case_ref="CC-1",
             home_city=City.SHYMKENT),
    ]
    for n, contact in enumerate(contacts):
        case = CaseFold(directory, f"C-{n}")
        got = case.add(contact)
        assert summary(got)[HOME_CAM] == ("out-of-area notification", False), type(contact).__name__
        assert OUT_OF_AREA in got[HOME_CAM].paragraph and case.state.home_city is City.SHYMKENT
        at_home = CaseFold(directory, f"H-{n}").add(contact.model_copy(update={"home_city": City.ALMATY}))
        assert HOME_CAM not in at_home


def test_key_outcomes_of_a_child_at_home_go_nowhere_else(directory: Directory) -> None:
    case = CaseFold(directory)
    case.add(referral(home=None))
    assessed = case.add(make(InitialAssessmentCompleted, CAM, outcome=AssessmentOutcome.NO_CONCERN))
    assert HOME_CAM not in assessed and all("out-of-area" not in d.purpose for d in assessed.values())


def test_a_removal_tells_the_home_city_with_details_when_it_opens_the_case(directory: Directory) -> None:
    case = CaseFold(directory)
    got = case.add(removal())
    assert summary(got)[HOME_CAM] == ("out-of-area notification", False)
    assert got[HOME_CAM].paragraph == f"4.7–4.8; {OUT_OF_AREA}"
    report = case.add(make(RemovalOutcomeReported, POLICE, child_removed=True, placed_in_temporary_care=True,
                           referred_to_cam=True))
    assert summary(report) == {CAM: ("notification", False), HOME_CAM: ("out-of-area outcome", True)}


def test_a_removal_request_and_the_removal_that_answers_it(directory: Directory) -> None:
    case = CaseFold(directory)
    requested = case.add(removal_request())
    assert summary(requested) == {GUARDIANSHIP: ("notification", False), POLICE: ("removal request", False),
                                  CAM: ("referral", False), HOME_CAM: ("out-of-area notification", False)}
    assert requested[HOME_CAM].paragraph == f"4.7; {OUT_OF_AREA}"
    removed = case.add(removal(home=None))   # already told of the child: the removal is an outcome (6.24)
    assert summary(removed)[HOME_CAM] == ("out-of-area outcome", True)


def test_a_removal_that_first_states_the_home_city_tells_it_in_full(directory: Directory) -> None:
    case = CaseFold(directory)
    case.add(referral(home=None))
    assert summary(case.add(removal()))[HOME_CAM] == ("out-of-area notification", False)


def test_an_ngo_request_records_the_home_city_but_does_not_tell_it(directory: Directory) -> None:
    case = CaseFold(directory)
    got = case.add(referral(kind=ReferralKind.NGO_SUPPORT, age=13))
    assert set(got) == {"ngo-rodnik"}   # voluntary services (5.17(f)), not a child protection contact
    assert case.state.home_city is City.SHYMKENT and case.state.home_city_notified is None


def test_no_agency_serving_the_home_city_never_loses_the_referral(directory: Directory) -> None:
    """What an operator wants: the valid referral delivered where the child is, its recipients told
    that the home city could not be told on the bus — never a refusal that leaves the child unreferred."""
    partial = Directory({k: a for k, a in directory.agencies.items() if k != "csc-nur-sultan"})
    case = CaseFold(partial)
    got = case.add(referral(home=City.NUR_SULTAN))
    assert set(got) == {CAM, GUARDIANSHIP}
    for delivery in got.values():
        [advice] = delivery.advice
        assert "NUR_SULTAN" in advice and "cam-csc" in advice and "outside the bus" in advice
    assessed = case.add(make(InitialAssessmentCompleted, CAM, outcome=AssessmentOutcome.NO_CONCERN))
    assert all("out-of-area" not in d.purpose for d in assessed.values())   # skipped: the referral warned


def test_a_withdrawal_reaches_the_home_city_it_told(directory: Directory) -> None:
    made = referral()
    case = CaseFold(directory)
    case.add(made)
    got = case.add(make(ReferralWithdrawn, SCHOOL, referral_event_id=made.envelope.event_id,
                        reason=WithdrawalReason.CHILD_FOUND_ELSEWHERE))
    assert summary(got) == {CAM: ("referral withdrawn", False), GUARDIANSHIP: ("referral withdrawn", False),
                            HOME_CAM: ("referral withdrawn", True)}


def test_the_home_city_field_is_optional_and_old_events_still_load() -> None:
    """Backward compatible: events without ``home_city`` validate, with None."""
    for event_type, fields in ((ReferralMade, {"referral_kind": "CHILD_PROTECTION"}),
                               (EmergencyRemovalRequested, {}),
                               (EmergencyRemoval, {"child_removed": True, "cam_social_worker_present": True})):
        event = make(event_type, SCHOOL, city=City.ALMATY, child_age_years=9, **fields)
        assert event.home_city is None   # type: ignore[attr-defined]
