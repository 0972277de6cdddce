"""``referral-bus erase CASE_ID --reason TEXT``: crypto-shredding of one case (issue 11, item 4).

Destroys the case's key in the key vault (infra/vault.py): every copy of the case's sealed personal
data — on the case log, in inboxes, in archives, on the read-audit's neighbours — becomes ciphertext
nobody can open, while the rest of the case's history, its hash chain and its signatures stay as
they were (``verify`` still passes). The erasure is first recorded on the read-audit trail (tool
``erase``, who and why; fail closed: nothing is destroyed when it cannot be recorded), and the vault
keeps a tombstone, so the router refuses any later event of the case (``CASE_ERASED``). Idempotent.

Then the producers' own copies go too: on the case's partition of every ingress topic, the records
the router has already processed (before its group's committed offset) are deleted (Kafka's
DeleteRecords) — they hold the submission's sealed form wrapped to the vault's *ingress* key, not
the case key, so destroying the case key alone would leave them openable until they expire. Other
cases' processed submissions on those partitions go with them: the case log is the durable record,
and nothing reads an ingress record after the router has. Dead letters (refused submissions) and
submissions not yet processed stay until their ingress key is retired (``referral-bus vault``).
Needs the ``admin`` principal on a secured bus (DeleteRecords).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

import structlog

from referral_bus.cli.common import EXIT_UNREACHABLE, EXIT_USAGE, recorded_or_refused
from referral_bus.cli.common import runtime as _runtime
from referral_bus.infra.runtime import Runtime

if TYPE_CHECKING:
    from referral_bus.infra.vault import Vault

log = structlog.get_logger(__name__)


def cmd_erase(args: argparse.Namespace) -> int:
    from referral_bus.domain.read_audit import PurposeRefused, check_purpose
    from referral_bus.infra.read_audit import reader_identity
    try:
        reason = check_purpose(args.reason)
    except PurposeRefused as exc:
        print(f"error: --reason: {str(exc).replace('--purpose', '--reason')}", file=sys.stderr)
        return EXIT_USAGE
    runtime = _runtime()
    vault = existing_vault(runtime, "erase")
    if vault is None:
        return EXIT_USAGE
    already = vault.erased(args.case_id)
    if already is not None:
        print(f"case {args.case_id} was already erased at {already}; its key is gone")
        return _purge(runtime, args.case_id)
    who, _ = reader_identity(runtime, args.reader)
    refused = recorded_or_refused(runtime, case_id=args.case_id, tool="erase", purpose=reason, reader=args.reader,
                                  query="case key destroyed (crypto-shredding)",
                                  refused=f"case {args.case_id} was not erased, because the erasure")
    if refused is not None:
        return refused
    erasure = vault.erase(args.case_id, by=who)
    if erasure.destroyed_now:
        print(f"case {args.case_id}: its key is destroyed ({erasure.erased_at}, by {who}); its sealed personal data "
              "can no longer be opened anywhere. The router refuses further events of the case (CASE_ERASED); its "
              "history and `verify` are unchanged. Recorded on the read-audit trail (`audit reads "
              f"{args.case_id}`).")
    else:
        print(f"case {args.case_id}: the vault held no key for it (nothing of it was ever sealed); it is marked "
              "erased, so the router refuses further events of the case. Personal data sent in clear on a "
              "development bus is NOT made unreadable by this.")
    return _purge(runtime, args.case_id)


def existing_vault(runtime: Runtime, command: str) -> Vault | None:
    """The router's key vault, or None (said on stderr) when there is none here: these commands
    never make one — a new, empty vault would hold no key to destroy or rotate."""
    from referral_bus.infra.vault import VAULT_FILE, Vault
    settings = runtime.settings
    if not (settings.vault_dir / VAULT_FILE).is_file():
        print(f"error: no key vault at {settings.vault_dir} (REFERRAL_BUS_VAULT_DIR, default <data dir>/secrets/vault):"
              f" run {command} where the router's vault is", file=sys.stderr)
        return None
    return Vault(settings.vault_dir, settings.vault_public_key_file)


def _purge(runtime: Runtime, case_id: str) -> int:
    """Delete the case's processed submissions from the ingress topics; say what was done."""
    from kafka.errors import KafkaError
    try:
        purged = purge_processed_submissions(runtime, case_id)
    except KafkaError as exc:
        print(f"error: the case's submissions on the ingress topics were not deleted ({type(exc).__name__}: {exc}); "
              "they stay openable with the vault's ingress key until it is retired (`referral-bus vault`). Run "
              "`erase` again as the admin principal to retry.", file=sys.stderr)
        return EXIT_UNREACHABLE
    print(f"deleted the submissions the router had processed on the case's partition of {purged} ingress topic(s)")
    return 0


def purge_processed_submissions(runtime: Runtime, case_id: str) -> int:
    """DeleteRecords, on the case's partition of every ingress topic, up to the router's committed
    offset; returns how many topics had something to delete."""
    from kafka import KafkaAdminClient, TopicPartition

    from referral_bus.infra.kafka.log_reader import partition_for_key
    partition = partition_for_key(case_id.encode(), runtime.catalogue.partitions("ingress"))
    wanted = [TopicPartition(topic, partition) for topic in runtime.catalogue.ingress_topics()]
    group = runtime.catalogue.group("router")
    admin = KafkaAdminClient(**runtime.settings.kafka_python(), client_id="referral-bus-erase")
    try:
        committed = admin.list_group_offsets({group: wanted}).get(group, {})
        processed = {tp: meta.offset for tp, meta in committed.items() if meta is not None and meta.offset > 0}
        if processed:
            admin.delete_records(processed)
        log.info("erase.ingress_purged", case_id=case_id, topics=len(processed))
        return len(processed)
    finally:
        admin.close()


def register(sub: Any) -> None:
    p = sub.add_parser("erase", help="destroy a case's key (crypto-shredding): its sealed personal data becomes "
                                     "unreadable everywhere; history and verify stay intact")
    p.add_argument("case_id")
    p.add_argument("--reason", required=True, help="why, recorded on the read-audit trail: a ticket, request or "
                                                   "legal basis, never a name (e.g. 'erasure request 2026-77')")
    p.add_argument("--as", dest="reader", help="who erases (default $REFERRAL_BUS_OPERATOR, else the Kafka "
                                               "principal or the login name)")
    p.set_defaults(func=cmd_erase)
