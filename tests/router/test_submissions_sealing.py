"""Sealed personal data through the router's decisions (no broker): a sealed submission is opened
with the vault's ingress key for the checks, and written re-wrapped — for the case log, and for each
entitled recipient alone; redacted copies carry no sealed part; personal data in clear is refused
where sealing is required; an erased case takes no more events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from referral_bus.contracts.base import REDACTED, SEALED, City, Event, PersonalData
from referral_bus.contracts.bus_records import ReceiptStatus
from referral_bus.contracts.events import NGODecision, NGODecisionKind, ReferralKind, ReferralMade, SupportService
from referral_bus.domain.agencies import Directory
from referral_bus.domain.sealing import CASE_LOG, open_sealed, seal_to_public
from referral_bus.infra.codec.framing import Codec
from referral_bus.infra.codec.registry import EmbeddedRegistry
from referral_bus.infra.settings import Settings
from referral_bus.infra.vault import KeyService, Vault, load_public_key
from referral_bus.router.submissions import Outcome, Submission, SubmissionHandler
from tests.builders import envelope

NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
SCHOOL, NGO = "rb.ingress.school-almaty", "rb.ingress.ngo-rodnik"
INGRESS = {SCHOOL: "school-almaty", NGO: "ngo-rodnik"}
NAME = "Zhanargul Testova-Quill"   # invented
PURPOSE = "referral 2026-41 assessment"


@pytest.fixture(scope="module")
def codec() -> Codec:
    return Codec(EmbeddedRegistry.from_directory(Settings().schemas_dir))


@pytest.fixture
def vault(tmp_path: Path) -> Vault:
    made = Vault(tmp_path / "vault", tmp_path / "vault-public-key.pem")
    made.ensure()
    return made


def handler(codec: Codec, directory: Directory, vault: Vault, *, require_sealed: bool = True) -> SubmissionHandler:
    return SubmissionHandler(codec, directory, INGRESS, max_event_bytes=65536, max_clock_skew=timedelta(minutes=5),
                             clock=lambda: NOW, vault=vault, require_sealed=require_sealed)


def referral(case: str = "C-S1", **change: Any) -> ReferralMade:
    fields: dict[str, Any] = dict(referral_kind=ReferralKind.NGO_SUPPORT, city=City.ALMATY, child_age_years=12,
                                  services_requested=[SupportService.SOCIAL], referring_body=f"teacher of {NAME}",
                                  personal_data=PersonalData(child_name=NAME, narrative=f"{NAME} was seen crying"))
    return ReferralMade(envelope=envelope(ReferralMade, case, "school-almaty", at=NOW - timedelta(hours=2)),
                        **{**fields, **change})


def sealed(event: Event, vault: Vault) -> Event:
    public = load_public_key(vault.public_key_file)
    assert public is not None
    return seal_to_public(event, public)


def submit(core: SubmissionHandler, codec: Codec, event: Event, topic: str = SCHOOL, offset: int = 0) -> Outcome:
    return core.handle(Submission(topic, 0, offset, event.envelope.case_id.encode(), codec.encode(event)))


def opened_by(vault: Vault, copy: Event, principal: str) -> Event:
    """What ``principal``'s SDK gets from the key service for this copy."""
    assert copy.sealed is not None
    reads: list[dict[str, Any]] = []
    data_key = KeyService(vault, lambda **kw: reads.append(kw)).unwrap(
        principal=principal, authenticated=True, case_id=copy.envelope.case_id,
        event_id=str(copy.envelope.event_id), recipient=copy.sealed.recipient, wrapped_key=copy.sealed.wrapped_key,
        purpose=PURPOSE)
    assert len(reads) == 1
    return open_sealed(copy, data_key)


