"""``referral-bus vault status | rotate-ingress | retire-ingress``: the key vault's ingress keys.

Producers wrap each event's data key to the vault's *ingress* public key; the router opens it with
the private half. Rotating makes a new key pair and publishes its public half
(``REFERRAL_BUS_VAULT_PUBLIC_KEY_FILE``; the SDK and the gateway re-read it when it changes); the
superseded key still opens what was wrapped to it. Retiring destroys a superseded key once every
copy wrapped to it has expired from Kafka — the longest retention of the topics that carry a
producer's sealed form (ingress, dead letters; ``topics.yaml``) — so nothing is lost, and an
erased case's ingress copies and dead letters can no longer be opened by anyone. Run ``rotate``
regularly (e.g. daily) and ``retire`` after it: an erased case's submissions then stay openable at
most one rotation period plus that retention. Run where the router's vault is.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from referral_bus.cli.common import EXIT_USAGE
from referral_bus.cli.common import runtime as _runtime

#: The topics that carry a producer's sealed form, wrapped to an ingress key.
SEALED_AS_SUBMITTED = ("ingress", "dead_letter")


def keep_superseded_for(retentions_ms: dict[str, int]) -> timedelta:
    """How long a superseded ingress key must stay: the longest retention among SEALED_AS_SUBMITTED
    (a topic kept forever would mean forever: refused, a key must be retirable)."""
    kept = [retentions_ms[t] for t in SEALED_AS_SUBMITTED]
    if any(ms < 0 for ms in kept):
        raise ValueError("a topic carrying submissions as sealed is kept forever (retention_ms: -1): "
                         "its ingress keys could never be retired")
    return timedelta(milliseconds=max(kept))


def cmd_vault(args: argparse.Namespace) -> int:
    from referral_bus.cli.erase import existing_vault
    runtime = _runtime()
    vault = existing_vault(runtime, "vault")
    if vault is None:
        return EXIT_USAGE
    try:
        keep = keep_superseded_for({t: int(runtime.catalogue.entries[t]["retention_ms"]) for t in SEALED_AS_SUBMITTED})
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.vault_command == "rotate-ingress":
        ref = vault.rotate_ingress()
        print(f"new ingress key {ref}; its public half is in {vault.public_key_file}. Superseded keys open what was "
              f"sealed to them until `referral-bus vault retire-ingress` destroys them, {_days(keep)} after this.")
    elif args.vault_command == "retire-ingress":
        retired = vault.retire_ingress(keep)
        print(f"retired {len(retired)} ingress key(s): {', '.join(retired) or 'none due'}")
    now = datetime.now(UTC)
    for key in vault.ingress_key_ages():
        if key.superseded_at is None:
            state = "current (producers seal to it)"
        else:
            due = key.superseded_at + keep
            state = (f"superseded {key.superseded_at:%Y-%m-%d %H:%M} UTC; "
                     + ("retire now" if due <= now else f"retirable from {due:%Y-%m-%d %H:%M} UTC"))
        print(f"{key.key_ref}  made {key.created_at:%Y-%m-%d %H:%M} UTC  {state}")
    return 0


def _days(span: timedelta) -> str:
    return f"{span.total_seconds() / 86400:g} days"


def register(sub: Any) -> None:
    p = sub.add_parser("vault", help="the key vault's ingress keys: status, rotate-ingress, retire-ingress")
    p.add_argument("vault_command", choices=("status", "rotate-ingress", "retire-ingress"),
                   help="status: list the ingress keys; rotate-ingress: make a new one and publish it; "
                        "retire-ingress: destroy those superseded longer ago than the ingress and dead-letter "
                        "retention")
    p.set_defaults(func=cmd_vault)
