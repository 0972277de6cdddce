"""The SDKs' shared test vectors (issue 14 item 4): the committed file is what the bus's code renders
now, and each vector says what the router itself would compute — so the TypeScript and Java tests
that reproduce them (sdks/typescript/test, sdks/java/src/test) agree with the router byte for byte.
Also checks the rendering rules docs/contract.md ("Signing bytes") states for other languages."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from referral_bus.contracts import ALL_RECORDS
from referral_bus.contracts.base import Event
from referral_bus.domain.chain import chain_hash
from referral_bus.domain.sealing import (
    SealingError,
    key_ref_for_public,
    open_sealed,
    public_bytes,
    unwrap_with_key,
    unwrap_with_private,
)
from referral_bus.domain.signatures import LABEL, signing_bytes, unpack
from referral_bus.infra.kafka.log_reader import partition_for_key
from referral_bus.infra.runtime import Runtime, load_runtime
from referral_bus.infra.settings import Settings
from referral_bus.interop.__main__ import main
from referral_bus.interop.vectors import TEST_SEED, stale_vectors, vectors_path

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def runtime() -> Runtime:
    return load_runtime(Settings())


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return json.loads(vectors_path(ROOT).read_text())  # type: ignore[no-any-return]


def test_the_committed_vectors_are_what_the_code_renders(runtime: Runtime) -> None:
    assert stale_vectors(runtime, ROOT) == [], "run `python -m referral_bus.interop write` and commit the result"


def test_stale_vectors_are_found_and_fail_interop_check(runtime: Runtime, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    copy = vectors_path(tmp_path)
    copy.parent.mkdir(parents=True)
    copy.write_text(vectors_path(ROOT).read_text())
    assert stale_vectors(runtime, tmp_path) == []
    copy.write_text(copy.read_text().replace('"schema_id": ', '"schema_id": 1', 1))
    assert stale_vectors(runtime, tmp_path) == [copy]
    # `interop check` reports them (the other generated files taken as current here)
    monkeypatch.setattr("referral_bus.interop.__main__.stale", lambda runtime, root: [])
    monkeypatch.setattr("referral_bus.interop.__main__.stale_vectors", lambda runtime, root: [vectors_path(root)])
    assert main(["check"]) == 1
    assert "sdks/test-vectors/vectors.json is stale" in capsys.readouterr().err


def test_each_event_vector_is_what_the_router_checks(runtime: Runtime, document: dict[str, Any]) -> None:
    public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(document["test_key"]["public_key_hex"]))
    assert document["test_key"]["seed_hex"] == TEST_SEED.hex()
    assert document["signature_label"].encode() == LABEL
    kinds = set()
    for v in document["events"]:
        event = runtime.codec.decode(bytes.fromhex(v["framed_hex"]))   # what the router reads
        assert isinstance(event, Event) and type(event).__name__ == v["record"]
        assert runtime.codec.schema_id(type(event)) == v["schema_id"]
        assert event.model_dump(mode="json") == v["signed_event"]
        assert signing_bytes(event).hex() == v["signing_bytes_hex"]
        key_id, signature = unpack(event.envelope.signature or b"")
        assert (key_id, signature.hex()) == (v["key_id"], v["signature_hex"])
        public.verify(signature, signing_bytes(event))
        stamped = runtime.codec.decode(bytes.fromhex(v["stamped"]["framed_hex"]))
        assert isinstance(stamped, Event)
        assert chain_hash(v["stamped"]["previous_hash"], stamped) == v["stamped"]["hash"]
        for count, partition in v["partitions"].items():
            assert partition_for_key(v["key"].encode(), int(count)) == partition
        kinds.add(v["record"])
    assert {"ReferralMade", "CarePlanAgreed"} <= kinds
    assert not any(v["key_id"].split(":")[0] == "rb-router" for v in document["events"])


def test_the_rendering_rules_the_contract_states(document: dict[str, Any]) -> None:
    """docs/contract.md, "Signing bytes": checked on the vectors themselves."""
    texts = [v["stamped"]["canonical_json"] for v in document["events"]] + \
            [r["canonical_json"] for r in document["records"]]
    joined = "\n".join(texts)
    assert '"occurred_at":"2026-03-02T08:30:00Z"' in joined              # whole seconds: no fraction
    assert '"occurred_at":"2026-02-28T12:00:00.120000Z"' in joined       # else exactly 6 digits, zeros kept
    assert '"enrolled_at":"1999-12-31T23:59:59.000001Z"' in joined
    assert '"child_date_of_birth":"2016-02-29"' in joined                 # dates: YYYY-MM-DD
    assert '"public_key":"-__-AD4_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="' in joined  # URL-safe base64, padded
    assert "Әлия Тестова" in joined and "🙂" in joined and "\\u" not in joined    # non-ASCII as UTF-8
    assert '\\"B\\" \\\\ block' in joined                                  # only " and \\ escaped here
    assert '"personal_data":null' in joined and '"services_requested":[]' in joined  # nulls and [] kept
    assert '"child_age_years":7,' in joined                                # integers as integers
    for text in texts:
        assert json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"), ensure_ascii=False) == text
    # a UUID is rendered lowercase whatever case it was sent in
    first = document["events"][0]
    shouted = {**first["event"], "envelope": {**first["event"]["envelope"],
                                              "event_id": first["event"]["envelope"]["event_id"].upper()}}
    event = ALL_RECORDS[first["record"]].model_validate_json(json.dumps(shouted))
    assert isinstance(event, Event) and signing_bytes(event).hex() == first["signing_bytes_hex"]
    raw = base64.urlsafe_b64decode("-__-AD4_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
    assert raw[:6] == bytes([0xFB, 0xFF, 0xFE, 0x00, 0x3E, 0x3F])


def test_each_sealing_vector_opens_at_the_router_and_its_copy_with_the_key_service(
        runtime: Runtime, document: dict[str, Any]) -> None:
    """What an SDK seals from the vectors' fixed inputs is what the bus opens: the vault's ingress key
    unwraps the data key (as the router does), the personal part comes back whole, the signature
    covers the sealed form; and the inbox copy's key, wrapped under the case key, is that data key."""
    sealing_doc = document["sealing"]
    vault = X25519PrivateKey.from_private_bytes(bytes.fromhex(sealing_doc["test_vault_key"]["private_key_hex"]))
    public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(document["test_key"]["public_key_hex"]))
    assert sealing_doc["test_vault_key"]["key_ref"] == key_ref_for_public(public_bytes(vault.public_key()))
    assert sealing_doc["personal_text_fields"]["ReferralMade"] == ["referring_body"]
    seen_keys = set()
    for v, opened in zip(sealing_doc["seal"], sealing_doc["open"], strict=True):
        signed = runtime.codec.decode(bytes.fromhex(v["signed"]["framed_hex"]))
        assert isinstance(signed, Event) and signed.sealed is not None
        assert signed.personal_data is None
        for field in sealing_doc["personal_text_fields"][v["record"]]:   # the texts are left as the marker
            assert getattr(signed, field) in (None, sealing_doc["sealed_marker"])
        env = signed.envelope
        data_key = unwrap_with_private(signed.sealed.wrapped_key, vault, case_id=env.case_id,
                                       event_id=str(env.event_id))
        assert data_key.hex() == v["inputs"]["data_key_hex"] and data_key not in seen_keys
        seen_keys.add(data_key)
        clear = open_sealed(signed, data_key)
        assert clear.model_dump(mode="json") == {**v["event"], "envelope": clear.model_dump(mode="json")["envelope"]}
        assert json.loads(v["personal_part_json"])["personal_data"] == v["event"]["personal_data"]
        assert "[sealed]" in json.dumps(v["sealed_event"]) and "Aigerim" not in json.dumps(v["sealed_event"])
        key_id, signature = unpack(env.signature or b"")
        public.verify(signature, signing_bytes(signed))
        assert signing_bytes(signed).hex() == v["signed"]["signing_bytes_hex"]
        # the inbox copy: re-wrapped for the agency under the case key, the signature still checks
        copy = ALL_RECORDS[opened["record"]].model_validate_json(json.dumps(opened["inbox_copy"]))
        assert isinstance(copy, Event) and copy.sealed is not None and copy.sealed.recipient == opened["agency"]
        public.verify(unpack(copy.envelope.signature or b"")[1], signing_bytes(copy))
        case_key = bytes.fromhex(sealing_doc["test_case_key"]["key_hex"])
        assert unwrap_with_key(base64.b64decode(opened["unwrap_request"]["wrapped_key"]), case_key,
                               case_id=env.case_id, event_id=str(env.event_id), recipient=opened["agency"],
                               key_ref=sealing_doc["test_case_key"]["key_ref"]) == data_key
        assert open_sealed(copy, data_key).model_dump(mode="json") == opened["opened_event"]
        with pytest.raises(SealingError):
            unwrap_with_private(signed.sealed.wrapped_key, vault, case_id=env.case_id, event_id=str(env.event_id),
                                recipient=opened["agency"])
    assert "Aigerim Testova" in json.dumps(sealing_doc["open"][0]["opened_event"], ensure_ascii=False)
