"""Consent rules (5.9(c)–(d), 5.12(d), 6.14–6.15, 7.17): who must consent at which age."""

from __future__ import annotations

import pytest

from referral_bus.contracts.consent import Consent, ConsentSubject
from referral_bus.domain.consent import consent_problems

MEDICAL, LEGAL, PSYCH = (ConsentSubject.MEDICAL_EXAMINATION, ConsentSubject.LEGAL_SERVICES,
                         ConsentSubject.PSYCHOLOGICAL_COUNSELLING)


@pytest.mark.parametrize(("subject", "fields", "ok"), [
    (MEDICAL, dict(child_age_years=16, child_consented=True, in_writing=True), True),
    (MEDICAL, dict(child_age_years=16, parent_consented=True, in_writing=True), False),       # 6.14(b): the child's
    (MEDICAL, dict(child_age_years=12, parent_consented=True, in_writing=True), True),        # 6.14(a)
    (MEDICAL, dict(child_age_years=12, parent_consented=True), False),                       # not in writing
    (MEDICAL, dict(child_age_years=12, parent_consented=False, child_has_sufficient_maturity=True,
                   child_consented=True, in_writing=True), True),                            # 6.15 mature child
    (MEDICAL, dict(child_age_years=8, parent_consented=False, child_has_sufficient_maturity=False,
                   in_writing=True), False),                                                 # 6.15: application
    (MEDICAL, dict(child_age_years=8, parent_consented=False, child_has_sufficient_maturity=False,
                   authority_approved=True, in_writing=True), True),                         # 6.15: granted
    (LEGAL, dict(child_age_years=17, child_consented=True, in_writing=True), True),           # 5.9(c)
    (LEGAL, dict(child_age_years=14, parent_consented=True, child_has_sufficient_maturity=True,
                 in_writing=True), False),                                                   # 5.9(d): child too
    (LEGAL, dict(child_age_years=14, parent_consented=True, child_has_sufficient_maturity=True,
                 child_consented=True, in_writing=True), True),
    (LEGAL, dict(child_age_years=5, parent_consented=True, child_has_sufficient_maturity=False, in_writing=True), True),
    (PSYCH, dict(child_age_years=15, child_consented=True), False),                          # 5.12(d): parent too
    (PSYCH, dict(child_age_years=15, child_consented=True, parent_consented=True), True),
    (PSYCH, dict(child_age_years=16, child_consented=False, parent_consented=True), False),  # 7.17
])
def test_consent_rules(subject: ConsentSubject, fields: dict, ok: bool) -> None:
    problems = consent_problems(Consent(subject=subject, **fields))
    assert (problems == []) is ok, problems
    assert all("(" in p for p in problems)   # every problem names its paragraph
