"""The NGO programme: admission advice (5.9, 5.12, 5.13), consent before a plan (5.9, 7.17–7.18),
progress reports from providers (7.8–7.9), closure with the referrer told (7.10, 7.17)."""

from __future__ import annotations

from referral_bus.contracts.base import City
from referral_bus.contracts.consent import Consent, ConsentSubject
from referral_bus.contracts.events import (
    AssessmentOutcome,
    InitialAssessmentCompleted,
    LegalMatter,
    NGODecision,
    NGODecisionKind,
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
    NGOConsentRecorded,
    NGOLegalAdviceProvided,
    ServiceProgressReported,
    ServiceRequested,
)
from referral_bus.domain.agencies import Directory
from referral_bus.domain.rejections import Code
from tests.builders import CaseFold, make

NGO = "ngo-rodnik"


def referred(directory: Directory, *services: SupportService, age: int = 14, **fields: object) -> tuple[CaseFold, dict]:
    case = CaseFold(directory)
    got = case.add(make(ReferralMade, "school-almaty", referral_kind=ReferralKind.NGO_SUPPORT, city=City.ALMATY,
                        child_age_years=age, services_requested=list(services), **fields))
    return case, got


def accepted(directory: Directory, *services: SupportService, age: int = 14) -> CaseFold:
    case, _ = referred(directory, *services, age=age, legal_matters=[LegalMatter.MIGRATION_STATUS_OR_DOCUMENTATION])
    case.add(make(NGODecision, NGO, decision=NGODecisionKind.ACCEPTED))
    return case


def consent(subject: ConsentSubject, **fields: object) -> NGOConsentRecorded:
    return make(NGOConsentRecorded, NGO, consent=Consent(subject=subject, child_age_years=14, **fields))


def test_admission_criteria_are_advice_on_the_ngo_delivery(directory: Directory) -> None:
    _, got = referred(directory, SupportService.LEGAL, SupportService.PSYCHOLOGICAL, age=16,
                      already_represented=True, complex_mental_health_needs=True, child_located_in_city=False,
                      legal_matters=[LegalMatter.SAFE_RETURN])
    advice = " | ".join(got[NGO].advice)
    for paragraph in ("5.7", "5.13", "5.9(b)", "5.6, 5.9(a)", "5.9(c)", "5.12(d)"):
        assert paragraph in advice
    _, clean = referred(directory, SupportService.SOCIAL)
    assert clean[NGO].advice == ()   # nothing to flag; the NGO decides (5.18)


def test_therapy_plan_needs_consent_and_withheld_consent_is_reported(directory: Directory) -> None:
    case = accepted(directory, SupportService.PSYCHOLOGICAL)
    case.add(make(NGOInitialMeetingHeld, NGO, by_role=NGOStaffRole.PSYCHOLOGIST, agreed_with_referrer=True))
    therapy = make(ServicePlanAgreed, NGO, by_role=NGOStaffRole.PSYCHOLOGIST)
    r = case.rejects(therapy)
    assert (r.code, r.paragraph, "no consent" in r.message) == (Code.ILLEGAL_TRANSITION, "7.18", True)
    got = case.add(consent(ConsentSubject.PSYCHOLOGICAL_COUNSELLING, child_consented=True, parent_consented=False))
    assert got["school-almaty"].paragraph == "7.17" and got["school-almaty"].redacted
    assert "parent" in case.rejects(therapy).message
    assert case.add(consent(ConsentSubject.PSYCHOLOGICAL_COUNSELLING, child_consented=True,
                            parent_consented=True)) == {}
    case.add(therapy)


def test_legal_advice_needs_written_consent(directory: Directory) -> None:
    case = accepted(directory, SupportService.LEGAL)
    advice = make(NGOLegalAdviceProvided, NGO)
    assert case.rejects(advice).paragraph == "5.9(c)–(d), 7.14"
    case.add(consent(ConsentSubject.LEGAL_SERVICES, parent_consented=True, child_has_sufficient_maturity=False,
                     in_writing=True))
    case.add(advice)
    assert case.rejects(consent(ConsentSubject.MEDICAL_EXAMINATION)).field == "consent.subject"


