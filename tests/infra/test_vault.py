"""The key vault (infra/vault.py): keys made once, kept in a private file, and an erased case's key
gone from the file's bytes; the key service refuses whom it must and records every unwrap first."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from referral_bus.domain.read_audit import check_purpose
from referral_bus.domain.sealing import CASE_LOG, wrap_with_key
from referral_bus.infra.vault import (
    AUDITOR,
    VAULT_FILE,
    CaseErased,
    KeyService,
    KeyServiceRefusal,
    Vault,
    load_public_key,
)


@pytest.fixture
def vault(tmp_path: Path) -> Vault:
    made = Vault(tmp_path / "secrets" / "vault", tmp_path / "vault-public-key.pem")
    made.ensure()
    return made


def test_the_vault_is_private_and_its_keys_are_made_once(vault: Vault, tmp_path: Path) -> None:
    assert stat.S_IMODE(os.stat(vault.directory).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(vault.path).st_mode) == 0o600
    public = load_public_key(vault.public_key_file)
    [(ref, _)] = vault.ingress_keys().items()
    vault.ensure()                                          # a second start finds them
    again = Vault(vault.directory, vault.public_key_file)
    again.ensure()
    assert load_public_key(vault.public_key_file) == public and list(again.ingress_keys()) == [ref]
    first = vault.case_key("C-1", create=True)
    assert first is not None and len(first[1]) == 32 and first[0].startswith("case:")
    assert again.case_key("C-1", create=True) == first and vault.case_key("C-2") is None


def test_erase_destroys_the_key_bytes_in_the_file(vault: Vault) -> None:
    found = vault.case_key("C-ERASE", create=True)
    kept = vault.case_key("C-KEEP", create=True)
    assert found is not None and kept is not None
    assert found[1] in vault.path.read_bytes()
    erasure = vault.erase("C-ERASE", by="operator-7")
    assert erasure.destroyed_now
    content = vault.path.read_bytes()
    assert found[1] not in content and kept[1] in content
    assert not list(vault.directory.glob(f"{VAULT_FILE}-*"))     # no journal left beside it
    with pytest.raises(CaseErased):
        vault.case_key("C-ERASE", create=True)                 # never made again
    again = vault.erase("C-ERASE", by="operator-8")            # idempotent
    assert not again.destroyed_now and again.erased_by == "operator-7"
    assert vault.erased("C-ERASE") == erasure.erased_at and vault.erased("C-KEEP") is None


class Trail:
    """Records reads as the read-audit writer would, or fails as it does when Kafka is down."""

    def __init__(self, fail: bool = False) -> None:
        self.reads: list[dict[str, Any]] = []
        self.fail = fail

    def __call__(self, **kwargs: Any) -> None:
        check_purpose(kwargs["purpose"])
        if self.fail:
            raise RuntimeError("brokers unreachable")
        self.reads.append(kwargs)


def wrapped_for(vault: Vault, recipient: str, data_key: bytes) -> bytes:
    found = vault.case_key("C-1", create=True)
    assert found is not None
    return wrap_with_key(data_key, found[1], case_id="C-1", event_id="e-1", recipient=recipient, key_ref=found[0])


def test_the_key_service_unwraps_for_the_recipient_after_recording_the_read(vault: Vault) -> None:
    trail = Trail()
    service = KeyService(vault, trail)
    data_key = os.urandom(32)
    ask = dict(case_id="C-1", event_id="e-1", purpose="referral 2026-41 assessment")
    wrapped = wrapped_for(vault, "ngo-rodnik", data_key)
    assert service.unwrap(principal="ngo-rodnik", authenticated=True, recipient="ngo-rodnik", wrapped_key=wrapped,
                          **ask) == data_key
    assert [(r["case_id"], r["tool"], r["reader"]) for r in trail.reads] == [("C-1", "unwrap", "ngo-rodnik")]
    log_copy = wrapped_for(vault, CASE_LOG, data_key)
    assert service.unwrap(principal=AUDITOR, authenticated=True, recipient=CASE_LOG, wrapped_key=log_copy,
                          **ask) == data_key

    def refused(code: str, **change: Any) -> None:
        call = {"principal": "ngo-rodnik", "authenticated": True, "recipient": "ngo-rodnik", "wrapped_key": wrapped,
                **ask, **change}
        before = len(trail.reads)
        with pytest.raises(KeyServiceRefusal) as caught:
            service.unwrap(**call)
        assert caught.value.code == code, caught.value
        assert len(trail.reads) == before or code == "BAD_WRAPPED_KEY"

    refused("NOT_ENTITLED", principal="school-almaty")                  # another agency's copy
    refused("NOT_ENTITLED", principal="school-almaty", recipient=CASE_LOG, wrapped_key=log_copy)
    refused("NOT_ENTITLED", authenticated=False)                        # an unproven claim on a secured bus
    refused("BAD_WRAPPED_KEY", recipient="ngo-rodnik", wrapped_key=log_copy)   # the log's copy, relabelled
    refused("UNKNOWN_CASE_KEY", case_id="C-NONE")
    refused("PURPOSE_REFUSED", purpose="x")
    with pytest.raises(KeyServiceRefusal) as caught:
        KeyService(vault, Trail(fail=True)).unwrap(principal="ngo-rodnik", authenticated=True,
                                                   recipient="ngo-rodnik", wrapped_key=wrapped, **ask)
    assert caught.value.code == "AUDIT_UNAVAILABLE" and caught.value.http_status == 503
    vault.erase("C-1", by="operator-7")
    refused("CASE_ERASED")


def test_a_batchs_case_keys_are_committed_together_at_its_end_and_not_at_all_if_it_fails(vault: Vault) -> None:
    """The router makes the keys of a batch's new cases in one transaction (one sync to disk per
    batch, not per case); another process sees them only once the batch committed, before anything
    sealed under them is written, and a batch that fails leaves no key behind."""
    other = Vault(vault.directory, vault.public_key_file)   # another process: the key service
    with vault.batch():
        first = vault.case_key("CASE-B1", create=True)
        assert vault.case_key("CASE-B1") == first            # the batch sees its own key
        with vault.batch():                                   # nested: joins the outer transaction
            vault.case_key("CASE-B2", create=True)
        assert other.case_key("CASE-B1") is None              # not committed yet
    assert other.case_key("CASE-B1") == first and other.case_key("CASE-B2") is not None
    with pytest.raises(RuntimeError), vault.batch():
        vault.case_key("CASE-B3", create=True)
        raise RuntimeError("the batch failed")
    assert vault.case_key("CASE-B3") is None and other.case_key("CASE-B3") is None
    vault.erase("CASE-B1", by="test")
    with pytest.raises(CaseErased), vault.batch():
        vault.case_key("CASE-B1", create=True)                # never made again for an erased case


def test_rotation_publishes_a_new_ingress_key_and_the_superseded_one_opens_until_retired(vault: Vault) -> None:
    from datetime import UTC, datetime, timedelta
    t0 = datetime.now(UTC)
    [first] = vault.ingress_keys()
    old_public = load_public_key(vault.public_key_file)
    second = vault.rotate_ingress(now=t0)
    assert load_public_key(vault.public_key_file) != old_public          # producers now seal to the new key
    assert set(vault.ingress_keys()) == {first, second}                   # and the old one still opens
    reopened = Vault(vault.directory, vault.public_key_file)
    reopened.ensure()                                                     # a restart keeps the newest published
    assert load_public_key(vault.public_key_file) != old_public
    keep = timedelta(days=30)
    assert vault.retire_ingress(keep, now=t0 + timedelta(days=29)) == []  # copies wrapped to it may still exist
    old_raw = bytes(vault.ingress_keys()[first].private_bytes_raw())
    assert vault.retire_ingress(keep, now=t0 + timedelta(days=30)) == [first]
    assert set(vault.ingress_keys()) == {second}
    assert old_raw not in vault.path.read_bytes()                         # its bytes are gone from the file
    assert vault.retire_ingress(keep, now=t0 + timedelta(days=3650)) == []  # the current key is never retired
