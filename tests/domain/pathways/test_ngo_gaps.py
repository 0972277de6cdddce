"""Issue 15's NGO gaps: the referral to the health authorities (5.13), the providers' own signature
and written consent to an amended plan (7.8–7.9), the referrer's agreement to the psychologist's
initial meeting (7.16), and counselling only after the child's police statement (7.18)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from referral_bus.contracts.consent import ConsentSubject
from referral_bus.contracts.events import (
    CriminalCaseOpened,
    NGODecision,
    NGODecisionKind,
    NGOInitialMeetingHeld,
    NGOStaffRole,
    ServicePlanAgreed,
    SupportService,
)
from referral_bus.contracts.justice_events import ChildInterviewed, ChildRole, InterviewProfessional
from referral_bus.contracts.ngo_events import (
    NGOCaseClosed,
    NGOCaseClosureReason,
    ServicePlanSigned,
    ServiceProgressReported,
)
from referral_bus.domain.agencies import Directory
from referral_bus.domain.rejections import Code
from tests.builders import CaseFold, envelope, make
from tests.domain.pathways.test_ngo import NGO, accepted, consent, referred

# -- 5.13: complex or serious mental health needs go to the local health authorities ----------------


def test_a_decline_for_complex_mental_health_needs_is_a_referral_to_the_health_authority(
        directory: Directory) -> None:
    case, got = referred(directory, SupportService.PSYCHOLOGICAL, complex_mental_health_needs=True)
    assert any("5.13" in a for a in got[NGO].advice)
    out = case.add(make(NGODecision, NGO, decision=NGODecisionKind.DECLINED_CRITERIA_NOT_MET,
                        reasons="needs medical attention", refer_to_health_authorities=True))
    health = out["health-almaty"]
    assert (health.paragraph, health.purpose, health.redacted) == ("5.13", "referral", False)
    referrer = out["school-almaty"]
    assert referrer.redacted and referrer.advice == (
        "5.13: the NGO referred the child to the local health authorities (health-almaty)",)
    # an ordinary decline is not a referral to anyone
    plain, _ = referred(directory, SupportService.PSYCHOLOGICAL)
    assert set(plain.add(make(NGODecision, NGO, decision=NGODecisionKind.DECLINED_CRITERIA_NOT_MET,
                                   reasons="outside the criteria"))) == {"school-almaty"}


@pytest.mark.parametrize("decision", [NGODecisionKind.ACCEPTED, NGODecisionKind.DECLINED_NO_SPACE])
def test_only_a_child_found_not_eligible_is_referred_to_the_health_authority(decision: NGODecisionKind) -> None:
    with pytest.raises(ValidationError, match=r"5\.13") as raised:
        NGODecision(envelope=envelope(NGODecision, "C-1", NGO), decision=decision, reasons="r",
                    refer_to_health_authorities=True)
    assert "refer_to_health_authorities" in str(raised.value)


# -- 7.16: the referrer agrees to the psychologist's initial meeting --------------------------------

def test_a_counselling_only_initial_meeting_needs_the_referrers_agreement(directory: Directory) -> None:
    case = accepted(directory, SupportService.PSYCHOLOGICAL)
    refused = case.rejects(make(NGOInitialMeetingHeld, NGO, by_role=NGOStaffRole.PSYCHOLOGIST))
    assert (refused.code, refused.paragraph, refused.field) == (Code.ILLEGAL_TRANSITION, "7.16",
                                                                "agreed_with_referrer")
    case.add(make(NGOInitialMeetingHeld, NGO, by_role=NGOStaffRole.PSYCHOLOGIST, agreed_with_referrer=True))
    # the social worker's meeting (7.2) needs no such agreement
    accepted(directory, SupportService.SOCIAL).add(make(NGOInitialMeetingHeld, NGO, by_role=NGOStaffRole.SOCIAL_WORKER))


# -- 7.8–7.9: the provider signs the plan itself; an amended plan needs its written consent ---------

def plan(*providers: str) -> ServicePlanAgreed:
    return make(ServicePlanAgreed, NGO, by_role=NGOStaffRole.SOCIAL_WORKER, service_provider_agency_ids=list(providers))


def signed(agency: str, the_plan: ServicePlanAgreed) -> ServicePlanSigned:
    return make(ServicePlanSigned, agency, ngo_agency_id=NGO, service_plan_event_id=the_plan.envelope.event_id)


def report(agency: str, **fields: object) -> ServiceProgressReported:
    return make(ServiceProgressReported, agency, ngo_agency_id=NGO, service="remedial education", **fields)


def test_a_provider_signs_the_plan_in_force_that_lists_it(directory: Directory) -> None:
    case = accepted(directory, SupportService.SOCIAL)
    case.add(make(NGOInitialMeetingHeld, NGO, by_role=NGOStaffRole.SOCIAL_WORKER))
    first = plan("school-almaty")
    assert case.rejects(signed("school-almaty", first)).field == "ngo_agency_id"   # no plan yet
    assert case.add(first)["school-almaty"].purpose == "plan"
    # being listed on the first plan stands for the signature (7.8): the report counts at once
    assert case.add(report("school-almaty"))[NGO].paragraph == "7.9"
    stranger = case.rejects(signed("health-almaty", first))
    assert (stranger.code, stranger.paragraph, stranger.field) == (Code.AGENCY_NOT_ALLOWED, "7.8",
                                                                   "envelope.producer.agency_id")
    got = case.add(signed("school-almaty", first))
    assert (got[NGO].paragraph, got[NGO].purpose, got[NGO].redacted) == ("7.8", "signature", False)
    twice = case.rejects(signed("school-almaty", first))
    assert (twice.paragraph, twice.field) == ("7.8–7.9", "service_plan_event_id")
    case.add(make(NGOCaseClosed, NGO, reason=NGOCaseClosureReason.GOALS_MET))
    assert case.rejects(signed("school-almaty", first)).field == "ngo_agency_id"


def test_an_amended_plan_needs_each_providers_written_consent_before_its_reports_count(
        directory: Directory) -> None:
    case = accepted(directory, SupportService.SOCIAL)
    case.add(make(NGOInitialMeetingHeld, NGO, by_role=NGOStaffRole.SOCIAL_WORKER))
    first = plan("school-almaty")
    case.add(first)
    case.add(signed("school-almaty", first))
    amended = plan("school-almaty", "health-almaty")
    got = case.add(amended)
    assert {a: (d.paragraph, d.purpose) for a, d in got.items()} == {
        "school-almaty": ("7.9", "amended plan"), "health-almaty": ("7.9", "amended plan")}
    # the signature of the first plan is not consent to the amended one
    refused = case.rejects(report("school-almaty"))
    assert (refused.code, refused.paragraph, refused.field) == (Code.ILLEGAL_TRANSITION, "7.9",
                                                                "envelope.producer.agency_id")
    stale = case.rejects(signed("school-almaty", first))
    assert (stale.paragraph, stale.field) == ("7.8–7.9", "service_plan_event_id")
    got = case.add(signed("school-almaty", amended))
    assert (got[NGO].paragraph, got[NGO].purpose) == ("7.9", "written consent to the amended plan")
    assert case.add(report("school-almaty"))[NGO].paragraph == "7.9"
    # the health provider has not consented: its progress does not count, but a withdrawal is told at once (7.10)
    assert case.rejects(report("health-almaty")).paragraph == "7.9"
    assert case.add(report("health-almaty", consent_withdrawn=True))[NGO].purpose == "consent withdrawn"


# -- 7.18: counselling after the child's statement to the police, unless agreed --------------------

def ready_for_therapy(directory: Directory) -> CaseFold:
    case = accepted(directory, SupportService.PSYCHOLOGICAL)
    case.add(make(NGOInitialMeetingHeld, NGO, by_role=NGOStaffRole.PSYCHOLOGIST, agreed_with_referrer=True))
    case.add(consent(ConsentSubject.PSYCHOLOGICAL_COUNSELLING, child_consented=True, parent_consented=True))
    return case


def therapy(**fields: object) -> ServicePlanAgreed:
    return make(ServicePlanAgreed, NGO, by_role=NGOStaffRole.PSYCHOLOGIST, **fields)


def test_a_child_victim_starts_counselling_after_the_police_statement(directory: Directory) -> None:
    case = ready_for_therapy(directory)
    case.add(make(CriminalCaseOpened, "police-juvenile-almaty", criminal_case_ref="CR-7"))
    refused = case.rejects(therapy())
    assert (refused.code, refused.paragraph, refused.field) == (Code.ILLEGAL_TRANSITION, "7.18",
                                                                "prosecutor_agreed_early_counselling")
    assert case.rejects(therapy(prosecutor_agreed_early_counselling=True)).field == "police_agreed_early_counselling"
    assert case.rejects(therapy(police_agreed_early_counselling=True)).field == "prosecutor_agreed_early_counselling"
    case.add(make(ChildInterviewed, "police-juvenile-almaty", child_role=ChildRole.VICTIM,
                  professionals_present=[InterviewProfessional.INVESTIGATOR, InterviewProfessional.PSYCHOLOGIST,
                                         InterviewProfessional.CAM_SOCIAL_WORKER]))
    case.add(therapy())


def test_the_prosecutor_and_police_may_agree_to_counselling_before_the_statement(directory: Directory) -> None:
    case = ready_for_therapy(directory)
    # a witness in proceedings not on this case: the psychologist says so on the plan
    assert case.rejects(therapy(child_victim_or_witness=True)).paragraph == "7.18"
    case.add(therapy(child_victim_or_witness=True, prosecutor_agreed_early_counselling=True,
                     police_agreed_early_counselling=True))


def test_the_statement_rule_is_for_child_victims_and_witnesses_and_therapy_plans(directory: Directory) -> None:
    ready_for_therapy(directory).add(therapy())        # no criminal proceedings: no statement owed
    case = accepted(directory, SupportService.SOCIAL)
    case.add(make(CriminalCaseOpened, "police-juvenile-almaty", criminal_case_ref="CR-8"))
    case.add(make(NGOInitialMeetingHeld, NGO, by_role=NGOStaffRole.SOCIAL_WORKER))
    case.add(plan("school-almaty"))                    # a social worker's service plan is not counselling
