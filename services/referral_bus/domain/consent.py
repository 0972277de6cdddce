"""Whether the consents obtained suffice, as the protocol words each rule. Pure.

* 6.14–6.15 (medical examination): 16 and over, the child's written consent; under 16, the
  parent's or legal representative's — or, if they refuse, the child's when the doctor finds the
  child mature enough, or else the Guardianship/Court's on the CAM/CSC Manager's application.
* 5.9(c)–(d) (legal services): 16 and over, the child's written consent; under 16, the parent's and
  the child's (if of sufficient age and maturity), in writing.
* 5.12(d), 7.17 (psychological counselling): the child's, and the parent's too if the child is
  under 16. A child too young to consent (not of sufficient maturity) is represented by the parent
  alone — our reading; 5.12(d) is silent on infants.
"""

from __future__ import annotations

from referral_bus.contracts.consent import Consent, ConsentSubject

ADULT_CONSENT_AGE = 16   # 5.9(c), 6.14(b)

PARAGRAPHS = {
    ConsentSubject.MEDICAL_EXAMINATION: "6.14–6.15",
    ConsentSubject.LEGAL_SERVICES: "5.9(c)–(d)",
    ConsentSubject.PSYCHOLOGICAL_COUNSELLING: "5.12(d), 7.17",
}


def consent_problems(consent: Consent) -> list[str]:
    """What is missing for the consent to suffice; empty when it does."""
    child, parent, mature = consent.child_consented, consent.parent_consented, consent.child_has_sufficient_maturity
    over = consent.child_age_years >= ADULT_CONSENT_AGE
    problems: list[str] = []
    if consent.subject is ConsentSubject.MEDICAL_EXAMINATION:
        if not consent.in_writing:
            problems.append("medical examination consent must be prior and written (6.14)")
        if over:
            if child is not True:
                problems.append("a child aged 16 or over gives his/her own written consent (6.14(b))")
        elif parent is not True:
            if parent is False and mature and child is True:
                pass  # 6.15: the mature child's consent suffices when the parent refuses
            elif parent is False and not mature and consent.authority_approved:
                pass  # 6.15: the Guardianship/Court granted the Manager's application
            elif parent is False and not mature:
                problems.append("the parent refused and the child is not mature enough: the CAM/CSC Manager "
                                "applies to the Guardianship/Court (6.15)")
            elif parent is False:
                problems.append("the parent refused: the child's own consent is needed, with the doctor's finding "
                                "that the child is mature enough (6.15)")
            else:
                problems.append("under 16, the parent's or legal representative's written consent is needed (6.14(a))")
    elif consent.subject is ConsentSubject.LEGAL_SERVICES:
        if not consent.in_writing:
            problems.append("consent to legal services is given in writing (5.9(c)–(d))")
        if over:
            if child is not True:
                problems.append("a child aged 16 or over gives his/her own prior informed consent (5.9(c))")
        else:
            if parent is not True:
                problems.append("under 16, the parent's or legal representative's consent is needed (5.9(d))")
            if mature and child is not True:
                problems.append("a child of sufficient age and maturity consents too (5.9(d))")
    else:
        if (over or mature) and child is not True:
            problems.append("the child's prior informed consent is needed (5.12(d))")
        if not over and parent is not True:
            problems.append("under 16, the parent's or legal representative's consent is needed too (5.12(d), 7.17)")
    return problems
