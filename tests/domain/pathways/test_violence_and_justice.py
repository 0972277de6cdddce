"""Seed 002 (medical staff SOP, helplines, school screening) and seed 003 (custody, interviews,
termination, probation, programmes with feedback to the referring body)."""

from __future__ import annotations

import pytest

from referral_bus.contracts.base import City
from referral_bus.contracts.events import CriminalCaseOpened, ReferralKind, ReferralMade
from referral_bus.contracts.justice_events import (
    ChildInterviewed,
    ChildRole,
    InterviewProfessional,
    PoliceCustodyEnded,
    PoliceCustodyStarted,
    ProbationOrdered,
    ProceedingsTerminated,
    ProgrammeCompleted,
    ProgrammeEnrolled,
    ProgrammeReviewed,
)
from referral_bus.contracts.violence_events import (
    FollowUpOf,
    FollowUpOutcome,
    FollowUpRecorded,
    Helpline,
    HelplineRedirected,
    MedicalWrittenNoticeSent,
    MultidisciplinaryEvaluationCompleted,
    RedirectTarget,
    SchoolScreeningFlagRaised,
    ScreeningConcern,
    ViolenceSuspectedByMedicalStaff,
)
from referral_bus.domain.agencies import Directory
from referral_bus.domain.authorization import authorize
from referral_bus.domain.rejections import Code, Rejection
from tests.builders import CaseFold, make


def test_medical_staff_notice_reaches_every_body_the_sop_names(directory: Directory) -> None:
    case = CaseFold(directory)
    assert case.rejects(make(MedicalWrittenNoticeSent, "health-almaty")).code is Code.UNKNOWN_CASE
    got = case.add(make(ViolenceSuspectedByMedicalStaff, "health-almaty", city=City.ALMATY, child_age_years=6))
    assert set(got) == {"police-juvenile-almaty"}
    got = case.add(make(MedicalWrittenNoticeSent, "health-almaty"))
    assert set(got) == {"police-juvenile-almaty", "guardianship-almaty", "commission-almaty",
                        "social-protection-almaty", "school-almaty"}
    got = case.add(make(MultidisciplinaryEvaluationCompleted, "health-almaty", violence_confirmed=True))
    assert "cam-almaty" in got


def test_helpline_and_school_open_cases_routed_by_city(directory: Directory) -> None:
    got = CaseFold(directory).add(make(HelplineRedirected, "helpline-111", city=City.TURKESTAN_OBLAST,
                                       child_age_years=12, helpline=Helpline.HELPLINE_111,
                                       redirected_to=RedirectTarget.CAM_CSC))
    assert set(got) == {"cam-shymkent"}   # the CAM of Shymkent serves Turkestan Oblast (4.6(e))
    got = CaseFold(directory).add(make(SchoolScreeningFlagRaised, "school-nur-sultan", city=City.NUR_SULTAN,
                                       child_age_years=10, concern=ScreeningConcern.NOT_ATTENDING))
    assert set(got) == {"csc-nur-sultan"}
    wrong = make(SchoolScreeningFlagRaised, "helpline-150", city=City.ALMATY, child_age_years=10,
                 concern=ScreeningConcern.NEGLECT)
    rejection = _refused(wrong, directory)
    assert (rejection.code, rejection.paragraph) == (Code.AGENCY_NOT_ALLOWED, "seed 002 (school screening)")


def _refused(event: object, directory: Directory) -> Rejection:
    with pytest.raises(Rejection) as caught:
        authorize(event, directory, None)  # type: ignore[arg-type]
    return caught.value


