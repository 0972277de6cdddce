"""verify finds every altered, removed, reordered or injected event by case and position."""

from __future__ import annotations

from datetime import timedelta

from referral_bus.contracts.base import City, Event
from referral_bus.contracts.events import EmergencyRemoval, RemovalOutcomeReported
from referral_bus.domain.chain import GENESIS, chain_hash
from referral_bus.domain.verification import Finding, LoggedEvent, verify
from tests.builders import T0, envelope


def chained(case: str, n: int) -> list[Event]:
    """n events of one case, stamped and chained as the router does."""
    out: list[Event] = []
    previous = GENESIS
    for i in range(1, n + 1):
        if i == 1:
            e: Event = EmergencyRemoval(envelope=envelope(EmergencyRemoval, case, "police-juvenile-almaty"),
                                        city=City.ALMATY, child_age_years=9, child_removed=True,
                                        cam_social_worker_present=False)
        else:
            e = RemovalOutcomeReported(envelope=envelope(RemovalOutcomeReported, case, "police-juvenile-almaty"),
                                       child_removed=True, placed_in_temporary_care=True, referred_to_cam=True)
        env = e.envelope.model_copy(update={"sequence": i, "previous_hash": previous,
                                            "recorded_at": T0 + timedelta(minutes=i)})
        e = e.model_copy(update={"envelope": env})
        e = e.model_copy(update={"envelope": env.model_copy(update={"hash": chain_hash(previous, e)})})
        previous = e.envelope.hash  # type: ignore[assignment]
        out.append(e)
    return out


def log_of(events: list[Event]) -> list[LoggedEvent]:
    return [LoggedEvent(0, i, e.envelope.case_id.encode(), e) for i, e in enumerate(events)]


def findings(events: list[Event]) -> list[tuple[Finding, int | None, int]]:
    return [(p.finding, p.sequence, p.offset) for p in verify(log_of(events)).problems]


def test_an_intact_log_verifies() -> None:
    report = verify(log_of(chained("C-A", 4) + chained("C-B", 3)))
    assert report.ok and (report.events, report.cases) == (7, 2)


def test_altered_content_is_found_at_its_position() -> None:
    events = chained("C-A", 4)
    events[2] = events[2].model_copy(update={"placed_in_temporary_care": False})
    assert findings(events) == [(Finding.ALTERED, 3, 2)]


def test_altered_and_rehashed_event_breaks_the_chain_after_it() -> None:
    events = chained("C-A", 4)
    forged = events[1].model_copy(update={"placed_in_temporary_care": False})
    forged = forged.model_copy(update={"envelope": forged.envelope.model_copy(
        update={"hash": chain_hash(forged.envelope.previous_hash or GENESIS, forged)})})
    events[1] = forged
    assert findings(events) == [(Finding.CHAIN_BROKEN, 3, 2)]


def test_removed_event() -> None:
    events = chained("C-A", 4)
    del events[1]
    assert findings(events) == [(Finding.REMOVED, 3, 1)]


def test_reordered_events() -> None:
    events = chained("C-A", 4)
    events[1], events[2] = events[2], events[1]
    assert findings(events) == [(Finding.REORDERED, 2, 2)]


def test_injected_and_duplicated_events() -> None:
    events = chained("C-A", 3)
    other = chained("C-A", 3)[1]  # a different event claiming sequence 2 with a valid own hash
    assert findings(events + [other]) == [(Finding.INJECTED, 2, 3)]
    assert findings(events + [events[0]]) == [(Finding.INJECTED, 1, 3)]


def test_wrong_key() -> None:
    [event] = chained("C-A", 1)
    report = verify([LoggedEvent(1, 0, b"C-B", event)])
    assert [p.finding for p in report.problems] == [Finding.WRONG_KEY]


