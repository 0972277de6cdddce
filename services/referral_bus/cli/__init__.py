"""The ``referral-bus`` command. Every subcommand reads settings from the environment
(KAFKA_BOOTSTRAP_SERVERS, REFERRAL_BUS_TOPIC_PREFIX, SCHEMA_REGISTRY_URL …); ``--bootstrap`` overrides.

One module per group of commands: ``run`` (up, broker, the services), ``admin`` (topics, schemas,
deploy), ``security`` (acl, credentials), ``audit`` (history, verify, told, archive, report, sla explain/report, tail),
``erase`` (crypto-shredding of a case), ``vault`` (ingress keys), ``scenarios`` (simulate)."""

from __future__ import annotations

import argparse
import os
import sys

from referral_bus.cli import admin, audit, erase, run, scenarios, security, vault
from referral_bus.cli.common import EXIT_UNREACHABLE, EXIT_USAGE
from referral_bus.infra.logging import configure_logging

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="referral-bus", description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap", help="Kafka bootstrap servers (default: $KAFKA_BOOTSTRAP_SERVERS)")
    parser.add_argument("--log-level", default=os.environ.get("REFERRAL_BUS_LOG_LEVEL", "INFO"))
    sub = parser.add_subparsers(dest="command", required=True)
    for group in (run, admin, security, audit, erase, vault, scenarios):
        group.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.bootstrap:
        os.environ["KAFKA_BOOTSTRAP_SERVERS"] = args.bootstrap
    if args.log_level.upper() not in LOG_LEVELS:
        print(f"error: {'--log-level' if '--log-level' in (argv or sys.argv) else 'REFERRAL_BUS_LOG_LEVEL'}: "
              f"expected one of {', '.join(LOG_LEVELS)}, got {args.log_level!r}", file=sys.stderr)
        return EXIT_USAGE
    configure_logging(args.log_level)
    from referral_bus.infra.settings import ProjectFilesNotFound
    try:
        return int(args.func(args) or 0)
    except (ProjectFilesNotFound, ValueError) as exc:  # a setting or file the operator must fix
        if isinstance(exc, ValueError) and not str(exc).startswith(("REFERRAL_BUS_", "KAFKA_")):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        unreachable = _unreachable(exc)
        if unreachable is None:
            raise   # a bug: the traceback is what a developer needs
        print(f"error: {unreachable}", file=sys.stderr)
        return EXIT_UNREACHABLE


def _unreachable(exc: Exception) -> str | None:
    """What to tell the operator when ``exc`` means a service could not be reached or refused us."""
    import aiokafka.errors
    import kafka.errors
    import sqlalchemy.exc
    servers = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    if isinstance(exc, kafka.errors.SaslAuthenticationFailedError | aiokafka.errors.SaslAuthenticationFailed
                  | aiokafka.errors.AuthenticationFailedError):
        return (f"the Kafka brokers at {servers} refused this principal's credentials "
                "(REFERRAL_BUS_KAFKA_USERNAME, REFERRAL_BUS_KAFKA_PASSWORD_FILE; docs/security.md)")
    if isinstance(exc, kafka.errors.AuthorizationError | aiokafka.errors.TopicAuthorizationFailedError
                  | aiokafka.errors.GroupAuthorizationFailedError):
        return f"the brokers refused this principal access to a topic it needs ({type(exc).__name__}; `acl render`)"
    if isinstance(exc, kafka.errors.KafkaConnectionError | kafka.errors.KafkaTimeoutError
                  | kafka.errors.BrokerNotAvailableError | aiokafka.errors.NoBrokersAvailable
                  | aiokafka.errors.KafkaConnectionError | aiokafka.errors.KafkaTimeoutError | TimeoutError
                  | ConnectionError):
        said = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return (f"cannot reach the Kafka brokers at {servers} ({said}): is the bus running "
                "(`referral-bus up`), and are KAFKA_BOOTSTRAP_SERVERS and REFERRAL_BUS_KAFKA_SECURITY right?")
    if isinstance(exc, sqlalchemy.exc.OperationalError):
        return ("cannot use the read-model database (REFERRAL_BUS_DATABASE_URL; default SQLite under the data "
                f"directory): {str(exc.orig).splitlines()[0] if exc.orig else type(exc).__name__}")
    return None