def test_a_sealed_referral_is_written_rewrapped_for_the_log_and_the_entitled_recipient(
        codec: Codec, directory: Directory, vault: Vault) -> None:
    core = handler(codec, directory, vault)
    original = referral()
    submitted = sealed(original, vault)
    out = submit(core, codec, submitted)
    assert out.receipt.status is ReceiptStatus.ACCEPTED, out.receipt.reason
    logged = out.appended
    assert logged is not None and logged.sealed is not None and submitted.sealed is not None
    assert (logged.sealed.recipient, logged.sealed.key_ref[:5]) == (CASE_LOG, "case:")
    assert (logged.sealed.nonce, logged.sealed.ciphertext) == (submitted.sealed.nonce, submitted.sealed.ciphertext)
    assert NAME.encode() not in codec.encode(logged)
    [(to_ngo, copy)] = out.deliveries
    assert (to_ngo.recipient_id, to_ngo.redacted) == ("ngo-rodnik", False)
    assert copy.sealed is not None and copy.sealed.recipient == "ngo-rodnik" and NAME.encode() not in codec.encode(copy)
    whole = opened_by(vault, copy, "ngo-rodnik")
    assert whole.personal_data == original.personal_data and whole.referring_body == f"teacher of {NAME}"  # type: ignore[attr-defined]
    assert opened_by(vault, logged, "rb-auditor").personal_data == original.personal_data


def test_the_referrers_redacted_outcome_carries_no_sealed_part(codec: Codec, directory: Directory,
                                                               vault: Vault) -> None:
    core = handler(codec, directory, vault)
    assert submit(core, codec, sealed(referral("C-S2"), vault)).receipt.status is ReceiptStatus.ACCEPTED
    decision = NGODecision(envelope=envelope(NGODecision, "C-S2", "ngo-rodnik", at=NOW - timedelta(hours=1)),
                           decision=NGODecisionKind.DECLINED_NO_SPACE, reasons=f"no place for {NAME}")
    out = submit(core, codec, sealed(decision, vault), NGO, 1)
    assert out.receipt.status is ReceiptStatus.ACCEPTED, out.receipt.reason
    [(to_school, told)] = out.deliveries
    assert to_school.redacted and told.sealed is None and told.reasons == REDACTED  # type: ignore[attr-defined]
    assert out.appended is not None and out.appended.reasons == SEALED  # type: ignore[attr-defined]


def test_a_resealed_resubmission_is_a_duplicate_and_other_content_a_conflict(codec: Codec, directory: Directory,
                                                                             vault: Vault) -> None:
    core = handler(codec, directory, vault)
    original = referral("C-S3")
    first = submit(core, codec, sealed(original, vault))
    assert first.receipt.status is ReceiptStatus.ACCEPTED and first.appended is not None
    again = submit(core, codec, sealed(original, vault), offset=1)       # a new data key, same content
    assert again.receipt.status is ReceiptStatus.DUPLICATE
    other = original.model_copy(update={"personal_data": PersonalData(child_name="Another Invented")})
    out = submit(core, codec, sealed(other, vault), offset=2)
    assert out.receipt.reason_code == "EVENT_ID_CONFLICT"
    # a router restarted from the log opens the log's copy with the case key: still a duplicate, still a conflict
    replay = handler(codec, directory, vault)
    replay.fold(first.appended)  # type: ignore[arg-type]
    assert submit(replay, codec, sealed(original, vault), offset=3).receipt.status is ReceiptStatus.DUPLICATE
    assert submit(replay, codec, sealed(other, vault), offset=4).receipt.reason_code == "EVENT_ID_CONFLICT"


def test_personal_data_in_clear_is_refused_where_sealing_is_required(codec: Codec, directory: Directory,
                                                                      vault: Vault) -> None:
    out = submit(handler(codec, directory, vault), codec, referral("C-S4"))
    assert (out.receipt.reason_code, out.receipt.field) == ("PERSONAL_DATA_NOT_SEALED", "sealed")
    assert out.dead_letter is not None and out.appended is None
    assert NAME.encode() not in out.dead_letter.original_value    # not copied on to the dead letters in clear
    nothing_personal = referral("C-S4", personal_data=None, referring_body=None)
    assert submit(handler(codec, directory, vault), codec, nothing_personal).receipt.status is ReceiptStatus.ACCEPTED
    allowed = submit(handler(codec, directory, vault, require_sealed=False), codec, referral("C-S5"))
    assert allowed.receipt.status is ReceiptStatus.ACCEPTED and allowed.appended is not None
    assert allowed.appended.personal_data is not None and allowed.appended.sealed is None


