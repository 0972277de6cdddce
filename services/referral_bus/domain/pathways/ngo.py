"""The NGO programme beyond the first steps (Annex B 5.9–5.13, 7.8–7.19): admission advice on the
referral, the referral to the health authorities (5.13), consent, the referrer's agreement to the
psychologist's meeting (7.16), counselling after the police statement (7.18), legal advice, the
providers' signatures and progress reports (7.8–7.9), closure of the NGO file."""

from __future__ import annotations

from referral_bus.contracts.consent import ConsentSubject
from referral_bus.contracts.events import (
    AssessmentOutcome,
    LegalMatter,
    NGODecision,
    NGODecisionKind,
    NGOFirstContactMade,
    NGOInitialMeetingHeld,
    NGOStaffRole,
    ReferralMade,
    ServicePlanAgreed,
    SupportService,
)
from referral_bus.contracts.justice_events import ChildInterviewed
from referral_bus.contracts.ngo_events import (
    NGOCaseClosed,
    NGOCaseClosureReason,
    NGOConsentRecorded,
    NGOLegalAdviceProvided,
    ServicePlanSigned,
    ServiceProgressReported,
    ServiceRequested,
)
from referral_bus.domain.agencies import AgencyKind, Directory
from referral_bus.domain.case_state import CaseState
from referral_bus.domain.consent import ADULT_CONSENT_AGE, consent_problems
from referral_bus.domain.deliveries import Delivery, agency_of
from referral_bus.domain.pathways.base import (
    ANYONE,
    BY_NGO,
    Step,
    city_of,
    illegal,
    to_referrers,
)
from referral_bus.domain.rejections import Code, Rejection

_CONSENT_FOR_ROLE = {NGOStaffRole.LAWYER: ConsentSubject.LEGAL_SERVICES,
                     NGOStaffRole.PSYCHOLOGIST: ConsentSubject.PSYCHOLOGICAL_COUNSELLING}


def admission_advice(referral: ReferralMade, producer_kind: str | None = None) -> tuple[str, ...]:
    """The NGO's admission criteria (5.9, 5.12, 5.13) checked against the referral request, as advice
    for the programme coordinator who decides (5.18) — the bus never decides eligibility itself."""
    advice: list[str] = []
    services = set(referral.services_requested)
    if not referral.affected_by_migration:
        advice.append("5.1, 5.12(a): the programme serves children affected by migration; the referral says "
                      "the child is not one")
    if not referral.child_located_in_city:
        advice.append("5.9(b), 5.12(b): the child is not located in the City/Oblast; legal services only in "
                      "exceptional circumstances")
    if SupportService.LEGAL in services:
        matters = set(referral.legal_matters)
        if not matters:
            advice.append("5.9(a): no legal matter is named; the NGO takes on migration status or documentation, "
                          "access to State services, charges based on migration status, safe return")
        if LegalMatter.OTHER in matters:
            advice.append("5.9(a): a legal matter outside the NGO's scope was named")
        if LegalMatter.SAFE_RETURN in matters and producer_kind != "cam-csc":
            advice.append("5.6, 5.9(a): safe-return services are provided at the CAM/CSC's request after a best "
                          "interests determination")
        if referral.already_represented:
            advice.append("5.7: the NGO does not advise on a matter a lawyer already handles for the child")
        advice.append("5.9(c)" if referral.child_age_years >= ADULT_CONSENT_AGE else "5.9(d)")
        advice[-1] += ": the NGO obtains written consent — " + (
            "the child's own" if referral.child_age_years >= ADULT_CONSENT_AGE
            else "the parent's, and the child's if of sufficient age and maturity")
    if SupportService.PSYCHOLOGICAL in services:
        if referral.complex_mental_health_needs:
            advice.append("5.13: complex or serious mental health needs are referred to the local health "
                          "authorities, not the NGO")
        advice.append("5.12(d): the NGO obtains the child's consent" +
                      (" and the parent's (under 16)" if referral.child_age_years < ADULT_CONSENT_AGE else ""))
    return tuple(advice)


