"""Audited reads, the pure part: building the chained record, purposes, and finding a broken chain."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from referral_bus.contracts.bus_records import CaseRead
from referral_bus.domain.chain import GENESIS, record_chain_hash
from referral_bus.domain.read_audit import (
    ChainHead,
    LoggedRead,
    PurposeRefused,
    check_purpose,
    next_read,
    reads_of,
    verify_reads,
)

T0 = datetime(2026, 11, 22, 5, 0, tzinfo=UTC)


def trail(n: int, cases: tuple[str, ...] = ("C-1", "C-2")) -> list[LoggedRead]:
    head, out = ChainHead(), []
    for i in range(n):
        record = next_read(head, read_id=uuid.UUID(int=i + 1), case_id=cases[i % len(cases)], reader="auditor-7",
                           principal=None, tool="history", query=None, purpose=f"complaint 2026-{i:03}",
                           read_at=T0 + timedelta(minutes=i))
        out.append(LoggedRead(i * 2, record))   # offsets skip the transactions' commit markers
        head = ChainHead(record.sequence, record.hash or "")
    return out


def test_the_first_read_starts_the_chain_and_each_next_one_links_to_it() -> None:
    logged = trail(3)
    first, second, third = (item.record for item in logged)
    assert (first.sequence, first.previous_hash) == (1, GENESIS)
    assert (second.sequence, second.previous_hash) == (2, first.hash)
    assert third.previous_hash == second.hash
    assert first.hash == record_chain_hash(GENESIS, first.model_copy(update={"hash": None}))
    report = verify_reads(logged)
    assert report.ok and report.records == 3 and report.head == ChainHead(3, third.hash or "")


def test_an_empty_trail_is_intact() -> None:
    assert verify_reads([]).ok


def test_a_record_altered_after_it_was_written_is_found() -> None:
    logged = trail(4)
    forged = logged[1].record.model_copy(update={"purpose": "something else entirely"})
    logged[1] = LoggedRead(logged[1].offset, forged)
    [problem] = verify_reads(logged).problems
    assert (problem.code, problem.sequence) == ("ALTERED", 2)


def test_a_deleted_read_is_found_once() -> None:
    logged = trail(5)
    del logged[2]
    [problem] = verify_reads(logged).problems
    assert (problem.code, problem.sequence) == ("MISSING", 4)
    assert "continues at 3" in str(problem)


def test_reordered_reads_are_found() -> None:
    logged = trail(4)
    logged[1], logged[2] = logged[2], logged[1]
    codes = {p.code for p in verify_reads(logged).problems}
    assert "MISSING" in codes and "OUT_OF_ORDER" in codes


def test_a_whole_chain_rewritten_from_a_point_is_found_where_it_leaves_the_old_one() -> None:
    logged = trail(3)
    rewritten = next_read(ChainHead(2, "f" * 64), read_id=uuid.uuid4(), case_id="C-1", reader="someone",
                          principal=None, tool="history", query=None, purpose="covering tracks",
                          read_at=T0 + timedelta(hours=1))
    logged[2] = LoggedRead(logged[2].offset, rewritten)   # its own hash right, but not linked
    [problem] = verify_reads(logged).problems
    assert (problem.code, problem.sequence) == ("NOT_LINKED", 3)


def test_reads_of_one_case_in_order() -> None:
    logged = trail(5)
    assert [r.sequence for r in reads_of(logged, "C-1")] == [1, 3, 5]
    assert reads_of(logged, "C-9") == []


@pytest.mark.parametrize("text", [None, "", "   ", "x", "a b c", "?!?!?!"])
def test_a_read_without_a_purpose_that_says_something_is_refused(text: str | None) -> None:
    with pytest.raises(PurposeRefused, match="purpose"):
        check_purpose(text)


def test_a_purpose_is_one_line_of_at_most_200_characters() -> None:
    assert check_purpose("  complaint\n 2026-114   review ") == "complaint 2026-114 review"
    with pytest.raises(PurposeRefused, match="at most 200"):
        check_purpose("a" * 201)


def test_the_record_carries_no_field_for_what_was_shown() -> None:
    assert set(CaseRead.model_fields) == {"read_id", "sequence", "case_id", "reader", "principal", "tool", "query",
                                          "purpose", "read_at", "previous_hash", "hash"}


def test_a_reader_must_be_a_pseudonymous_token() -> None:
    with pytest.raises(ValueError):
        next_read(ChainHead(), read_id=uuid.uuid4(), case_id="C-1", reader="Aigerim Nurlanovna", principal=None,
                  tool="history", query=None, purpose="complaint 2026-114", read_at=T0)