def test_progress_reports_come_from_providers_who_signed_the_plan(directory: Directory) -> None:
    case = accepted(directory, SupportService.SOCIAL)
    case.add(make(NGOInitialMeetingHeld, NGO, by_role=NGOStaffRole.SOCIAL_WORKER))
    report = make(ServiceProgressReported, "school-almaty", ngo_agency_id=NGO, service="remedial education")
    assert case.rejects(report).field == "ngo_agency_id"
    case.add(make(ServicePlanAgreed, NGO, by_role=NGOStaffRole.SOCIAL_WORKER,
                  service_provider_agency_ids=["school-almaty"]))
    assert case.add(report)[NGO].paragraph == "7.9"
    stranger = make(ServiceProgressReported, "health-almaty", ngo_agency_id=NGO, service="check-up")
    assert (case.rejects(stranger).code, case.rejects(stranger).paragraph) == (Code.AGENCY_NOT_ALLOWED, "7.8")
    got = case.add(make(NGOCaseClosed, NGO, reason=NGOCaseClosureReason.GOALS_MET))
    assert got["school-almaty"].redacted is False and got["school-almaty"].purpose == "notification"


def test_cam_referral_to_ngo_tells_the_original_referrer_of_acceptance(directory: Directory) -> None:
    case = CaseFold(directory)
    case.add(make(ReferralMade, "police-juvenile-almaty", referral_kind=ReferralKind.CHILD_PROTECTION,
                  city=City.ALMATY, child_age_years=8))
    case.add(make(InitialAssessmentCompleted, "cam-almaty", outcome=AssessmentOutcome.DIFFICULT_LIFE_SITUATION))
    case.add(make(ReferralMade, "cam-almaty", referral_kind=ReferralKind.NGO_SUPPORT, city=City.ALMATY,
                  child_age_years=8, services_requested=[SupportService.SOCIAL]))
    got = case.add(make(NGODecision, NGO, decision=NGODecisionKind.ACCEPTED))
    assert got["cam-almaty"].paragraph == "5.18–5.20"
    assert got["police-juvenile-almaty"].paragraph == "6.23" and got["police-juvenile-almaty"].redacted


def test_oral_request_recorded_by_the_ngo_owes_the_decision_to_the_referrer(directory: Directory) -> None:
    case = CaseFold(directory)
    oral = make(ReferralMade, NGO, referral_kind=ReferralKind.NGO_SUPPORT, city=City.ALMATY, child_age_years=9,
                services_requested=[SupportService.SOCIAL], on_behalf_of_agency_id="health-almaty")
    case.add(oral)
    got = case.add(make(NGODecision, NGO, decision=NGODecisionKind.DECLINED_NO_SPACE, reasons="programme full"))
    assert got["health-almaty"].paragraph == "5.18–5.20"
    forged = make(ReferralMade, "school-almaty", referral_kind=ReferralKind.NGO_SUPPORT, city=City.ALMATY,
                  child_age_years=9, services_requested=[SupportService.SOCIAL], on_behalf_of_agency_id="health-almaty")
    assert CaseFold(directory, "C-2").rejects(forged).code is Code.AGENCY_NOT_ALLOWED


def test_service_requests_and_withdrawn_consent(directory: Directory) -> None:
    case = accepted(directory, SupportService.SOCIAL)
    assert case.add(make(ServiceRequested, NGO, provider_agency_id="school-almaty",
                         service="remedial education"))["school-almaty"].paragraph == "7.7"
    assert case.rejects(make(ServiceRequested, NGO, provider_agency_id="nobody", service="x")).code is Code.NO_RECIPIENT
    case.add(make(NGOInitialMeetingHeld, NGO, by_role=NGOStaffRole.SOCIAL_WORKER))
    got = case.add(make(ServicePlanAgreed, NGO, by_role=NGOStaffRole.SOCIAL_WORKER,
                        service_provider_agency_ids=["school-almaty"]))
    assert got["school-almaty"].paragraph == "7.8"
    got = case.add(make(ServiceProgressReported, "school-almaty", ngo_agency_id=NGO, service="remedial education",
                        consent_withdrawn=True))
    assert (got[NGO].paragraph, got[NGO].purpose) == ("7.10", "consent withdrawn")
    got = case.add(make(ServicePlanAgreed, NGO, by_role=NGOStaffRole.SOCIAL_WORKER,
                        service_provider_agency_ids=["health-almaty"]))
    assert (got["school-almaty"].purpose, got["school-almaty"].paragraph) == ("service ended", "7.9–7.10")
    assert (got["health-almaty"].paragraph, got["health-almaty"].purpose) == ("7.9", "amended plan")  # consent owed