def check_on_behalf_of(referral: ReferralMade, producer_kind: AgencyKind | None, directory: Directory) -> None:
    """5.14–5.17, Part 8: only the NGO's coordinator records an oral request for another referrer."""
    if producer_kind is not AgencyKind.NGO:
        raise Rejection(Code.AGENCY_NOT_ALLOWED, "only the NGO's programme coordinator records an oral referral "
                        "request on behalf of a referrer", paragraph="5.16–5.17", field="on_behalf_of_agency_id")
    if directory.get(referral.on_behalf_of_agency_id or "") is None:
        raise Rejection(Code.NO_RECIPIENT, f"referrer {referral.on_behalf_of_agency_id!r} is not in the directory",
                        paragraph="5.18", field="on_behalf_of_agency_id")


def _ngo_of_case(producer: str, state: CaseState, paragraph: str) -> None:
    if producer not in state.ngo_referrals_pending.values() and producer not in state.ngo_accepted:
        raise illegal(f"{producer} has no referral request on this case", paragraph)


def _check_consent(event: NGOConsentRecorded, state: CaseState) -> None:
    if event.consent.subject is ConsentSubject.MEDICAL_EXAMINATION:
        raise Rejection(Code.ILLEGAL_TRANSITION, "medical examination consent is recorded by the CAM/CSC or police "
                        "(MedicalExaminationConsentRecorded)", paragraph="6.14", field="consent.subject")
    _ngo_of_case(event.envelope.producer.agency_id, state, "5.9, 5.12")


def _apply_consent(event: NGOConsentRecorded, state: CaseState, directory: Directory | None = None) -> None:
    key = (event.envelope.producer.agency_id, event.consent.subject)
    state.ngo.consent_problems[key] = consent_problems(event.consent)


def _route_consent(event: NGOConsentRecorded, state: CaseState, directory: Directory) -> list[Delivery]:
    """7.17: the referrer is told when the consents for counselling were not obtained."""
    referrer = state.ngo_referrers.get(event.envelope.producer.agency_id)
    if referrer and event.consent.subject is ConsentSubject.PSYCHOLOGICAL_COUNSELLING \
            and consent_problems(event.consent):
        return [Delivery(referrer, "7.17", "outcome", redacted=True)]
    return []


def check_service_plan(event: ServicePlanAgreed, state: CaseState) -> None:
    """7.18, 5.9: a therapy plan or legal service plan needs the relevant consents first; a therapy
    plan for a child victim or witness, the child's statement to the police (7.18)."""
    subject = _CONSENT_FOR_ROLE.get(event.by_role)
    producer = event.envelope.producer.agency_id
    if subject is not None and not state.ngo.consent_ok(producer, subject):
        problems = state.ngo.consent_problems.get((producer, subject))
        detail = "; ".join(problems) if problems else "no consent is recorded"
        raise illegal(f"the relevant consents are provided first: {detail}",
                      "7.18" if subject is ConsentSubject.PSYCHOLOGICAL_COUNSELLING else "5.9(c)–(d)", "by_role")
    if event.by_role is NGOStaffRole.PSYCHOLOGIST:
        check_statement_before_counselling(event, state)


#: 7.18: the event that records the child's statement (an interview of the child, 6.5–6.7, seed 003)
_STATEMENT = ChildInterviewed.event_type()


def check_statement_before_counselling(event: ServicePlanAgreed, state: CaseState) -> None:
    """7.18: a child victim or witness in criminal proceedings — as the plan says, or while a
    criminal case about harm to the child is open on this case (6.25) — starts counselling only
    after giving the statement to the police (a ``ChildInterviewed`` on the case log), unless the
    prosecutor and the police handling the case agreed to an earlier start."""
    if not (event.child_victim_or_witness or state.open_criminal_cases) or _STATEMENT in state.event_types:
        return
    missing = [f for f, agreed in (("prosecutor_agreed_early_counselling", event.prosecutor_agreed_early_counselling),
                                   ("police_agreed_early_counselling", event.police_agreed_early_counselling))
               if not agreed]
    if missing:
        raise illegal("a child victim or witness starts counselling only after giving the statement to the police "
                      "(no ChildInterviewed on this case), unless the prosecutor and the police handling the case "
                      "agree to an earlier start", "7.18", missing[0])


