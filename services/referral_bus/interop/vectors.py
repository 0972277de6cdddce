"""Test vectors for agency clients in other languages (``sdks/test-vectors/vectors.json``).

Every value here is computed by the code that the bus itself runs — the codec (framing, schema
ids), ``domain/chain.py`` (canonical JSON, chain hash), ``domain/signatures.py`` (signing bytes,
packing) and the murmur2 partitioner — from fixed inputs, so a TypeScript or Java client that
reproduces them byte for byte agrees with the router. ``interop check`` fails when they are stale
(a schema, the canonical form or the signature rule changed), ``interop write`` regenerates them.

The Ed25519 key is derived from a fixed, published seed: TEST ONLY, never enrolled on a real bus.
Sealed personal data (``domain/sealing.py``) is computed from fixed, published inputs too — an
ingress key pair of the "vault", a data key, nonces, an ephemeral X25519 key and a case key, all TEST
ONLY — with invented personal data ("Aigerim Testova"): what a producer seals and signs, and an inbox
copy the router re-wrapped for an agency that the SDK must open with the data key the key service
gives it.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from referral_bus.contracts import ALL_RECORDS
from referral_bus.contracts.base import (
    SEALED,
    City,
    Envelope,
    Event,
    ParentOrRepresentative,
    PersonalData,
    Producer,
    Record,
    personal_text_fields,
    submitted_envelope,
)
from referral_bus.contracts.bus_records import SigningKeyEnrolled
from referral_bus.contracts.care_events import CarePlacement, CarePlanAgreed
from referral_bus.contracts.events import (
    NGODecision,
    NGODecisionKind,
    NotifyingParty,
    ReferralKind,
    ReferralMade,
    SupportService,
)
from referral_bus.domain import sealing
from referral_bus.domain.chain import GENESIS, canonical_bytes, chain_hash
from referral_bus.domain.signatures import key_id_for, sign, signing_bytes, unpack
from referral_bus.infra.codec.framing import Codec
from referral_bus.infra.codec.schema_store import SchemaStore
from referral_bus.infra.kafka.log_reader import partition_for_key
from referral_bus.infra.runtime import Runtime

#: TEST ONLY: the published seed of the vectors' Ed25519 key (bytes 0x00…0x1f). Never enrol it.
TEST_SEED = bytes(range(32))
#: The previous hash the vectors chain from: not the genesis, so the concatenation is visible.
PREVIOUS_HASH = "9f" * 32
#: Partition counts the vectors give the murmur2 partition for (ingress default, and a larger one).
PARTITION_COUNTS = (3, 12)
#: When the router "recorded" the stamped copy of each event.
RECORDED_AT = datetime(2026, 3, 2, 9, 15, 0, 250000, tzinfo=UTC)
#: TEST ONLY: the sealing vectors' fixed inputs (never a real vault's or case's key). Each sealing
#: vector ``i`` uses its own data key, nonces and ephemeral key: these with ``i`` added to the last byte.
VAULT_PRIVATE = bytes(range(0x40, 0x60))
DATA_KEY = bytes(range(0x80, 0xA0))
SEAL_NONCE = bytes(range(0xA0, 0xAC))
EPHEMERAL_PRIVATE = bytes(range(0x60, 0x80))
WRAP_NONCE = bytes(range(0xB0, 0xBC))
CASE_KEY = bytes(range(0xC0, 0xE0))
CASE_KEY_REF = "case:00c0ffee00c0ffee"


def test_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(TEST_SEED)


def _public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _envelope(event_type: type[Event], store: SchemaStore, *, agency: str, case: str, event_id: str,
              occurred_at: datetime, actor_role: str | None = None, correlation_id: str | None = None) -> Envelope:
    return Envelope.model_validate(submitted_envelope(
        event_id=uuid.UUID(event_id), event_type=event_type.__name__,
        schema_version=store.version_of(event_type.__name__), case_id=case, occurred_at=occurred_at,
        producer=Producer(agency_id=agency, actor_id="actor-0042", actor_role=actor_role).model_dump(),
        correlation_id=uuid.UUID(correlation_id) if correlation_id else None))


def _events(store: SchemaStore) -> list[tuple[str, str, Event]]:
    """(name, what it exercises, unsigned event). Every name and address is invented."""
    return [
        ("referral-minimal", "a referral without personal data: defaults, nulls kept, empty arrays, enums, "
         "whole-second timestamp (no fraction)",
         ReferralMade(envelope=_envelope(ReferralMade, store, agency="polyclinic-almaty-no-9", case="KZ-ALA-000123",
                                         event_id="0b9c2a4e-5f61-4d1e-9a57-3c2b1d0e4f10",
                                         occurred_at=datetime(2026, 3, 2, 8, 30, 0, tzinfo=UTC)),
                      referral_kind=ReferralKind.CHILD_PROTECTION, city=City.ALMATY, child_age_years=7)),
        ("referral-personal-data", "a referral with personal data: Cyrillic and Kazakh letters, an astral-plane "
         "character, a quote and backslash, a date, arrays of records and strings, enum arrays, booleans, "
         "a timestamp with microseconds",
         ReferralMade(envelope=_envelope(ReferralMade, store, agency="police-juvenile-nur-sultan",
                                         case="KZ-NUR-000001", event_id="6f1d7c3a-2b4e-4c5d-8e9f-0a1b2c3d4e5f",
                                         occurred_at=datetime(2026, 1, 15, 23, 59, 59, 123456, tzinfo=UTC),
                                         actor_role="juvenile_inspector",
                                         correlation_id="11111111-2222-4333-8444-555555555555"),
                      personal_data=PersonalData(
                          child_name="Әлия Тестова", child_date_of_birth=date(2016, 2, 29),
                          child_languages=["kk", "ru"],
                          parents=[ParentOrRepresentative(name="Ерлан Тестов", languages=["kk"]),
                                   ParentOrRepresentative(address="Invented street 1, \"B\" \\ block")],
                          narrative="Invented test text: ғ қ ң ө ұ ү һ і — 🙂"),
                      referral_kind=ReferralKind.NGO_SUPPORT, city=City.NUR_SULTAN, child_age_years=9,
                      immediate_risk=True, services_requested=[SupportService.LEGAL, SupportService.PSYCHOLOGICAL],
                      receiving_other_services=False)),
        ("care-plan-dates", "dates and a timestamp whose microseconds end in zeros (rendered with all 6 digits), "
         "an enum, a string array, a boolean",
         CarePlanAgreed(envelope=_envelope(CarePlanAgreed, store, agency="cam-almaty", case="KZ-ALA-000124",
                                           event_id="a3c1e2d4-0000-4abc-8def-000000000001",
                                           occurred_at=datetime(2026, 2, 28, 12, 0, 0, 120000, tzinfo=UTC)),
                        care_plan_id="CP-2026-0007", placement=CarePlacement.FOSTER_FAMILY,
                        commences_on=date(2026, 3, 1), ends_on=date(2027, 2, 28), first_review_by=date(2026, 3, 29),
                        transition_arrangements=True, member_agency_ids=["school-almaty", "health-almaty"])),
    ]


def _sealing_events(store: SchemaStore) -> list[tuple[str, str, Event, str]]:
    """(name, what it exercises, unsigned event with a personal part in clear, the agency whose inbox
    copy the open vector is). Every name and address is invented."""
    return [
        ("referral-sealed", "a referral with personal data and a personal text (referring_body): both sealed, the "
         "text left as [sealed]",
         ReferralMade(envelope=_envelope(ReferralMade, store, agency="polyclinic-almaty-no-9", case="KZ-ALA-000125",
                                         event_id="5ea1ed00-0000-4000-8000-00000000a001",
                                         occurred_at=datetime(2026, 3, 3, 10, 0, 0, 500000, tzinfo=UTC)),
                      personal_data=PersonalData(
                          child_name="Aigerim Testova", child_date_of_birth=date(2019, 5, 17),
                          child_languages=["kk", "ru"], child_address="Invented avenue 7, Almaty",
                          parents=[ParentOrRepresentative(name="Test Parent Testov", languages=["ru"])],
                          narrative="Invented test narrative — ә і ң 🙂"),
                      referring_body="Invented Polyclinic No. 0 (test)",
                      referral_kind=ReferralKind.CHILD_PROTECTION, city=City.ALMATY, child_age_years=6),
         "cam-almaty"),
        ("ngo-decision-text-only", "no personal_data, one personal text (reasons): the sealed part is "
         '{"personal_data":null,"texts":{"reasons":…}}',
         NGODecision(envelope=_envelope(NGODecision, store, agency="ngo-almaty", case="KZ-ALA-000126",
                                        event_id="5ea1ed00-0000-4000-8000-00000000a002",
                                        occurred_at=datetime(2026, 3, 4, 6, 45, 0, tzinfo=UTC)),
                     decision=NGODecisionKind.DECLINED_NO_SPACE, reasons="Invented reason: no space (test)",
                     beneficiaries_notified_by=NotifyingParty.NGO),
         "cam-almaty"),
    ]


def _nth(value: bytes, index: int) -> bytes:
    return value[:-1] + bytes([value[-1] + index])


def _seal_vector(index: int, name: str, about: str, event: Event, reader: str, codec: Codec,
                 key: Ed25519PrivateKey) -> tuple[dict[str, Any], dict[str, Any]]:
    """What a producer seals (every intermediate value too), and the inbox copy for ``reader``."""
    data_key, nonce, wrap_nonce = _nth(DATA_KEY, index), _nth(SEAL_NONCE, index), _nth(WRAP_NONCE, index)
    ephemeral_private = _nth(EPHEMERAL_PRIVATE, index)
    vault_public = sealing.public_bytes(X25519PrivateKey.from_private_bytes(VAULT_PRIVATE).public_key())
    ephemeral = X25519PrivateKey.from_private_bytes(ephemeral_private)
    ephemeral_public = sealing.public_bytes(ephemeral.public_key())
    env = event.envelope
    case, event_id = env.case_id, str(env.event_id)
    key_ref = sealing.key_ref_for_public(vault_public)
    wrapped = sealing.wrap_to_public(data_key, vault_public, case_id=case, event_id=event_id, key_ref=key_ref,
                                     fixed=(ephemeral, wrap_nonce))
    sealed = sealing.seal(event, data_key, wrapped_key=wrapped, key_ref=key_ref, recipient=sealing.VAULT,
                          fixed_nonce=nonce)
    assert sealed.sealed is not None
    shared = ephemeral.exchange(X25519PrivateKey.from_private_bytes(VAULT_PRIVATE).public_key())
    signed_vector = _event_vector(name, about, sealed, codec, key)
    seal_vector = {
        "name": name, "about": about, "record": type(event).__name__,
        "event": event.model_dump(mode="json"),
        "inputs": {"data_key_hex": data_key.hex(), "nonce_hex": nonce.hex(),
                   "ephemeral_private_key_hex": ephemeral_private.hex(), "wrap_nonce_hex": wrap_nonce.hex()},
        "personal_part_json": _canonical_text(sealing.personal_part(event)),
        "data_aad_hex": sealing._data_aad(event).hex(),
        "ciphertext_hex": sealed.sealed.ciphertext.hex(),
        "key_ref": key_ref,
        "ephemeral_public_key_hex": ephemeral_public.hex(),
        "shared_secret_hex": shared.hex(),
        "kek_hex": sealing._kek(shared, ephemeral_public, vault_public).hex(),
        "wrap_aad_hex": sealing._wrap_aad(case, event_id, sealing.VAULT, key_ref).hex(),
        "wrapped_key_hex": wrapped.hex(),
        "sealed_event": sealed.model_dump(mode="json"),
        "signed": {k: signed_vector[k] for k in ("signing_bytes_hex", "key_id", "signature_hex", "signed_event",
                                                 "framed_hex")},
    }
    # the router's inbox copy for ``reader``: the same nonce and ciphertext, the data key re-wrapped under the case key
    copy_wrapped = sealing.wrap_with_key(data_key, CASE_KEY, case_id=case, event_id=event_id, recipient=reader,
                                         key_ref=CASE_KEY_REF)
    copy = sealing.rewrap(signed_vector_event(sealed, key), copy_wrapped, key_ref=CASE_KEY_REF, recipient=reader)
    open_vector = {
        "name": name, "about": f"the inbox copy of {name} for {reader}: what the SDK opens with the data key the "
                                "key service (POST /v1/keys/unwrap) returns",
        "record": type(event).__name__, "agency": reader,
        "inbox_copy": copy.model_dump(mode="json"),
        "unwrap_request": {"case_id": case, "event_id": event_id, "recipient": reader,
                           "wrapped_key": base64.b64encode(copy_wrapped).decode()},
        "data_key_hex": data_key.hex(),
        "opened_event": sealing.open_sealed(copy, data_key).model_dump(mode="json"),
    }
    return seal_vector, open_vector


def signed_vector_event(event: Event, key: Ed25519PrivateKey) -> Event:
    """``event`` signed with the test key (as the router keeps it on the case log and in inbox copies)."""
    return sign(event, key_id_for(event.envelope.producer.agency_id, _public(key)), key)


def _personal_text_fields() -> dict[str, list[str]]:
    """Which fields of each event type are personal free text (sealed with ``personal_data``; the
    Avro schemas do not say): an SDK that seals must know them."""
    events = {name: model for name, model in sorted(ALL_RECORDS.items())
              if isinstance(model, type) and issubclass(model, Event)}
    return {name: sorted(personal_text_fields(model)) for name, model in events.items() if personal_text_fields(model)}


def _sealing_vectors(codec: Codec, store: SchemaStore, key: Ed25519PrivateKey) -> dict[str, Any]:
    vault = X25519PrivateKey.from_private_bytes(VAULT_PRIVATE)
    vault_public = sealing.public_bytes(vault.public_key())
    pairs = [_seal_vector(index, name, about, event, reader, codec, key)
             for index, (name, about, event, reader) in enumerate(_sealing_events(store))]
    return {
        "scheme": sealing.SCHEME, "vault_recipient": sealing.VAULT, "sealed_marker": SEALED,
        "wrap_label": sealing._WRAP_LABEL.decode(), "data_label": sealing._DATA_LABEL.decode(),
        "test_vault_key": {
            "private_key_hex": VAULT_PRIVATE.hex(), "public_key_hex": vault_public.hex(),
            "public_key_pem": vault.public_key().public_bytes(serialization.Encoding.PEM,
                                                              serialization.PublicFormat.SubjectPublicKeyInfo).decode(),
            "key_ref": sealing.key_ref_for_public(vault_public)},
        "test_case_key": {"key_hex": CASE_KEY.hex(), "key_ref": CASE_KEY_REF},
        "personal_text_fields": _personal_text_fields(),
        "seal": [seal for seal, _ in pairs],
        "open": [opened for _, opened in pairs],
    }


def _record_vectors(codec: Codec) -> list[dict[str, Any]]:
    """Records that are not case events (no signature, no chain): framing and canonical JSON of
    ``bytes``, which pydantic renders URL-safe base64 with padding (these bytes need ``-`` and ``_``)."""
    record = SigningKeyEnrolled(key_id="school-almaty:00112233445566ff", agency_id="school-almaty",
                                public_key=bytes([0xFB, 0xFF, 0xFE, 0x00, 0x3E, 0x3F]) + bytes(26),
                                enrolled_at=datetime(1999, 12, 31, 23, 59, 59, 1, tzinfo=UTC), enrolled_by="tests")
    return [_record_vector("signing-key-bytes", "bytes as URL-safe base64 with padding; a timestamp with 1 µs",
                           record, record.agency_id, codec)]


def _record_vector(name: str, about: str, record: Record, key: str, codec: Codec) -> dict[str, Any]:
    dumped = record.model_dump(mode="json")
    return {"name": name, "about": about, "record": type(record).__name__,
            "schema_id": codec.schema_id(type(record)), "json": dumped,
            "canonical_json": _canonical_text(dumped), "framed_hex": codec.encode(record).hex(),
            "key": key, "partitions": _partitions(key)}


def _canonical_text(body: object) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _partitions(key: str) -> dict[str, int]:
    return {str(n): partition_for_key(key.encode(), n) for n in PARTITION_COUNTS}


def _event_vector(name: str, about: str, event: Event, codec: Codec, key: Ed25519PrivateKey) -> dict[str, Any]:
    key_id = key_id_for(event.envelope.producer.agency_id, _public(key))
    signed = sign(event, key_id, key)
    signature = signed.envelope.signature
    assert signature is not None
    raw_signature = unpack(signature)[1]
    stamped = signed.model_copy(update={"envelope": signed.envelope.model_copy(update={
        "recorded_at": RECORDED_AT, "sequence": 4, "previous_hash": PREVIOUS_HASH})})
    case = event.envelope.case_id
    return {
        "name": name, "about": about, "record": type(event).__name__,
        "schema_id": codec.schema_id(type(event)),
        "event": event.model_dump(mode="json"),
        "signing_bytes_hex": signing_bytes(event).hex(),
        "key_id": key_id,
        "signature_hex": raw_signature.hex(),
        "signature_field_hex": signature.hex(),
        "signed_event": signed.model_dump(mode="json"),
        "framed_hex": codec.encode(signed).hex(),
        "stamped": {"recorded_at": stamped.model_dump(mode="json")["envelope"]["recorded_at"], "sequence": 4,
                    "previous_hash": PREVIOUS_HASH,
                    "framed_hex": codec.encode(stamped).hex(),
                    "canonical_json": canonical_bytes(stamped).decode(),
                    "hash": chain_hash(PREVIOUS_HASH, stamped)},
        "key": case, "partitions": _partitions(case),
    }


def vectors(codec: Codec, store: SchemaStore) -> dict[str, Any]:
    """The whole vectors document."""
    key = test_key()
    return {
        "$comment": "Generated by `python -m referral_bus.interop write` from the bus's own code "
                    "(services/referral_bus/interop/vectors.py); do not edit. docs/contract.md says what each "
                    "field means. The key below is TEST ONLY: never enrol it on a bus.",
        "signature_label": "referral-bus event signature v1\n",
        "genesis_hash": GENESIS,
        "test_key": {"seed_hex": TEST_SEED.hex(), "public_key_hex": _public(key).hex(),
                     "pkcs8_pem": key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption()).decode()},
        "events": [_event_vector(name, about, event, codec, key) for name, about, event in _events(store)],
        "records": _record_vectors(codec),
        "sealing": _sealing_vectors(codec, store, key),
    }


def render(codec: Codec, store: SchemaStore) -> Callable[[], str]:
    """How ``interop.files`` renders ``sdks/test-vectors/vectors.json``."""
    return lambda: json.dumps(vectors(codec, store), indent=2, ensure_ascii=False) + "\n"


def vectors_path(root: Path) -> Path:
    return root / "sdks" / "test-vectors" / "vectors.json"


def stale_vectors(runtime: Runtime, root: Path) -> list[Path]:
    """``[the vectors file]`` when it is missing or differs from what the code renders, else ``[]``."""
    path = vectors_path(root)
    return [] if path.exists() and path.read_text() == render(runtime.codec, runtime.schema_store)() else [path]


def write_vectors(runtime: Runtime, root: Path) -> list[Path]:
    """Write the vectors file when stale; the paths written."""
    if not stale_vectors(runtime, root):
        return []
    path = vectors_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(runtime.codec, runtime.schema_store)())
    return [path]
