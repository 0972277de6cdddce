"""The rule every consumer of the case log applies (domain/chain.py ChainFollower): only an event
that extends its case's chain is folded; a copy, a forgery, an event after a gap are refused with a
reason, and the chain goes on from where it was."""

from __future__ import annotations

from referral_bus.contracts.base import City
from referral_bus.contracts.events import ReferralKind, ReferralMade
from referral_bus.domain.chain import GENESIS, ChainFollower, chain_hash
from tests.builders import make, on_log


def referral_made(case: str) -> ReferralMade:
    return make(ReferralMade, "school-almaty", case=case, referral_kind=ReferralKind.CHILD_PROTECTION,  # type: ignore[return-value]
                city=City.ALMATY, child_age_years=7)


def chained(n: int, case: str = "C-1") -> list:  # type: ignore[type-arg]
    out, previous = [], GENESIS
    for sequence in range(1, n + 1):
        event = on_log(referral_made(case), sequence)
        event = event.model_copy(update={"envelope": event.envelope.model_copy(update={"previous_hash": previous})})
        event = event.model_copy(update={"envelope": event.envelope.model_copy(
            update={"hash": chain_hash(previous, event)})})
        out.append(event)
        previous = event.envelope.hash
    return out


def test_a_whole_chain_is_folded() -> None:
    follower = ChainFollower()
    assert [follower.refuse(e) for e in chained(3)] == [None, None, None]
    assert follower.heads["C-1"][0] == 3


def test_a_copy_a_forgery_and_a_gap_are_refused_and_the_chain_goes_on() -> None:
    one, two, three = chained(3)
    follower = ChainFollower()
    assert follower.refuse(one) is None
    assert follower.refuse(one) == ("CHAIN_BROKEN", "sequence 1 where the case's chain continues at 2")
    code, reason = follower.refuse(three) or ("", "")
    assert code == "CHAIN_BROKEN" and "continues at 2" in reason              # a gap
    relinked = two.model_copy(update={"envelope": two.envelope.model_copy(update={"previous_hash": "f" * 64})})
    code, reason = follower.refuse(relinked) or ("", "")
    assert code == "CHAIN_BROKEN" and "previous_hash" in reason
    earlier = two.envelope.occurred_at.replace(year=2025)
    altered = two.model_copy(update={"envelope": two.envelope.model_copy(update={"occurred_at": earlier})})
    code, reason = follower.refuse(altered) or ("", "")
    assert code == "CHAIN_BROKEN" and "does not match its content" in reason
    assert follower.refuse(two) is None and follower.refuse(three) is None    # the true chain goes on


def test_an_event_not_stamped_by_the_router_is_refused() -> None:
    assert ChainFollower().refuse(referral_made("C-1")) == (
        "NOT_STAMPED", "not stamped by the router (no sequence, hash or recording time)")