def test_with_the_signing_keys_every_signature_is_checked_at_the_time_the_event_was_recorded() -> None:
    from datetime import UTC, datetime

    from referral_bus.contracts.bus_records import SigningKeyRevoked
    from referral_bus.domain.signatures import KeyDirectory, sign
    from tests.domain.test_signatures import POLICE, new_key

    keys = KeyDirectory()
    key_id, private = new_key(keys, POLICE)
    events, previous = [], GENESIS
    for i, e in enumerate(chained("C-9", 3), start=1):   # signed by the agency, then stamped and chained
        bare = e.model_copy(update={"envelope": e.envelope.model_copy(
            update={"sequence": None, "previous_hash": None, "hash": None, "recorded_at": None})})
        signed = sign(bare, key_id, private) if i != 2 else bare   # the second one unsigned
        env = signed.envelope.model_copy(update={"sequence": i, "previous_hash": previous,
                                                 "recorded_at": e.envelope.recorded_at})
        signed = signed.model_copy(update={"envelope": env})
        signed = signed.model_copy(update={"envelope": env.model_copy(update={"hash": chain_hash(previous, signed)})})
        previous = signed.envelope.hash
        events.append(signed)
    report = verify(log_of(events), keys)
    assert [(p.finding, p.sequence) for p in report.problems] == [(Finding.BAD_SIGNATURE, 2)]
    assert "SIGNATURE_MISSING" in report.problems[0].detail
    keys.fold(SigningKeyRevoked(key_id=key_id, agency_id=POLICE, revoked_at=datetime(2000, 1, 1, tzinfo=UTC),
                                reason="compromised", revoked_by="test"))
    assert [p.sequence for p in verify(log_of(events), keys).problems] == [1, 2, 3]
    assert verify(log_of(events)).ok  # without the keys: the chain alone, intact


def test_a_signed_checkpoint_finds_deleted_newest_events_and_a_case_removed_whole() -> None:
    import uuid

    from referral_bus.contracts.bus_records import CaseHead, ChainCheckpoint
    from referral_bus.domain.signatures import ROUTER, KeyDirectory, sign_checkpoint
    from referral_bus.domain.verification import LoggedCheckpoint
    from tests.domain.test_signatures import POLICE, new_key

    keys = KeyDirectory()
    router = new_key(keys, ROUTER)
    kept, gone = chained("C-K", 3), chained("C-G", 1)

    def checkpoint(heads: list[Event], signer=router) -> LoggedCheckpoint:  # type: ignore[no-untyped-def]
        cp = ChainCheckpoint(checkpoint_id=uuid.uuid4(), recorded_at=T0 + timedelta(hours=1), signature=b"",
                             heads=[CaseHead(case_id=e.envelope.case_id, sequence=e.envelope.sequence or 0,
                                             hash=e.envelope.hash or "") for e in heads])
        return LoggedCheckpoint(0, 0, sign_checkpoint(cp, *signer))

    def about_checkpoints(report):  # type: ignore[no-untyped-def]  (these test events are unsigned)
        return [p for p in report.problems if p.finding in (Finding.CHECKPOINT_MISMATCH, Finding.BAD_CHECKPOINT)]

    intact = verify(log_of(kept + gone), keys, [checkpoint([kept[1]]), checkpoint([kept[2], gone[0]])])
    assert about_checkpoints(intact) == [] and intact.checkpoints == 2
    truncated = verify(log_of(kept[:2]), keys, [checkpoint([kept[2], gone[0]])])   # newest of C-K, all of C-G
    assert [(p.finding, p.case_id, p.sequence) for p in about_checkpoints(truncated)] == [
        (Finding.CHECKPOINT_MISMATCH, "C-K", 3), (Finding.CHECKPOINT_MISMATCH, "C-G", 1)]
    assert "ends at sequence 2" in about_checkpoints(truncated)[0].detail
    forged = verify(log_of(kept), keys, [checkpoint([kept[2]], signer=new_key(keys, POLICE))])  # not the router's
    assert [p.finding for p in about_checkpoints(forged)] == [Finding.BAD_CHECKPOINT]
    assert verify(log_of(kept[:2]), None, [checkpoint([kept[2]])]).problems  # without keys: heads still compared