def test_a_sealed_part_that_does_not_open_is_refused(codec: Codec, directory: Directory, vault: Vault,
                                                      tmp_path: Path) -> None:
    core = handler(codec, directory, vault)
    good = sealed(referral("C-S6"), vault)
    assert good.sealed is not None
    flipped = bytearray(good.sealed.ciphertext)
    flipped[-1] ^= 1
    cases: list[Event] = [
        good.model_copy(update={"sealed": good.sealed.model_copy(update={"ciphertext": bytes(flipped)})}),
        good.model_copy(update={"referring_body": f"teacher of {NAME}"}),          # a personal text left in clear
        good.model_copy(update={"sealed": good.sealed.model_copy(update={"recipient": "ngo-rodnik"})}),
    ]
    elsewhere = Vault(tmp_path / "other", tmp_path / "other.pem")
    elsewhere.ensure()
    cases.append(sealed(referral("C-S6"), elsewhere))                              # another vault's key
    for offset, bad in enumerate(cases):
        out = submit(core, codec, bad, offset=offset)
        assert out.receipt.reason_code == "SEALED_DATA_INVALID", (offset, out.receipt.reason)
        assert out.receipt.field and out.receipt.field.startswith("sealed")
        assert NAME not in (out.receipt.reason or "")


def test_an_erased_case_takes_no_more_events(codec: Codec, directory: Directory, vault: Vault) -> None:
    core = handler(codec, directory, vault)
    first = submit(core, codec, sealed(referral("C-S7"), vault))
    assert first.receipt.status is ReceiptStatus.ACCEPTED and first.appended is not None
    vault.erase("C-S7", by="operator-7")
    decision = NGODecision(envelope=envelope(NGODecision, "C-S7", "ngo-rodnik", at=NOW - timedelta(hours=1)),
                           decision=NGODecisionKind.ACCEPTED)
    out = submit(core, codec, decision, NGO, 1)
    assert (out.receipt.reason_code, out.receipt.field) == ("CASE_ERASED", "envelope.case_id")
    # a router restarted from the log still folds the case (without its personal data)
    restarted = handler(codec, directory, vault)
    restarted.fold(first.appended)
    assert restarted.cases["C-S7"].last_sequence == 1


def test_after_a_rotation_both_keys_open_and_a_retired_key_opens_nothing(codec: Codec, directory: Directory,
                                                                         vault: Vault) -> None:
    """Submissions sealed to the superseded ingress key (a producer that had not yet re-read the
    public key) still open until the key is retired; then they are refused, naming the key."""
    core = handler(codec, directory, vault)
    before = sealed(referral("C-R1"), vault)                 # sealed to the first key
    rotated_at = datetime.now(UTC)
    vault.rotate_ingress(now=rotated_at)
    after = sealed(referral("C-R2"), vault)                  # to the new one
    assert before.sealed is not None and after.sealed is not None
    assert before.sealed.key_ref != after.sealed.key_ref
    assert submit(core, codec, before).receipt.status is ReceiptStatus.ACCEPTED
    assert submit(core, codec, after, offset=1).receipt.status is ReceiptStatus.ACCEPTED
    assert vault.retire_ingress(timedelta(days=30), now=rotated_at + timedelta(days=30)) == [before.sealed.key_ref]
    late = sealed(referral("C-R3"), vault).model_copy(update={"sealed": before.sealed})
    fresh = handler(codec, directory, vault)                 # (the running router re-reads within a minute)
    out = submit(fresh, codec, late, offset=2)
    assert (out.receipt.reason_code, out.receipt.field) == ("SEALED_DATA_INVALID", "sealed.key_ref")