def _apply_service_plan(event: ServicePlanAgreed, state: CaseState, directory: Directory | None = None) -> None:
    ngo = event.envelope.producer.agency_id
    # 7.9: a plan replacing one in force is an amended plan: its providers' written consent is owed
    if ngo in state.ngo.service_providers and ngo not in state.ngo.closed:
        state.ngo.amended.add(ngo)
    else:
        state.ngo.amended.discard(ngo)
    state.ngo.service_providers[ngo] = list(event.service_provider_agency_ids)
    state.ngo.plan_in_force[ngo] = event.envelope.event_id
    state.ngo.signed[ngo] = set()


# -- 5.18–5.20, 7.1–7.3: the NGO decides, meets the child, agrees the service plan --------------------
def _check_decision(event: NGODecision, state: CaseState) -> None:
    producer = event.envelope.producer.agency_id
    if producer not in state.ngo_referrals_pending.values():
        raise illegal(f"no referral request to {producer} awaits a decision on this case", "5.18")


def _apply_decision(event: NGODecision, state: CaseState, directory: Directory | None = None) -> None:
    producer = event.envelope.producer.agency_id
    if event.decision is NGODecisionKind.ACCEPTED:
        state.ngo_accepted.add(producer)
    for referral_id, ngo_id in list(state.ngo_referrals_pending.items()):
        if ngo_id == producer:
            del state.ngo_referrals_pending[referral_id]
            break


def _route_decision(event: NGODecision, state: CaseState, directory: Directory) -> list[Delivery]:
    out = []
    referrer = state.ngo_referrers.get(event.envelope.producer.agency_id)
    health = agency_of(directory, AgencyKind.HEALTH, city_of(event, state), "5.13") \
        if event.refer_to_health_authorities else None
    if referrer:
        advice = (f"5.13: the NGO referred the child to the local health authorities ({health})",) if health else ()
        out.append(Delivery(referrer, "5.18–5.20", "outcome", redacted=True, advice=advice))
    if health:
        # 5.13: complex or serious mental health needs: the local health authorities take the case on
        out.append(Delivery(health, "5.13", "referral"))
    if event.decision is NGODecisionKind.ACCEPTED \
            and state.initial_assessment is AssessmentOutcome.DIFFICULT_LIFE_SITUATION:
        # 6.23: the child protection referrer learns the child was referred to and accepted by the NGO
        out += to_referrers(state, "6.23")
    return out


def _check_on_programme(event: NGOFirstContactMade | NGOInitialMeetingHeld | ServicePlanAgreed,
                        state: CaseState) -> None:
    producer = event.envelope.producer.agency_id
    if producer not in state.ngo_accepted:
        raise illegal(f"{producer} has not accepted this case onto its programme (5.20)", "7.1")


def _check_initial_meeting(event: NGOInitialMeetingHeld, state: CaseState) -> None:
    _check_on_programme(event, state)
    if event.by_role is NGOStaffRole.PSYCHOLOGIST and not event.agreed_with_referrer:
        raise illegal("counselling only: the psychologist's initial meeting with the child and family is arranged if "
                      "agreed with the professional who made the referral request", "7.16", "agreed_with_referrer")


def _apply_initial_meeting(event: NGOInitialMeetingHeld, state: CaseState, directory: Directory | None = None) -> None:
    state.ngo_initial_meetings.add(event.envelope.producer.agency_id)


def _check_plan(event: ServicePlanAgreed, state: CaseState) -> None:
    _check_on_programme(event, state)
    if event.envelope.producer.agency_id not in state.ngo_initial_meetings:
        raise illegal("the service plan follows the initial meeting with the child and family", "7.3")
    check_service_plan(event, state)


