"""``history`` prints no free text that may name a person: like ``personal_data``, such a field
shows only that it was filled in (issue 12, item 4)."""

from __future__ import annotations

import json

from referral_bus.auditor.history import CaseHistory
from referral_bus.contracts.base import City
from referral_bus.contracts.events import NGODecision, NGODecisionKind, ReferralKind, ReferralMade
from tests.builders import FICTIONAL, envelope, on_log


def test_history_withholds_personal_free_text() -> None:
    referral = on_log(ReferralMade(envelope=envelope(ReferralMade, "C-1", "school-almaty"), city=City.ALMATY,
                                   referral_kind=ReferralKind.CHILD_PROTECTION, child_age_years=7,
                                   referring_body="teacher of Test Child", personal_data=FICTIONAL), 1)
    accepted = on_log(NGODecision(envelope=envelope(NGODecision, "C-1", "ngo-rodnik"),
                                  decision=NGODecisionKind.ACCEPTED), 2)
    rows = CaseHistory("C-1", None, events=[referral, accepted]).timeline()
    assert rows[0]["fields"]["referring_body"] == "withheld" and rows[0]["personal_data"] == "withheld"
    assert rows[0]["fields"]["child_age_years"] == 7
    assert rows[1]["fields"]["reasons"] is None and rows[1]["fields"]["decision"] == "ACCEPTED"
    assert "Test Child" not in json.dumps(rows)
