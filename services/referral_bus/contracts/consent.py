"""Consent as the protocol asks for it (5.9(c)–(d), 5.12(d), 6.14–6.15, 7.17): who consented, in
writing or not, and the child's maturity. Whether it suffices is domain logic
(``domain/consent.py``); this record only states the facts."""

from __future__ import annotations

from enum import Enum

from pydantic import Field

from referral_bus.contracts.base import ChildAge, Record


class ConsentSubject(str, Enum):
    MEDICAL_EXAMINATION = "MEDICAL_EXAMINATION"          # 6.14–6.15
    LEGAL_SERVICES = "LEGAL_SERVICES"                    # 5.9(c)–(d)
    PSYCHOLOGICAL_COUNSELLING = "PSYCHOLOGICAL_COUNSELLING"  # 5.12(d), 7.17


class Consent(Record):
    """The consents obtained for one purpose. ``None`` = not asked (yet)."""

    subject: ConsentSubject = Field(
        description="What the consent is for: a medical examination (6.14–6.15), legal services (5.9(c)–(d)) or "
                    "psychological counselling (5.12(d), 7.17)")
    child_age_years: ChildAge = Field(description="The child's age when consent was sought (16 is the threshold)")
    child_consented: bool | None = Field(
        default=None, description="The child's own consent: true given, false refused, null not asked (yet); "
                                  "sufficient from 16, or below 16 with sufficient maturity (6.14–6.15)")
    child_has_sufficient_maturity: bool | None = Field(
        default=None, description="6.15: decided by the examining doctor; 5.9/5.12: by the NGO")
    parent_consented: bool | None = Field(default=None, description="The parent's or legal representative's consent")
    in_writing: bool = Field(default=False, description="5.9 and 6.14 ask for prior written consent")
    authority_approved: bool = Field(
        default=False, description="6.15: the Guardianship/Court granted the CAM/CSC Manager's application")
