"""Case events of the NGO's programme beyond the first steps (Annex B of seed 001, Part 7, and the
admission criteria of 5.9, 5.12, 5.13): consent, legal advice, monthly progress from service
providers, and the NGO closing its file."""

from __future__ import annotations

from enum import Enum
from uuid import UUID

from pydantic import Field

from referral_bus.contracts.base import AgencyId, AwareDatetime, Event, PersonalText
from referral_bus.contracts.consent import Consent


class NGOConsentRecorded(Event):
    """5.9(c)–(d), 5.12(d), 7.17–7.18: the consents the NGO obtained (or did not) for legal services
    or psychological counselling. Withheld consent for counselling is reported to the referrer (7.17)."""

    consent: Consent = Field(
        description="5.9(c)–(d), 5.12(d), 7.17: the consents the NGO obtained, or not; subject LEGAL_SERVICES or "
                    "PSYCHOLOGICAL_COUNSELLING")


class NGOLegalAdviceProvided(Event):
    """7.14: the NGO lawyer's written legal advice, within 11 business days of the NGO's receipt of
    the referral request."""

    advocacy_power_of_attorney_signed: bool = Field(default=False, description="7.12(e): for legal advocacy")


class ServiceProgressReported(Event):
    """7.8–7.9: a service provider that signed the service plan reports the child's or family's
    progress to the NGO, at least every month."""

    ngo_agency_id: AgencyId = Field(description="The NGO coordinating the service plan")
    service: PersonalText = Field(description="The service reported on (7.6), e.g. 'school enrolment'")
    consent_withdrawn: bool = Field(default=False, description="7.10: the child or family withdrew consent to "
                                                               "this service; the provider tells the NGO")
    consent_withdrawn_at: AwareDatetime | None = Field(
        default=None, description="7.10: when the child or family withdrew consent; the provider tells the NGO 'as "
                                  "soon as possible' after it (operator's threshold). Only with consent_withdrawn, "
                                  "not after the report (occurred_at)")


class ServiceRequested(Event):
    """7.7: the NGO asks a government body, institution or provider whether it can provide a service
    the child or family needs; the provider's agreement is its signature on the plan (7.8)."""

    provider_agency_id: AgencyId = Field(
        description="7.7: the agency (from agencies.yaml) asked whether it can provide the service; it receives the "
                    "request and agrees by signing the plan (ServicePlanSigned, 7.8)")
    service: PersonalText = Field(description="The service (7.6), e.g. 'remedial education'")


class ServicePlanSigned(Event):
    """7.8–7.9: a service provider signs the NGO's service plan itself — its agreement to provide the
    services (7.8) or its written consent to an amended plan (7.9). Published by the provider, only
    for the plan in force that lists it; delivered to the NGO. A provider on an amended plan reports
    progress only once it has signed it."""

    ngo_agency_id: AgencyId = Field(description="The NGO coordinating the service plan")
    service_plan_event_id: UUID = Field(description="The envelope.event_id of the ServicePlanAgreed signed: the "
                                                    "NGO's plan in force")


class NGOCaseClosureReason(str, Enum):
    GOALS_MET = "GOALS_MET"                         # 7.10, 7.19
    CONSENT_WITHDRAWN = "CONSENT_WITHDRAWN"         # 7.10
    LEGAL_MATTER_CONCLUDED = "LEGAL_MATTER_CONCLUDED"  # 7.15
    CONSENT_NOT_OBTAINED = "CONSENT_NOT_OBTAINED"   # 7.17


class NGOCaseClosed(Event):
    """7.10, 7.15, 7.19: the NGO closes its case file; the referrer and the service providers are told."""

    reason: NGOCaseClosureReason = Field(
        description="Why the NGO closes its file: goals met (7.10, 7.19), consent withdrawn (7.10), legal matter "
                    "concluded (7.15) or consent not obtained (7.17)")


EVENTS: tuple[type[Event], ...] = (
    NGOConsentRecorded, NGOLegalAdviceProvided, ServiceRequested, ServiceProgressReported, NGOCaseClosed,
    ServicePlanSigned,
)