def _route_plan(event: ServicePlanAgreed, state: CaseState, directory: Directory) -> list[Delivery]:
    unknown = [a for a in event.service_provider_agency_ids if directory.get(a) is None]
    if unknown:
        raise Rejection(Code.NO_RECIPIENT, f"service provider {unknown[0]!r} is not in the directory",
                        paragraph="7.8", field="service_provider_agency_ids")
    ngo = event.envelope.producer.agency_id
    # 7.8: the providers sign the plan; 7.9: an amended plan asks for their written consent (ServicePlanSigned)
    amends = ngo in state.ngo.service_providers and ngo not in state.ngo.closed
    out = [Delivery(a, "7.9", "amended plan") if amends else Delivery(a, "7.8", "plan")
           for a in event.service_provider_agency_ids]
    # 7.9–7.10: a revised plan no longer using a provider tells it, so it stops the service
    earlier = state.ngo.service_providers.get(ngo, [])
    return out + [Delivery(a, "7.9–7.10", "service ended") for a in earlier
                  if a not in event.service_provider_agency_ids]


def _check_legal_advice(event: NGOLegalAdviceProvided, state: CaseState) -> None:
    producer = event.envelope.producer.agency_id
    if producer not in state.ngo_accepted:
        raise illegal(f"{producer} has not accepted this case onto its programme (5.20)", "7.14")
    if not state.ngo.consent_ok(producer, ConsentSubject.LEGAL_SERVICES):
        raise illegal("written consent to legal services is obtained before advice is given", "5.9(c)–(d), 7.14")


def _check_progress(event: ServiceProgressReported, state: CaseState) -> None:
    providers = state.ngo.service_providers.get(event.ngo_agency_id)
    if providers is None or event.ngo_agency_id in state.ngo.closed:
        raise illegal(f"{event.ngo_agency_id} has no service plan in force on this case", "7.9", "ngo_agency_id")
    if event.envelope.producer.agency_id not in providers:
        raise Rejection(Code.AGENCY_NOT_ALLOWED, f"{event.envelope.producer.agency_id} did not sign the service "
                        "plan as a provider", paragraph="7.8", field="envelope.producer.agency_id")
    if event.ngo_agency_id in state.ngo.amended and not event.consent_withdrawn \
            and event.envelope.producer.agency_id not in state.ngo.signed.get(event.ngo_agency_id, set()):
        # a withdrawal of consent (7.10) is told at once, signed or not
        raise illegal("the service plan was amended: the provider gives its written consent to the amended plan "
                      "(ServicePlanSigned) before its progress reports count", "7.9", "envelope.producer.agency_id")
    if event.consent_withdrawn_at is not None:
        if not event.consent_withdrawn:
            raise illegal("consent_withdrawn_at is the moment consent was withdrawn: set consent_withdrawn too",
                          "7.10", "consent_withdrawn_at")
        if event.consent_withdrawn_at > event.envelope.occurred_at:
            raise illegal("consent_withdrawn_at is after the report (occurred_at): the provider reports a withdrawal "
                          "that has happened", "7.10", "consent_withdrawn_at")


def _route_progress(event: ServiceProgressReported, state: CaseState, directory: Directory) -> list[Delivery]:
    if event.consent_withdrawn:   # 7.10: so the NGO can understand why and adjust, or stop the service
        return [Delivery(event.ngo_agency_id, "7.10", "consent withdrawn")]
    return [Delivery(event.ngo_agency_id, "7.9", "progress")]


def _check_signed(event: ServicePlanSigned, state: CaseState) -> None:
    """7.8–7.9: a provider signs the NGO's plan in force, and only if the plan lists it."""
    ngo, producer = event.ngo_agency_id, event.envelope.producer.agency_id
    in_force = state.ngo.plan_in_force.get(ngo)
    if in_force is None or ngo in state.ngo.closed:
        raise illegal(f"{ngo} has no service plan in force on this case", "7.8–7.9", "ngo_agency_id")
    if event.service_plan_event_id != in_force:
        raise illegal("the service plan named is not the NGO's plan in force: sign the latest one", "7.8–7.9",
                      "service_plan_event_id")
    if producer not in state.ngo.service_providers.get(ngo, []):
        raise Rejection(Code.AGENCY_NOT_ALLOWED, f"{producer} is not a service provider on the plan",
                        paragraph="7.8", field="envelope.producer.agency_id")
    if producer in state.ngo.signed.get(ngo, set()):
        raise illegal(f"{producer} already signed this service plan", "7.8–7.9", "service_plan_event_id")