def test_custody_interview_termination_and_programme_feedback(directory: Directory) -> None:
    case = CaseFold(directory)
    got = case.add(make(PoliceCustodyStarted, "police-juvenile-almaty", city=City.ALMATY, child_age_years=15,
                        criminal_case_ref="CR-9"))
    assert set(got) == {"prosecutor-almaty", "commission-almaty"}
    case.add(make(PoliceCustodyEnded, "police-juvenile-almaty"))
    assert case.rejects(make(PoliceCustodyEnded, "police-juvenile-almaty")).paragraph == "seed 003"
    got = case.add(make(ChildInterviewed, "police-juvenile-almaty", child_role=ChildRole.IN_CONFLICT_WITH_LAW,
                        professionals_present=[InterviewProfessional.INVESTIGATOR, InterviewProfessional.LAWYER]))
    assert set(got) == {"cam-almaty"}
    r = case.rejects(make(ProceedingsTerminated, "prosecutor-almaty", criminal_case_ref="CR-0", legal_basis="CPC 35"))
    assert r.field == "criminal_case_ref"
    case.add(make(ProceedingsTerminated, "prosecutor-almaty", criminal_case_ref="CR-9", legal_basis="CPC art. 35",
                  alternative_measure=True))
    case.add(make(ProbationOrdered, "court-almaty", criminal_case_ref="CR-9", duration_months=6))
    got = case.add(make(ProgrammeEnrolled, "ngo-rodnik", programme_id="PG-1", referring_agency_id="prosecutor-almaty"))
    assert got["prosecutor-almaty"].redacted
    assert set(case.add(make(ProgrammeReviewed, "ngo-rodnik", programme_id="PG-1", continues=True))) == \
        {"prosecutor-almaty"}
    case.add(make(ProgrammeCompleted, "ngo-rodnik", programme_id="PG-1", goals_met=True))
    assert case.rejects(make(ProgrammeReviewed, "ngo-rodnik", programme_id="PG-1", continues=True)).field == \
        "programme_id"
    bad = make(ProgrammeEnrolled, "ngo-rodnik", programme_id="PG-2", referring_agency_id="nobody")
    assert case.rejects(bad).code is Code.NO_RECIPIENT


def test_interview_deviations_are_accepted_and_reported(directory: Directory) -> None:
    case = CaseFold(directory)
    case.add(make(ReferralMade, "school-almaty", referral_kind=ReferralKind.CHILD_PROTECTION, city=City.ALMATY,
                  child_age_years=11))
    case.add(make(CriminalCaseOpened, "police-juvenile-almaty", criminal_case_ref="CR-1"))
    got = case.add(make(ChildInterviewed, "police-juvenile-almaty", child_role=ChildRole.VICTIM,
                        professionals_present=[InterviewProfessional.INVESTIGATOR], suspected_person_present=True))
    deviation = got["commission-almaty"]
    assert deviation.purpose == "deviation" and len(deviation.advice) == 3
    assert [a.split(":")[0] for a in deviation.advice] == ["6.7", "6.7", "seed 003"]
    with_specialists = case.add(make(ChildInterviewed, "police-juvenile-almaty", child_role=ChildRole.WITNESS,
                                     professionals_present=[InterviewProfessional.INVESTIGATOR,
                                                            InterviewProfessional.CAM_SOCIAL_WORKER,
                                                            InterviewProfessional.PSYCHOLOGIST]))
    assert "commission-almaty" not in with_specialists


def test_helpline_and_school_flags_are_followed_up_and_the_raiser_hears_back(directory: Directory) -> None:
    case = CaseFold(directory)
    follow_up = make(FollowUpRecorded, "cam-almaty", follow_up_of=FollowUpOf.SCHOOL_FLAG,
                     outcome=FollowUpOutcome.NO_FURTHER_ACTION, reason="attending again")
    case.add(make(HelplineRedirected, "helpline-150", city=City.ALMATY, child_age_years=12,
                  helpline=Helpline.HELPLINE_150, redirected_to=RedirectTarget.CAM_CSC))
    assert case.rejects(follow_up).field == "follow_up_of"
    got = case.add(make(FollowUpRecorded, "cam-almaty", follow_up_of=FollowUpOf.HELPLINE_REDIRECTION,
                        outcome=FollowUpOutcome.REFERRAL_MADE))
    assert set(got) == {"helpline-150"} and got["helpline-150"].redacted
    with pytest.raises(ValueError, match="reason"):
        make(FollowUpRecorded, "cam-almaty", follow_up_of=FollowUpOf.SCHOOL_FLAG,
             outcome=FollowUpOutcome.NO_FURTHER_ACTION)
