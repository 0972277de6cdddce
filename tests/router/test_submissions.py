"""SubmissionHandler without a broker: every check, the hash chain, idempotency by event id."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from referral_bus.contracts.base import City, Event
from referral_bus.contracts.bus_records import ReceiptStatus
from referral_bus.contracts.events import (
    EmergencyRemoval,
    ReferralKind,
    ReferralMade,
    RemovalOutcomeReported,
)
from referral_bus.domain.agencies import Directory
from referral_bus.domain.chain import GENESIS, chain_hash
from referral_bus.infra.codec.framing import Codec
from referral_bus.infra.codec.registry import EmbeddedRegistry
from referral_bus.infra.settings import Settings
from referral_bus.router.submissions import Submission, SubmissionHandler
from tests.builders import FICTIONAL, envelope

NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
POLICE, SCHOOL = "rb.ingress.police-juvenile-almaty", "rb.ingress.school-almaty"
INGRESS = {POLICE: "police-juvenile-almaty", SCHOOL: "school-almaty",
           "rb.ingress.police-juvenile-nur-sultan": "police-juvenile-nur-sultan"}


@pytest.fixture(scope="module")
def codec() -> Codec:
    return Codec(EmbeddedRegistry.from_directory(Settings().schemas_dir))


@pytest.fixture
def core(codec: Codec, directory: Directory) -> SubmissionHandler:
    return SubmissionHandler(codec, directory, INGRESS, max_event_bytes=4096, max_clock_skew=timedelta(minutes=5),
                      clock=lambda: NOW)


def removal(case: str = "C-1", **env: object) -> EmergencyRemoval:
    return EmergencyRemoval(envelope=envelope(EmergencyRemoval, case, "police-juvenile-almaty",
                                              at=NOW - timedelta(hours=1)).model_copy(update=env),
                            city=City.ALMATY, child_age_years=9, child_removed=True, cam_social_worker_present=False,
                            personal_data=FICTIONAL)


def submit(core: SubmissionHandler, codec: Codec, event: Event | bytes, topic: str = POLICE,
           key: bytes | None = None, offset: int = 0):  # type: ignore[no-untyped-def]
    value = event if isinstance(event, bytes) else codec.encode(event)
    if key is None and not isinstance(event, bytes):
        key = event.envelope.case_id.encode()
    return core.handle(Submission(topic, 0, offset, key, value))


def test_accepted_event_is_stamped_chained_and_routed(core: SubmissionHandler, codec: Codec) -> None:
    out = submit(core, codec, removal())
    assert out.receipt.status is ReceiptStatus.ACCEPTED and out.receipt.sequence == 1
    env = out.appended.envelope  # type: ignore[union-attr]
    assert (env.sequence, env.previous_hash, env.recorded_at) == (1, GENESIS, NOW)
    assert env.hash == chain_hash(GENESIS, out.appended)  # type: ignore[union-attr]
    assert {d.recipient_id for d, _ in out.deliveries} == {"guardianship-almaty", "cam-almaty"}
    second = submit(core, codec, RemovalOutcomeReported(
        envelope=envelope(RemovalOutcomeReported, "C-1", "police-juvenile-almaty", at=NOW),
        child_removed=True, placed_in_temporary_care=True, referred_to_cam=True), offset=1)
    assert second.appended.envelope.previous_hash == env.hash  # type: ignore[union-attr]
    assert second.appended.envelope.sequence == 2  # type: ignore[union-attr]


def test_resubmission_is_a_duplicate_and_redelivers(core: SubmissionHandler, codec: Codec) -> None:
    event = removal()
    submit(core, codec, event)
    again = submit(core, codec, event, offset=1)
    assert again.receipt.status is ReceiptStatus.DUPLICATE and again.receipt.sequence == 1
    assert again.appended is None and len(again.deliveries) == 2


def test_event_id_reused_for_other_content_is_refused(core: SubmissionHandler, codec: Codec) -> None:
    event = removal()
    submit(core, codec, event)
    changed = event.model_copy(update={"child_age_years": 10})
    out = submit(core, codec, changed, offset=1)
    assert (out.receipt.status, out.receipt.reason_code) == (ReceiptStatus.REJECTED, "EVENT_ID_CONFLICT")
    other_case = event.model_copy(update={"envelope": event.envelope.model_copy(update={"case_id": "C-2"})})
    assert submit(core, codec, other_case, offset=2).receipt.reason_code == "EVENT_ID_CONFLICT"


def test_restart_from_the_log_keeps_idempotency(core: SubmissionHandler, codec: Codec, directory: Directory) -> None:
    event = removal()
    appended = submit(core, codec, event).appended
    fresh = SubmissionHandler(codec, directory, INGRESS, max_event_bytes=4096, max_clock_skew=timedelta(minutes=5),
                       clock=lambda: NOW)
    fresh.fold(codec.decode(codec.encode(appended)))  # type: ignore[arg-type]
    again = submit(fresh, codec, event, offset=7)
    assert again.receipt.status is ReceiptStatus.DUPLICATE and len(again.deliveries) == 2


def test_a_submission_appended_before_a_crash_is_answered_accepted_when_it_comes_round(
        core: SubmissionHandler, codec: Codec, directory: Directory) -> None:
    """The case log remembers each append's submission (rb-source): the very same submission,
    processed again after a crash that came before its receipt, is ACCEPTED with its sequence and
    its deliveries; the same event sent again by the agency (another offset) is a DUPLICATE."""
    event = removal()
    appended = submit(core, codec, event, offset=3).appended
    fresh = SubmissionHandler(codec, directory, INGRESS, max_event_bytes=4096, max_clock_skew=timedelta(minutes=5),
                       clock=lambda: NOW)
    fresh.fold(codec.decode(codec.encode(appended)), source=(POLICE, 0, 3))  # type: ignore[arg-type]
    same = submit(fresh, codec, event, offset=3)
    assert (same.receipt.status, same.receipt.sequence, same.appended) == (ReceiptStatus.ACCEPTED, 1, None)
    assert len(same.deliveries) == 2
    resent = submit(fresh, codec, event, offset=4)
    assert resent.receipt.status is ReceiptStatus.DUPLICATE and resent.receipt.sequence == 1



def test_a_fold_before_the_tail_keeps_idempotency_without_routing_again(
        core: SubmissionHandler, codec: Codec, directory: Directory) -> None:
    """A rebuild folds the appends before each partition's tail with ``remember=False``: the case's
    sequence, chain and duplicate fingerprints are the same, but no deliveries are worked out or
    kept (only the tail's appends can still owe a receipt). Its resubmission is still a DUPLICATE,
    with nothing re-sent; one before a crash is not the case here (it would be in the tail)."""
    event = removal()
    appended = submit(core, codec, event, offset=3).appended
    fresh = SubmissionHandler(codec, directory, INGRESS, max_event_bytes=4096, max_clock_skew=timedelta(minutes=5),
                              clock=lambda: NOW)
    fresh.fold(codec.decode(codec.encode(appended)), source=(POLICE, 0, 3), remember=False)  # type: ignore[arg-type]
    assert not fresh.recent
    assert fresh.cases["C-1"] == core.cases["C-1"] and fresh.event_cases == core.event_cases
    again = submit(fresh, codec, event, offset=4)
    assert (again.receipt.status, again.receipt.sequence, again.deliveries) == (ReceiptStatus.DUPLICATE, 1, [])

def test_submissions_already_answered_are_skipped_once(core: SubmissionHandler, codec: Codec) -> None:
    """A receipt on a receipts topic means the submission was fully handled: coming round again after a
    crash (offsets not yet committed), it gets no second receipt."""
    first, second = removal("C-1"), removal("C-2")
    core.answered.add((POLICE, 0, 0))
    rounds = core.handle_batch([Submission(POLICE, 0, 0, b"C-1", codec.encode(first)),
                                Submission(POLICE, 0, 1, b"C-2", codec.encode(second))])
    assert [o.receipt.case_id for r in rounds for o in r] == ["C-2"]
    assert core.answered == set()  # each comes round at most once


@pytest.mark.parametrize("mutate, code, field", [
    (lambda e, c: (c.encode(e), b"C-1", POLICE, b"x" * 5000), "OVERSIZED", None),
    (lambda e, c: (b"not avro at all", b"C-1", POLICE, None), "BAD_MAGIC_BYTE", None),
    (lambda e, c: (c.encode(e), b"C-2", POLICE, None), "ENVELOPE_INVALID", "key"),
    (lambda e, c: (c.encode(e), b"C-1", SCHOOL, None), "WRONG_INGRESS_TOPIC",
     "envelope.producer.agency_id"),
    # a neighbour of the same kind cannot publish as the police of Almaty (nor they as it)
    (lambda e, c: (c.encode(e), b"C-1", "rb.ingress.police-juvenile-nur-sultan", None), "WRONG_INGRESS_TOPIC",
     "envelope.producer.agency_id"),
    (lambda e, c: (c.encode(e.model_copy(update={"envelope": e.envelope.model_copy(update={"sequence": 9})})),
                   b"C-1", POLICE, None), "ENVELOPE_INVALID", "envelope.sequence"),
    (lambda e, c: (c.encode(e.model_copy(update={"envelope": e.envelope.model_copy(
        update={"occurred_at": NOW + timedelta(hours=1)})})), b"C-1", POLICE, None),
     "ENVELOPE_INVALID", "envelope.occurred_at"),
    # 1970: a wrong clock or a mistyped year, not a removal that happened then
    (lambda e, c: (c.encode(e.model_copy(update={"envelope": e.envelope.model_copy(
        update={"occurred_at": datetime(1970, 1, 1, tzinfo=UTC)})})), b"C-1", POLICE, None),
     "ENVELOPE_INVALID", "envelope.occurred_at"),
])
def test_rejections_carry_code_and_field_and_a_dead_letter(core: SubmissionHandler, codec: Codec, mutate, code,
                                                           field) -> None:  # type: ignore[no-untyped-def]
    value, key, topic, override = mutate(removal(), codec)
    out = core.handle(Submission(topic, 0, 3, key, override or value))
    assert (out.receipt.status, out.receipt.reason_code, out.receipt.field) == (ReceiptStatus.REJECTED, code, field)
    assert out.appended is None and out.deliveries == []
    assert out.dead_letter is not None and out.dead_letter.reason_code == code
    assert out.dead_letter.source_offset == 3
    assert "Test Child" not in (out.receipt.reason or "")


def test_non_event_record_is_an_unknown_event_type(core: SubmissionHandler, codec: Codec) -> None:
    receipt = submit(core, codec, removal()).receipt
    out = core.handle(Submission(POLICE, 0, 1, b"C-1", codec.encode(receipt)))
    assert out.receipt.reason_code == "UNKNOWN_EVENT_TYPE"


def test_illegal_transition_names_the_paragraph(core: SubmissionHandler, codec: Codec) -> None:
    report = RemovalOutcomeReported(envelope=envelope(RemovalOutcomeReported, "C-9", "police-juvenile-almaty", at=NOW),
                                    child_removed=True, placed_in_temporary_care=True, referred_to_cam=True)
    out = submit(core, codec, report)
    assert (out.receipt.reason_code, out.receipt.paragraph) == ("UNKNOWN_CASE", "4.5, 4.7")
    assert "Annex B 4.5, 4.7" in (out.receipt.reason or "")


def test_recorded_at_never_goes_backwards_within_a_case(codec: Codec, directory: Directory) -> None:
    times = iter([NOW, NOW - timedelta(seconds=30)])
    core = SubmissionHandler(codec, directory, INGRESS, max_event_bytes=4096, max_clock_skew=timedelta(minutes=5),
                      clock=lambda: next(times, NOW))
    first = submit(core, codec, removal()).appended
    report = RemovalOutcomeReported(envelope=envelope(RemovalOutcomeReported, "C-1", "police-juvenile-almaty", at=NOW),
                                    child_removed=True, placed_in_temporary_care=True, referred_to_cam=True)
    second = submit(core, codec, report, offset=1).appended
    assert second.envelope.recorded_at >= first.envelope.recorded_at  # type: ignore[union-attr,operator]


def test_referral_under_three_routes_to_guardianship(core: SubmissionHandler, codec: Codec) -> None:
    event = ReferralMade(envelope=envelope(ReferralMade, "C-3", "school-almaty", at=NOW),
                         referral_kind=ReferralKind.CHILD_PROTECTION, city=City.ALMATY, child_age_years=1)
    out = submit(core, codec, event, topic=SCHOOL)
    assert [d.recipient_id for d, _ in out.deliveries] == ["guardianship-almaty"]


def test_batch_has_at_most_one_append_per_case_per_round(core: SubmissionHandler, codec: Codec) -> None:
    first = removal("C-1")
    report = RemovalOutcomeReported(envelope=envelope(RemovalOutcomeReported, "C-1", "police-juvenile-almaty", at=NOW),
                                    child_removed=True, placed_in_temporary_care=True, referred_to_cam=True)
    other = removal("C-2")
    subs = [Submission(POLICE, 0, i, e.envelope.case_id.encode(), codec.encode(e))
            for i, e in enumerate([first, report, other])]
    subs.insert(1, Submission(POLICE, 0, 9, b"C-1", b"garbage"))  # rejected: appends nothing
    rounds = core.handle_batch(subs)
    summary = [[(o.receipt.case_id, o.receipt.status.value) for o in r] for r in rounds]
    # everything keyed C-1 after its first append waits a round, in order; C-2 goes at once
    assert summary == [[("C-1", "ACCEPTED"), ("C-2", "ACCEPTED")], [(None, "REJECTED"), ("C-1", "ACCEPTED")]]
    assert rounds[1][1].appended.envelope.sequence == 2  # type: ignore[union-attr]


def test_rejected_submissions_leave_no_case_state(core: SubmissionHandler, codec: Codec) -> None:
    report = RemovalOutcomeReported(envelope=envelope(RemovalOutcomeReported, "C-404", "police-juvenile-almaty",
                                                      at=NOW),
                                    child_removed=True, placed_in_temporary_care=True, referred_to_cam=True)
    assert submit(core, codec, report).receipt.reason_code == "UNKNOWN_CASE"
    assert "C-404" not in core.cases


def test_every_receipt_is_keyed_by_the_submission_it_answers(core: SubmissionHandler, codec: Codec) -> None:
    """Issue 14: accepted, duplicate, refused and undecodable submissions alike — the key is what the
    sender's produce acknowledgement told it (topic, partition, offset), never a Python-made id."""
    event = removal()
    outcomes = [submit(core, codec, event, offset=10), submit(core, codec, event, offset=11),
                submit(core, codec, removal(producer=event.envelope.producer.model_copy(
                    update={"agency_id": "nobody"})), offset=12),
                submit(core, codec, b"\x00\x00\x00\x00\x07 not a schema", key=b"C-1", offset=13),
                submit(core, codec, b"\x05 bad magic", key=None, offset=14),
                submit(core, codec, b"", key=None, offset=15)]
    assert [o.receipt.status for o in outcomes] == [ReceiptStatus.ACCEPTED, ReceiptStatus.DUPLICATE,
                                                    *[ReceiptStatus.REJECTED] * 4]
    assert [o.receipt.reason_code for o in outcomes[3:]] == ["UNKNOWN_SCHEMA_ID", "BAD_MAGIC_BYTE", "UNDECODABLE"]
    assert [o.receipt_key for o in outcomes] == [f"{POLICE}:0:{n}".encode() for n in range(10, 16)]
    assert outcomes[3].receipt.event_id is None   # nothing to match on but the key and the source fields
