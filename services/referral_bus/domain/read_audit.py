"""Audited reads (issue 11, item 5): every read of a case by a person or tool is a ``CaseRead`` on
the read-audit topic — who, which case, when, with which command, why — written before anything is
shown, and chained like the case log (``domain/chain.py``): record n carries sequence n, the hash
of record n−1 (``GENESIS`` for the first) and its own hash over both. Deleting, altering,
reordering or inserting a record anywhere but at the very end breaks the chain.

Pure: building the next record from the chain's head, checking a stated purpose, verifying a list of
records in the topic's order and picking out one case's reads. The topic I/O is
``infra/read_audit.py``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from referral_bus.contracts.bus_records import CaseRead
from referral_bus.domain.chain import GENESIS, record_chain_hash

#: A purpose says something: at least this many letters or digits.
PURPOSE_MIN_CHARACTERS = 5
PURPOSE_MAX_CHARACTERS = 200
PURPOSE_HELP = ("why this case is read, recorded on the read-audit trail before anything is shown: a task, "
                "ticket or legal basis, never a name (e.g. 'complaint 2026-114 review', 'court order 7/2026')")


class PurposeRefused(ValueError):
    """A read without a usable purpose; the message says what is wanted."""


def check_purpose(text: str | None) -> str:
    """The purpose, stripped; ``PurposeRefused`` when there is none or it says nothing."""
    purpose = " ".join((text or "").split())
    if not purpose:
        raise PurposeRefused("a read of a case must state its purpose: --purpose TEXT (" + PURPOSE_HELP + ")")
    if len(re.findall(r"\w", purpose)) < PURPOSE_MIN_CHARACTERS:
        raise PurposeRefused(f"--purpose {purpose!r} says too little: at least {PURPOSE_MIN_CHARACTERS} letters or "
                             "digits, e.g. a ticket or task")
    if len(purpose) > PURPOSE_MAX_CHARACTERS:
        raise PurposeRefused(f"--purpose is {len(purpose)} characters; at most {PURPOSE_MAX_CHARACTERS}")
    return purpose


@dataclass(frozen=True)
class ChainHead:
    """Where the read-audit chain stands: its last sequence and that record's hash."""

    sequence: int = 0
    hash: str = GENESIS


def next_read(head: ChainHead, *, read_id: UUID, case_id: str, reader: str, principal: str | None, tool: str,
              query: str | None, purpose: str, read_at: datetime) -> CaseRead:
    """The record that extends the chain at ``head`` with one read."""
    record = CaseRead(read_id=read_id, sequence=head.sequence + 1, case_id=case_id, reader=reader,
                      principal=principal, tool=tool, query=query, purpose=check_purpose(purpose), read_at=read_at,
                      previous_hash=head.hash, hash=None)
    return record.model_copy(update={"hash": record_chain_hash(head.hash, record)})


@dataclass(frozen=True)
class LoggedRead:
    """A record as found on the topic, with its offset (committed records only)."""

    offset: int
    record: CaseRead


@dataclass(frozen=True)
class ChainProblem:
    offset: int
    sequence: int | None
    code: str   # ALTERED, MISSING, OUT_OF_ORDER, NOT_LINKED
    detail: str

    def __str__(self) -> str:
        return f"{self.code}  read-audit offset {self.offset} (sequence {self.sequence}): {self.detail}"


@dataclass
class ChainReport:
    records: int
    problems: list[ChainProblem]
    head: ChainHead

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_reads(logged: Sequence[LoggedRead]) -> ChainReport:
    """Check the chain in the topic's order. After a problem the check goes on from the record found,
    so one deletion is one finding, not one per later record."""
    problems: list[ChainProblem] = []
    head = ChainHead()
    for item in logged:
        r = item.record
        if r.hash is None or r.hash != record_chain_hash(r.previous_hash, r):
            problems.append(ChainProblem(item.offset, r.sequence, "ALTERED",
                                         "the record's hash does not match its content"))
        if r.sequence != head.sequence + 1:
            code = "MISSING" if r.sequence > head.sequence + 1 else "OUT_OF_ORDER"
            problems.append(ChainProblem(item.offset, r.sequence, code,
                                         f"sequence {r.sequence} where the chain continues at {head.sequence + 1}"))
        elif r.previous_hash != head.hash:
            problems.append(ChainProblem(item.offset, r.sequence, "NOT_LINKED",
                                         "previous_hash is not the hash of the record before it"))
        head = ChainHead(r.sequence, r.hash or "")
    return ChainReport(len(logged), problems, head)


def reads_of(logged: Iterable[LoggedRead], case_id: str) -> list[CaseRead]:
    """The reads of one case, in the order they were recorded."""
    return [item.record for item in logged if item.record.case_id == case_id]
