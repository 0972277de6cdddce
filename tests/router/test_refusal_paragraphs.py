"""Every refusal whose rule has a paragraph carries it in the structured field (issue 15).

A rule the contracts' validators check (``RuleViolation``) is found while the router decodes a
submission, before any of its own checks; its paragraph must still reach ``Receipt.paragraph`` and
``DeadLetter.paragraph`` as the router's own refusals do. One row per validator that cites a
paragraph, each sent as bytes an agency's careless encoder could produce, through the codec and the
``SubmissionHandler`` — no broker.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from referral_bus.contracts import care_events as care
from referral_bus.contracts import events as ev
from referral_bus.contracts import justice_events as justice
from referral_bus.contracts import violence_events as violence
from referral_bus.contracts.base import City, Event, PersonalData
from referral_bus.contracts.bus_records import ReceiptStatus
from referral_bus.contracts.consent import Consent, ConsentSubject
from referral_bus.domain.agencies import Directory
from referral_bus.domain.rejections import cite
from referral_bus.infra.codec.framing import Codec
from referral_bus.infra.codec.registry import EmbeddedRegistry
from referral_bus.infra.settings import Settings
from referral_bus.router.submissions import Submission, SubmissionHandler
from tests.builders import envelope

NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
DAY = date(2026, 5, 1)
CONTRACTS = Path(__file__).resolve().parents[2] / "services" / "referral_bus" / "contracts"

#: (event type, its fields — one rule broken, field the refusal names, paragraph)
ROWS: list[tuple[type[Event], dict[str, Any], str, str]] = [
    # Annex B part 2 and 6.74(a)/6.78(a): a field's own validator (the age types of contracts/base.py)
    (ev.ReferralMade, {"referral_kind": ev.ReferralKind.CHILD_PROTECTION, "city": City.ALMATY,
                       "child_age_years": 19}, "child_age_years", "part 2"),
    (care.MedicalExaminationConsentRecorded,
     {"consent": Consent.model_construct(subject=ConsentSubject.MEDICAL_EXAMINATION, child_age_years=18)},
     "consent.child_age_years", "part 2"),
    (ev.ChildAgeRecorded, {"child_age_years": 19, "reason": ev.AgeRecordReason.BIRTHDAY}, "child_age_years",
     "6.74(a), 6.78(a)"),
    # whole-record rules
    (ev.ReferralMade, {"referral_kind": ev.ReferralKind.CHILD_PROTECTION, "city": City.ALMATY, "child_age_years": 9,
                       "personal_data": PersonalData(child_date_of_birth=date(1990, 1, 1))},
     "personal_data.child_date_of_birth", "part 2"),
    (ev.ReferralMade, {"referral_kind": ev.ReferralKind.NGO_SUPPORT, "city": City.ALMATY, "child_age_years": 9,
                       "services_requested": []}, "services_requested", "Part 8, section E"),
    (ev.NGODecision, {"decision": ev.NGODecisionKind.DECLINED_NO_SPACE}, "reasons", "5.19"),
    (care.AgeAssessmentCompleted, {"claimed_age_years": 15, "assessed_min_age_years": 17,
                                   "assessed_max_age_years": 16, "conclusive": False},
     "assessed_min_age_years", "6.10"),
    (care.AgeAssessmentCompleted, {"claimed_age_years": 15, "assessed_min_age_years": 16,
                                   "assessed_max_age_years": 18, "conclusive": True}, "conclusive", "6.11"),
    (care.MedicalExaminationConsentRecorded,
     {"consent": Consent(subject=ConsentSubject.LEGAL_SERVICES, child_age_years=12)}, "consent.subject", "6.14"),
    (care.TemporaryCareRecommended, {"recommended_form": care.TemporaryCareForm.FAMILY_BASED,
                                     "decision_body": "ministry"}, "decision_body", "6.16"),
    (care.TemporaryCareDecided, {"placement_necessary": True}, "form", "6.17(b)"),
    (care.TemporaryCareDecided, {"placement_necessary": True, "form": care.TemporaryCareForm.FAMILY_BASED,
                                 "siblings_separated": True}, "siblings_separation_reason", "6.18(c)"),
    (care.ChildProtectionPlanFinalised, {"plan_id": "P-1", "meeting_id": "M-1", "commences_on": DAY,
                                         "first_review_by": DAY + timedelta(days=31)}, "first_review_by", "6.41(d)"),
    (care.ReviewRecommendationsRejected, {"plan_kind": care.PlanKind.CHILD_PROTECTION_PLAN, "meeting_id": "M-1",
                                          "reasons": "  "}, "reasons", "6.48, 6.76"),
    (care.CarePlanAgreed, {"care_plan_id": "CP-1", "placement": care.CarePlacement.KINSHIP, "commences_on": DAY,
                           "first_review_by": DAY + timedelta(days=29)}, "first_review_by", "6.54(g), 6.62"),
    (care.CarePlanReviewed, {"care_plan_id": "CP-1", "meeting_id": "M-1",
                             "decision": care.CarePlanDecision.NO_LONGER_NECESSARY}, "ground", "6.74"),
    (justice.ChildInterviewed, {"child_role": justice.ChildRole.VICTIM, "professionals_present": []},
     "professionals_present", "6.7"),
    (justice.ProceedingsTerminated, {"criminal_case_ref": "CR-1", "legal_basis": " "}, "legal_basis", "seed 003"),
    (violence.FollowUpRecorded, {"follow_up_of": violence.FollowUpOf.SCHOOL_FLAG,
                                 "outcome": violence.FollowUpOutcome.NO_FURTHER_ACTION}, "reason", "seed 002"),
    # issue 15
    (care.MedicalExaminationConsentRecorded,
     {"consent": Consent(subject=ConsentSubject.MEDICAL_EXAMINATION, child_age_years=12), "decision_body": "ministry"},
     "decision_body", "6.15"),
    (care.ChildProtectionPlanFinalised, {"plan_id": "P-1", "meeting_id": "M-1", "commences_on": DAY,
                                         "first_review_by": DAY + timedelta(days=20), "return_abroad": True,
                                         "return_bars_checked": True,
                                         "return_bars": [care.ReturnBar.ASYLUM_SEEKER_OR_REFUGEE]},
     "return_bars", "6.58"),
    (care.ChildProtectionPlanFinalised, {"plan_id": "P-1", "meeting_id": "M-1", "commences_on": DAY,
                                         "first_review_by": DAY + timedelta(days=20),
                                         "return_bars": [care.ReturnBar.ASYLUM_SEEKER_OR_REFUGEE]},
     "return_bars_checked", "6.58"),
    (care.ChildLeftCare, {"care_plan_id": "CP-1", "after_care_agency_id": "social-protection-almaty",
                          "turned_18": True, "child_protection_plan_to_follow": True},
     "child_protection_plan_to_follow", "6.75(c)"),
    (ev.MeetingInformationShared, {"meeting_id": "M-1", "covers": []}, "covers", "6.33"),
    (ev.MeetingInformationShared, {"meeting_id": "M-1", "covers": [ev.MeetingInformationItem.CHRONOLOGY] * 2},
     "covers", "6.33"),
    (ev.CaseClosed, {"ground": ev.ClosureGround.NO_CONCERN_FOUND, "support_services_agency_id": "ngo-rodnik"},
     "support_services_agency_id", "6.51"),
    (ev.NGODecision, {"decision": ev.NGODecisionKind.DECLINED_NO_SPACE, "reasons": "no place this term",
                      "refer_to_health_authorities": True}, "refer_to_health_authorities", "5.13"),
    (violence.MedicalWrittenNoticeSent, {"attends_school": False, "school_agency_id": "school-almaty-no-38"},
     "school_agency_id", "seed 002 SOP (2020)"),
    (violence.MultidisciplinaryEvaluationCompleted, {"violence_confirmed": False,
                                                     "responsible_agency_id": "cam-almaty"},
     "responsible_agency_id", "seed 002 SOP (2020)"),
]


@pytest.fixture(scope="module")
def codec() -> Codec:
    return Codec(EmbeddedRegistry.from_directory(Settings().schemas_dir))


@pytest.fixture
def handler(codec: Codec, directory: Directory) -> SubmissionHandler:
    return SubmissionHandler(codec, directory, {"rb.ingress.cam-almaty": "cam-almaty"}, max_event_bytes=8192,
                             max_clock_skew=timedelta(minutes=5), clock=lambda: NOW)


def carelessly_encoded(codec: Codec, model: type[Event], fields: dict[str, Any]) -> bytes:
    """The bytes an agency's encoder that skips the model's rules would send (Avro carries them)."""
    event = model.model_construct(envelope=envelope(model, "C-1", "cam-almaty", at=NOW - timedelta(hours=1)),
                                  **fields)
    return codec.encode(event)


@pytest.mark.parametrize(("model", "fields", "field", "paragraph"), ROWS,
                         ids=[f"{m.__name__}.{f}-{p}" for m, _, f, p in ROWS])
def test_a_refusal_found_by_a_contract_rule_names_its_paragraph(
        handler: SubmissionHandler, codec: Codec, model: type[Event], fields: dict[str, Any], field: str,
        paragraph: str) -> None:
    out = handler.handle(Submission("rb.ingress.cam-almaty", 0, 7, b"C-1", carelessly_encoded(codec, model, fields)))
    receipt, dead = out.receipt, out.dead_letter
    assert receipt.status is ReceiptStatus.REJECTED and receipt.reason_code == "SCHEMA_INVALID"
    assert (receipt.field, receipt.paragraph) == (field, paragraph)
    assert dead is not None and (dead.field, dead.paragraph) == (field, paragraph)
    assert receipt.reason == dead.reason
    # the text cites the paragraph once, as the router's own refusals do
    assert receipt.reason is not None and receipt.reason.endswith(f"({cite(paragraph)})")
    assert receipt.reason.count(paragraph) == 1


def test_a_refusal_without_a_paragraph_leaves_the_field_empty(handler: SubmissionHandler, codec: Codec) -> None:
    """A domain check the protocol does not state (a probation order lasts some months) names none."""
    value = carelessly_encoded(codec, justice.ProbationOrdered, {"criminal_case_ref": "CR-1", "duration_months": 0})
    out = handler.handle(Submission("rb.ingress.cam-almaty", 0, 8, b"C-1", value))
    assert out.receipt.reason_code == "SCHEMA_INVALID" and out.receipt.field == "duration_months"
    assert out.receipt.paragraph is None


def _sources() -> dict[str, str]:
    return {path.name: path.read_text() for path in sorted(CONTRACTS.glob("*.py"))}


def test_every_contract_rule_citing_a_paragraph_states_it_as_a_rule_violation() -> None:
    """A ``ValueError`` whose text cites a paragraph would leave the structured field empty: the
    contracts raise ``RuleViolation(rule, paragraph, field=…)`` instead."""
    citing = re.compile(r"raise ValueError\((?:[^()]|\([^()]*\))*?\((?:Annex B|seed \d|Part \d|\d+\.\d+)", re.S)
    found = {name: citing.findall(text) for name, text in _sources().items()}
    assert {name: hits for name, hits in found.items() if hits} == {}


def test_the_table_covers_every_whole_record_rule() -> None:
    """One row above per ``raise RuleViolation(`` in the contracts (the age types raise theirs from
    one helper, ``_bounded``, covered by the first three rows)."""
    raised = sum(text.count("raise RuleViolation(") for text in _sources().values())
    whole_record_rows = len(ROWS) - 3
    assert raised - 1 == whole_record_rows  # minus the one in _bounded
