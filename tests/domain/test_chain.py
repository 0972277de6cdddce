from __future__ import annotations

from referral_bus.contracts.base import City
from referral_bus.contracts.events import ReferralKind, ReferralMade
from referral_bus.domain.chain import GENESIS, chain_hash, content_fingerprint
from tests.builders import envelope


def event(age: int = 7) -> ReferralMade:
    env = envelope(ReferralMade, "C-1", "school-almaty")
    return ReferralMade(envelope=env, referral_kind=ReferralKind.CHILD_PROTECTION, city=City.ALMATY,
                        child_age_years=age)


def test_hash_ignores_its_own_field_and_depends_on_content_and_predecessor() -> None:
    e = event()
    h = chain_hash(GENESIS, e)
    with_hash = e.model_copy(update={"envelope": e.envelope.model_copy(update={"hash": h})})
    assert chain_hash(GENESIS, with_hash) == h
    assert chain_hash("1" * 64, e) != h
    changed = e.model_copy(update={"child_age_years": 8})
    assert chain_hash(GENESIS, changed) != h


def test_fingerprint_ignores_router_fields_only() -> None:
    e = event()
    stamped = e.model_copy(update={"envelope": e.envelope.model_copy(update={"sequence": 4, "hash": "x"})})
    assert content_fingerprint(stamped) == content_fingerprint(e)
    assert content_fingerprint(e.model_copy(update={"child_age_years": 8})) != content_fingerprint(e)
