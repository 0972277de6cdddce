"""Signed events on the running bus: the router refuses an unsigned event, one signed by another
agency's key, and one signed with a revoked key, each with its own code; ``keys rotate`` and
``keys revoke`` take effect on the running router; ``verify`` checks every signature on the log."""

from __future__ import annotations

import time
import uuid

import pytest

from referral_bus.contracts.base import Event
from referral_bus.contracts.bus_records import Receipt, ReceiptStatus
from referral_bus.domain.signatures import sign
from referral_bus.infra.signing_keys import SigningKeyStore
from referral_bus.router.app import KEYS_EVERY
from referral_bus.sdk import AgencyClient
from tests.auditor.test_cli_on_broker import cli
from tests.broker_helpers import of_case, read_topic
from tests.builders import case_id, outcome_report, removal
from tests.conftest import Bus

pytestmark = [pytest.mark.broker]

#: A running router learns enrolments and revocations within KEYS_EVERY (0.2 s): wait well past it.
LEARNS = 5 * KEYS_EVERY


def send(client: AgencyClient, event: Event) -> Receipt:
    """``event`` exactly as given (signed or not) on the client's ingress topic; its receipt."""
    receipt = client.publish_raw(event.envelope.case_id.encode(), client.runtime.codec.encode(event),
                                 receipt_key=str(uuid.uuid4()))
    assert receipt is not None
    return receipt


def refused(receipt: Receipt, code: str) -> None:
    assert (receipt.status, receipt.reason_code, receipt.field) == (ReceiptStatus.REJECTED, code,
                                                                    "envelope.signature"), receipt


def test_only_the_producers_own_signature_gets_an_event_onto_the_log(bus: Bus) -> None:
    case = case_id("SIG")
    store = SigningKeyStore(bus.runtime.settings.signing_keys)
    with AgencyClient("police-juvenile-almaty", actor_id="i-sig", runtime=bus.runtime) as police:
        event = removal(police, case, hours_ago=1)
        refused(send(police, event), "SIGNATURE_MISSING")
        # the school's key (e.g. a school system that also holds police broker credentials)
        refused(send(police, sign(event, *store.current("school-almaty"))), "SIGNATURE_INVALID")
        signed = police.sign(event)
        altered = signed.model_copy(update={"child_age_years": 12})
        refused(send(police, altered), "SIGNATURE_INVALID")
        receipt = send(police, signed)
        assert receipt.status is ReceiptStatus.ACCEPTED and receipt.sequence == 1, receipt
    assert len(of_case(read_topic(bus.runtime, "case_log"), case)) == 1


def test_rotation_and_revocation_take_effect_at_once_and_verify_checks_every_signature(bus: Bus) -> None:
    agency = "police-juvenile-almaty"
    store = SigningKeyStore(bus.runtime.settings.signing_keys)
    case = case_id("ROT")
    with AgencyClient(agency, actor_id="i-rot", runtime=bus.runtime) as police:
        first = removal(police, case, hours_ago=1)
        assert police.publish(first, wait_for_receipt=True).status is ReceiptStatus.ACCEPTED  # type: ignore[union-attr]
        old_key = store.current(agency)

        rotated = cli(bus, "keys", "rotate", agency, "--grace-minutes", "0", "--by", "test-operator")
        assert rotated.returncode == 0, rotated.stderr
        time.sleep(LEARNS)
        report = outcome_report(police, case)
        refused(send(police, sign(report, *old_key)), "SIGNING_KEY_REVOKED")
        assert police.publish(report, wait_for_receipt=True).status is ReceiptStatus.ACCEPTED  # type: ignore[union-attr]
        again = police.publish(first, wait_for_receipt=True)   # re-sent, now under the new key: the same event
        assert again is not None and again.status is ReceiptStatus.DUPLICATE, again

        new_key_id = store.current(agency)[0]
        revoked = cli(bus, "keys", "revoke", new_key_id, "--reason", "compromised", "--by", "test-operator")
        assert revoked.returncode == 0, revoked.stderr
        time.sleep(LEARNS)
        receipt = police.publish(outcome_report(police, case_id("ROT")), wait_for_receipt=True)
        assert receipt is not None
        refused(receipt, "SIGNING_KEY_REVOKED")

        listed = cli(bus, "keys", "list").stdout
        assert f"{old_key[0]}" in listed and "(rotated)" in listed and "(compromised)" in listed
        enrolled = cli(bus, "keys", "enrol", agency, "--by", "test-operator")   # a new key after the compromise
        assert enrolled.returncode == 0 and "1 key(s) enrolled" in enrolled.stdout, enrolled.stdout
        time.sleep(LEARNS)
        fresh = police.publish(removal(police, case_id("ROT"), hours_ago=1), wait_for_receipt=True)
        assert fresh is not None and fresh.status is ReceiptStatus.ACCEPTED, fresh.reason if fresh else None

    result = cli(bus, "verify")   # events signed before their key was revoked stay valid
    assert result.returncode == 0 and result.stdout.strip().splitlines()[-1].startswith("OK: "), result.stdout
