"""Contract validation gives errors that name the field and the paragraph."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from referral_bus.contracts.base import City
from referral_bus.contracts.events import (
    NGODecision,
    NGODecisionKind,
    ReferralKind,
    ReferralMade,
)
from tests.builders import envelope


def test_declined_ngo_decision_needs_reasons_5_19() -> None:
    with pytest.raises(ValidationError, match=r"5\.19"):
        NGODecision(envelope=envelope(NGODecision, "C-1", "ngo-rodnik"), decision=NGODecisionKind.DECLINED_NO_SPACE)


def test_a_child_is_under_18() -> None:
    with pytest.raises(ValidationError, match=r"child_age_years\n.*must be 0–17"):
        ReferralMade(envelope=envelope(ReferralMade, "C-1", "x"), referral_kind=ReferralKind.CHILD_PROTECTION,
                     city=City.ALMATY, child_age_years=18)


def test_ngo_request_names_a_service() -> None:
    with pytest.raises(ValidationError, match="Part 8"):
        ReferralMade(envelope=envelope(ReferralMade, "C-1", "x"), referral_kind=ReferralKind.NGO_SUPPORT,
                     city=City.ALMATY, child_age_years=10)


@pytest.mark.parametrize("bad", ["ab", "has space", "x" * 65, "Иван-Петров"])
def test_case_id_is_an_opaque_token(bad: str) -> None:
    with pytest.raises(ValidationError, match="case_id"):
        envelope(ReferralMade, bad, "x")


def test_event_type_must_match_record() -> None:
    env = envelope(NGODecision, "C-1", "x")
    with pytest.raises(ValidationError, match="envelope.event_type is 'NGODecision'"):
        ReferralMade(envelope=env, referral_kind=ReferralKind.CHILD_PROTECTION, city=City.ALMATY, child_age_years=3)


def test_no_contract_holds_a_float_where_the_canonical_json_makers_would_differ() -> None:
    """orjson writes ``1.5e-7`` where the standard library (the canonical form's definition) writes
    ``1.5e-07``: the one difference over what contracts could hold (domain/canonical.py). A float
    added to a contract must first come with a canonical form of its own."""
    import json
    import re

    from referral_bus.contracts import ALL_RECORDS
    from referral_bus.domain.canonical import canonical_json, stdlib_canonical_json
    from referral_bus.infra.codec.schema_export import avro_schema
    for name, model in ALL_RECORDS.items():
        assert not re.search(r'"(float|double)"', json.dumps(avro_schema(model))), f"{name} holds a float"
    assert stdlib_canonical_json(1.5e-7) != canonical_json(1.5e-7)   # why it matters
