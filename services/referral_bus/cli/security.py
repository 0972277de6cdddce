"""Who may connect and what each may do: ``acl render|apply`` (the broker's ACLs from topics.yaml
and agencies.yaml), ``credentials issue|rotate|revoke`` (SCRAM passwords of agencies, services
and tools) and ``keys enrol|rotate|revoke|list`` (the agencies' event-signing keys). They act on
the broker as the operator's ``admin`` principal, whose credentials come from the environment
(REFERRAL_BUS_KAFKA_SECURITY=sasl_ssl …; docs/security.md)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from referral_bus.cli.common import runtime as _runtime
from referral_bus.infra.local_time import shown


def _secrets_dir(explicit: str | None) -> Path:
    """Where password files go: given, or REFERRAL_BUS_SECRETS_DIR, or where ``up --secure`` keeps them."""
    return Path(explicit or os.environ.get("REFERRAL_BUS_SECRETS_DIR")
                or Path(os.environ.get("REFERRAL_BUS_DATA_DIR", ".referral-bus")) / "kafka-secured" / "secrets"
                / "principals")


def cmd_acl(args: argparse.Namespace) -> int:
    from referral_bus.infra.kafka.acls import apply_acls, grants, principals
    runtime = _runtime()
    wanted = grants(runtime.catalogue, runtime.directory)
    if args.action == "render":
        for grant in wanted:
            print(grant)
        print(f"{len(wanted)} ACLs for {len(principals(runtime.directory))} principals; everything else is refused")
        return 0
    from kafka import KafkaAdminClient
    admin = KafkaAdminClient(**runtime.settings.kafka_python(), client_id="referral-bus-acl")
    try:
        report = apply_acls(admin, wanted, principals(runtime.directory))
    finally:
        admin.close()
    for grant in report.created:
        print(f"+ {grant}")
    for removed in report.removed:
        print(f"- {removed}")
    print(f"{len(report.created)} created, {len(report.removed)} removed, {report.unchanged} unchanged")
    return 0


def cmd_credentials(args: argparse.Namespace) -> int:
    from kafka import KafkaAdminClient

    from referral_bus.infra.kafka.acls import principals
    from referral_bus.infra.kafka.credentials import CredentialError, CredentialStore, issue, revoke
    runtime = _runtime()
    security = runtime.settings.kafka_security
    if security.mode != "sasl_ssl" or security.ca_file is None:
        print("error: credentials are managed on a secured broker: set REFERRAL_BUS_KAFKA_SECURITY=sasl_ssl and the "
              "admin's REFERRAL_BUS_KAFKA_USERNAME, REFERRAL_BUS_KAFKA_PASSWORD_FILE, REFERRAL_BUS_KAFKA_CA_FILE",
              file=sys.stderr)
        return 2
    names = principals(runtime.directory) if args.all else args.principal
    if not names:
        print("error: name the principals (agency ids, rb-<service>) or give --all", file=sys.stderr)
        return 2
    unknown = sorted(set(names) - set(principals(runtime.directory)))
    if unknown and not args.any_name:
        print(f"error: {unknown} are neither agencies in agencies.yaml nor services; add --any-name for a tool's "
              "own principal (it gets no ACLs until you grant some)", file=sys.stderr)
        return 2
    store = CredentialStore(_secrets_dir(args.secrets_dir), security.ca_file)
    admin = KafkaAdminClient(**runtime.settings.kafka_python(), client_id="referral-bus-credentials")
    try:
        if args.action == "revoke":
            revoke(admin, store, names)
        else:
            issue(admin, store, names, rotate=args.action == "rotate")
    except CredentialError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        admin.close()
    for name in names:
        if args.action == "revoke":
            print(f"revoked {name}: new connections are refused; open ones end within an hour (re-authentication)")
        else:
            print(f"{'rotated' if args.action == 'rotate' else 'issued'} {name}: password in "
                  f"{store.password_file(name)} (hand it over out of band; never by email in clear)")
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from referral_bus.contracts.bus_records import SigningKeyEnrolled, SigningKeyRevoked
    from referral_bus.domain.signatures import ROUTER
    from referral_bus.infra.signing_keys import (
        SigningKeyError,
        SigningKeyStore,
        enrol_agencies,
        enrolment,
        load_key_directory,
        publish_key_records,
        revocation,
    )
    runtime = _runtime()
    directory = load_key_directory(runtime)
    if args.action == "list":
        for key in sorted(directory.keys.values(), key=lambda k: (k.agency_id, k.enrolled_at)):
            state = (f"revoked {shown(key.revoked_at)} ({key.revocation_reason})" if key.revoked_at
                     else "current")
            print(f"{key.key_id:<48} enrolled {shown(key.enrolled_at)}  {state}")
        print(f"{len(directory.keys)} key(s)")
        return 0
    if args.action == "revoke":
        if not args.name or not args.reason:
            print("error: keys revoke KEY_ID... --reason WHY (see `referral-bus keys list` for the ids)",
                  file=sys.stderr)
            return 2
        try:
            revoked = [revocation(directory, key_id, args.reason, args.by) for key_id in args.name]
        except SigningKeyError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        publish_key_records(runtime, revoked)
        for record in revoked:
            print(f"revoked {record.key_id} from {shown(record.revoked_at)}: events signed with it are refused "
                  "from then on; those recorded before stay valid")
        return 0
    signers = {*runtime.directory.agencies, ROUTER}
    agencies = sorted(signers) if args.all else args.name
    unknown = sorted(set(agencies) - signers)
    if not agencies or unknown:
        print(f"error: name agencies of agencies.yaml (or {ROUTER}, the router's checkpoint key) or give --all"
              f"{f' (unknown: {unknown})' if unknown else ''}", file=sys.stderr)
        return 2
    store = SigningKeyStore(Path(args.key_dir) if args.key_dir else runtime.settings.signing_keys)
    if args.action == "enrol":
        enrolled = enrol_agencies(runtime, store, agencies, args.by)
        print(f"{len(enrolled)} key(s) enrolled, {len(agencies) - len(enrolled)} agency(ies) already had one; "
              f"private keys in {store.directory} (mode 0600: copy each agency's folder to its own systems only)")
        return 0
    # rotate: enrol a new key, let the routers learn it, sign with it, retire the old ones after the grace
    import time

    from referral_bus.infra.signing_keys import ROUTERS_LEARN
    fresh = {agency_id: store.generate(agency_id, make_current=False) for agency_id in agencies}
    publish_key_records(runtime, [enrolment(a, key_id, public, args.by) for a, (key_id, public) in fresh.items()])
    time.sleep(ROUTERS_LEARN)   # an event signed with the new key before a router knows it would be refused
    retired: list[SigningKeyEnrolled | SigningKeyRevoked] = []
    for agency_id, (key_id, _) in fresh.items():
        old = [k for k in directory.of(agency_id) if k.revoked_at is None]
        store.make_current(agency_id, key_id)
        retired += [revocation(directory, k.key_id, "rotated", args.by, timedelta(minutes=args.grace_minutes))
                    for k in old]
        print(f"{agency_id}: now signs with {key_id}; {len(old)} older key(s) retire in {args.grace_minutes:g} min")
    publish_key_records(runtime, retired)
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("acl", help="the broker's ACLs from topics.yaml and agencies.yaml: print them, or apply them")
    p.add_argument("action", choices=["render", "apply"])
    p.set_defaults(func=cmd_acl)
    p = sub.add_parser("credentials", help="issue, rotate or revoke principals' SCRAM passwords on a secured broker")
    p.add_argument("action", choices=["issue", "rotate", "revoke"])
    p.add_argument("principal", nargs="*", help="agency ids (agencies.yaml) or rb-<service>")
    p.add_argument("--all", action="store_true", help="every agency and service")
    p.add_argument("--any-name", action="store_true", help="allow a principal that is no agency or service")
    p.add_argument("--secrets-dir", help="where the password files go (default $REFERRAL_BUS_SECRETS_DIR or, "
                                         "as up --secure keeps them, <data dir>/kafka-secured/secrets/principals), "
                                         "mode 0600")
    p.set_defaults(func=cmd_credentials)
    p = sub.add_parser("keys", help="the agencies' event-signing keys: enrol, rotate, revoke, list")
    p.add_argument("action", choices=["enrol", "rotate", "revoke", "list"])
    p.add_argument("name", nargs="*", help="agency ids or rb-router (enrol, rotate), key ids (revoke)")
    p.add_argument("--all", action="store_true", help="every agency of agencies.yaml and rb-router (enrol, rotate)")
    p.add_argument("--reason", help="why a key is revoked (revoke), e.g. compromised")
    p.add_argument("--grace-minutes", type=float, default=10.0,
                   help="rotate: how long the old key is still accepted for events already on their way")
    p.add_argument("--by", default=os.environ.get("USER", "operator"), help="who does it, for the record")
    p.add_argument("--key-dir", help="where private keys go (default $REFERRAL_BUS_SIGNING_KEY_DIR or "
                                     "<data dir>/signing-keys), mode 0600")
    p.set_defaults(func=cmd_keys)