def _apply_signed(event: ServicePlanSigned, state: CaseState, directory: Directory | None = None) -> None:
    state.ngo.signed.setdefault(event.ngo_agency_id, set()).add(event.envelope.producer.agency_id)


def _route_signed(event: ServicePlanSigned, state: CaseState, directory: Directory) -> list[Delivery]:
    """The NGO social worker receives the signature (7.8) or the written consent to the amended plan (7.9)."""
    amended = event.ngo_agency_id in state.ngo.amended
    return [Delivery(event.ngo_agency_id, "7.9" if amended else "7.8",
                     "written consent to the amended plan" if amended else "signature")]


def _check_service_request(event: ServiceRequested, state: CaseState) -> None:
    producer = event.envelope.producer.agency_id
    if producer not in state.ngo_accepted:
        raise illegal(f"{producer} has not accepted this case onto its programme (5.20)", "7.7")


def _route_service_request(event: ServiceRequested, state: CaseState, directory: Directory) -> list[Delivery]:
    if directory.get(event.provider_agency_id) is None:
        raise Rejection(Code.NO_RECIPIENT, f"provider {event.provider_agency_id!r} is not in the directory",
                        paragraph="7.7", field="provider_agency_id")
    return [Delivery(event.provider_agency_id, "7.7", "service request")]


def _check_ngo_closed(event: NGOCaseClosed, state: CaseState) -> None:
    producer = event.envelope.producer.agency_id
    _ngo_of_case(producer, state, "7.10")
    if event.reason is NGOCaseClosureReason.CONSENT_NOT_OBTAINED and producer in state.ngo_accepted \
            and not any(p for (ngo, _), p in state.ngo.consent_problems.items() if ngo == producer):
        raise illegal("closing for want of consent needs a consent record showing it was not obtained", "7.17",
                      "reason")


def _apply_ngo_closed(event: NGOCaseClosed, state: CaseState, directory: Directory | None = None) -> None:
    producer = event.envelope.producer.agency_id
    state.ngo.closed.add(producer)
    state.ngo_accepted.discard(producer)
    for referral_id, ngo_id in list(state.ngo_referrals_pending.items()):
        if ngo_id == producer:
            del state.ngo_referrals_pending[referral_id]


def _route_ngo_closed(event: NGOCaseClosed, state: CaseState, directory: Directory) -> list[Delivery]:
    producer = event.envelope.producer.agency_id
    out = [Delivery(a, "7.10", "notification") for a in state.ngo.service_providers.get(producer, [])]
    referrer = state.ngo_referrers.get(producer)
    if referrer:
        out.append(Delivery(referrer, "7.10, 7.15, 7.17, 7.19", "outcome", redacted=True))
    return out


STEPS: tuple[Step, ...] = (
    Step(NGODecision, BY_NGO, "5.18", check=_check_decision, apply=_apply_decision, route=_route_decision),
    Step(NGOFirstContactMade, BY_NGO, "7.1", check=_check_on_programme),
    Step(NGOInitialMeetingHeld, BY_NGO, "7.2, 7.16", check=_check_initial_meeting, apply=_apply_initial_meeting),
    Step(ServicePlanAgreed, BY_NGO, "7.3", check=_check_plan, apply=_apply_service_plan, route=_route_plan),
    Step(NGOConsentRecorded, BY_NGO, "5.9(c)–(d), 5.12(d), 7.17",
         check=_check_consent, apply=_apply_consent, route=_route_consent),
    Step(NGOLegalAdviceProvided, BY_NGO, "7.14", check=_check_legal_advice),
    Step(ServiceRequested, BY_NGO, "7.7", check=_check_service_request, route=_route_service_request),
    # a provider that signed the plan (checked as a transition)
    Step(ServiceProgressReported, ANYONE, "7.9", check=_check_progress, route=_route_progress),
    # the provider itself, listed on the plan in force (checked as a transition)
    Step(ServicePlanSigned, ANYONE, "7.8–7.9", check=_check_signed, apply=_apply_signed, route=_route_signed),
    Step(NGOCaseClosed, BY_NGO, "7.10, 7.15, 7.19",
         check=_check_ngo_closed, apply=_apply_ngo_closed, route=_route_ngo_closed),
)
