"""Tamper detection over the case log: per-case sequence numbers and the hash chain.

Every finding names the case, where in the log (partition, offset) and what is wrong:
- ALTERED: an event's content no longer matches its own hash;
- REMOVED: sequence numbers are missing before this event;
- REORDERED: a sequence number arrives after a higher one;
- INJECTED: a second, different event claims a sequence number already taken;
- CHAIN_BROKEN: the event's previous_hash is not the hash of the case's previous event;
- WRONG_KEY: the Kafka key is not the event's case id (it would sit on the wrong partition);
- BAD_SIGNATURE: the event is not signed by its producer's agency with a key enrolled and not
  revoked when the router recorded it (domain/signatures.py) — checked when the signing-key
  directory is given;
- CHECKPOINT_MISMATCH: a chain checkpoint the router signed says a case's chain reached a sequence
  with a hash the log does not hold (newest events deleted, a case rewritten or removed whole);
  BAD_CHECKPOINT: a checkpoint not validly signed by the router — checked when checkpoints are given.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum

from referral_bus.contracts.base import Envelope, Event
from referral_bus.contracts.bus_records import ChainCheckpoint
from referral_bus.domain.chain import GENESIS, chain_hash
from referral_bus.domain.rejections import Rejection
from referral_bus.domain.signatures import KeyDirectory


class Finding(str, Enum):
    ALTERED = "ALTERED"
    REMOVED = "REMOVED"
    REORDERED = "REORDERED"
    INJECTED = "INJECTED"
    CHAIN_BROKEN = "CHAIN_BROKEN"
    WRONG_KEY = "WRONG_KEY"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    CHECKPOINT_MISMATCH = "CHECKPOINT_MISMATCH"
    BAD_CHECKPOINT = "BAD_CHECKPOINT"


@dataclass(frozen=True)
class Problem:
    finding: Finding
    case_id: str
    partition: int
    offset: int
    sequence: int | None
    detail: str

    def __str__(self) -> str:
        return (f"{self.finding.value:<12} case {self.case_id} partition {self.partition} offset {self.offset} "
                f"sequence {self.sequence}: {self.detail}")


@dataclass(frozen=True)
class LoggedEvent:
    partition: int
    offset: int
    key: bytes | None
    event: Event


@dataclass(frozen=True)
class LoggedCheckpoint:
    partition: int
    offset: int
    checkpoint: ChainCheckpoint


@dataclass
class _CaseChain:
    last_sequence: int = 0
    last_hash: str = GENESIS
    hashes: dict[int, str] = field(default_factory=dict)


@dataclass
class VerificationReport:
    events: int = 0
    cases: int = 0
    checkpoints: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(logged: Iterable[LoggedEvent], signing_keys: KeyDirectory | None = None,
           checkpoints: Iterable[LoggedCheckpoint] = ()) -> VerificationReport:
    """Check events in log order (per partition order is what matters: a case lives on one);
    with ``signing_keys``, every event's signature too; then every chain checkpoint (its signature,
    when the keys are given) against the chains found."""
    report = VerificationReport()
    chains: dict[str, _CaseChain] = {}
    gaps: list[tuple[Problem, str, range]] = []  # REMOVED findings, dropped if the sequences turn up late
    for item in logged:
        report.events += 1
        env = item.event.envelope
        chain = chains.setdefault(env.case_id, _CaseChain())
        seq = env.sequence or 0

        def found(kind: Finding, detail: str, item: LoggedEvent = item, env: Envelope = env) -> None:
            report.problems.append(Problem(kind, env.case_id, item.partition, item.offset, env.sequence, detail))

        if item.key != env.case_id.encode():
            found(Finding.WRONG_KEY, f"key {item.key!r} is not the case id")
        if signing_keys is not None:
            try:
                signing_keys.check(item.event, at=env.recorded_at or datetime.now(UTC))
            except Rejection as rejection:
                found(Finding.BAD_SIGNATURE, f"{rejection.code.value}: {rejection.message}")
        own_hash_ok = env.hash == chain_hash(env.previous_hash or GENESIS, item.event)
        if not own_hash_ok:
            found(Finding.ALTERED, "content does not match the event's hash")
        if seq in chain.hashes:
            if chain.hashes[seq] != env.hash:
                found(Finding.INJECTED, f"sequence {seq} is already taken by a different event")
            else:
                found(Finding.INJECTED, f"sequence {seq} appears twice (a copy of an earlier event)")
            continue
        if seq < chain.last_sequence:
            found(Finding.REORDERED, f"sequence {seq} comes after sequence {chain.last_sequence}")
            chain.hashes[seq] = env.hash or ""
            continue
        if seq > chain.last_sequence + 1:
            missing = range(chain.last_sequence + 1, seq)
            found(Finding.REMOVED, f"sequence(s) {missing[0]}–{missing[-1]} missing before this event"
                  if len(missing) > 1 else f"sequence {missing[0]} missing before this event")
            gaps.append((report.problems[-1], env.case_id, missing))
        elif env.previous_hash != chain.last_hash and own_hash_ok:
            found(Finding.CHAIN_BROKEN, "previous_hash is not the hash of the case's previous event")
        chain.hashes[seq] = env.hash or ""
        chain.last_sequence, chain.last_hash = seq, env.hash or chain.last_hash
    for problem, case_id, missing in gaps:
        if all(m in chains[case_id].hashes for m in missing):  # they came later: reordered, not removed
            report.problems.remove(problem)
    report.cases = len(chains)
    for checkpoint in checkpoints:
        report.checkpoints += 1
        report.problems += _check_checkpoint(checkpoint, chains, signing_keys)
    return report


def _check_checkpoint(item: LoggedCheckpoint, chains: dict[str, _CaseChain],
                      signing_keys: KeyDirectory | None) -> list[Problem]:
    checkpoint = item.checkpoint
    said = f"checkpoint {checkpoint.checkpoint_id} of {checkpoint.recorded_at.isoformat()}"
    if signing_keys is not None:
        try:
            signing_keys.check_checkpoint(checkpoint)
        except Rejection as rejection:
            return [Problem(Finding.BAD_CHECKPOINT, head.case_id, item.partition, item.offset, head.sequence,
                            f"{said}: {rejection.code.value}: {rejection.message}") for head in checkpoint.heads]
    out = []
    for head in checkpoint.heads:
        chain = chains.get(head.case_id)
        logged = chain.hashes.get(head.sequence) if chain else None
        if logged == head.hash:
            continue
        if chain is None:
            detail = f"{said} saw this case at sequence {head.sequence}; the log has no event of it"
        elif logged is None:
            detail = (f"{said} saw sequence {head.sequence}; the log's chain of the case ends at sequence "
                      f"{chain.last_sequence}")
        else:
            detail = f"{said} saw another event at sequence {head.sequence} (hash {head.hash[:12]}…)"
        out.append(Problem(Finding.CHECKPOINT_MISMATCH, head.case_id, item.partition, item.offset, head.sequence,
                           detail))
    return out
