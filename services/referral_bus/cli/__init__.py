"""The ``referral-bus`` command. Every subcommand reads settings from the environment
(KAFKA_BOOTSTRAP_SERVERS, REFERRAL_BUS_TOPIC_PREFIX, SCHEMA_REGISTRY_URL …); ``--bootstrap`` overrides.

One module per group of commands: ``run`` (up, broker, the services), ``admin`` (topics, schemas,
deploy), ``security`` (acl, credentials), ``audit`` (history, verify, told, archive, report, sla explain/report, tail),
``scenarios`` (simulate)."""

from __future__ import annotations

import argparse
import os
import sys

from referral_bus.cli import admin, audit, run, scenarios, security
from referral_bus.infra.logging import configure_logging


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="referral-bus", description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap", help="Kafka bootstrap servers (default: $KAFKA_BOOTSTRAP_SERVERS)")
    parser.add_argument("--log-level", default=os.environ.get("REFERRAL_BUS_LOG_LEVEL", "INFO"))
    sub = parser.add_subparsers(dest="command", required=True)
    for group in (run, admin, security, audit, scenarios):
        group.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.bootstrap:
        os.environ["KAFKA_BOOTSTRAP_SERVERS"] = args.bootstrap
    configure_logging(args.log_level)
    from referral_bus.infra.settings import ProjectFilesNotFound
    try:
        return int(args.func(args) or 0)
    except (ProjectFilesNotFound, ValueError) as exc:  # a setting or file the operator must fix
        if isinstance(exc, ValueError) and not str(exc).startswith(("REFERRAL_BUS_", "KAFKA_")):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2

