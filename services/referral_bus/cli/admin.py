"""Setting the bus up: topics from topics.yaml, the schemas, the deployment files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from referral_bus.cli.common import runtime as _runtime

if TYPE_CHECKING:
    pass


def cmd_topics(args: argparse.Namespace) -> int:
    runtime = _runtime()
    if args.action == "list":
        for spec in runtime.catalogue.specs():
            print(f"{spec.name:<40} partitions={spec.partitions} key={spec.key} "
                  f"retention.ms={spec.config['retention.ms']}")
        return 0
    from referral_bus.infra.kafka.admin import ReplicationRefused, apply_topics
    try:
        report = apply_topics(runtime.settings.bootstrap_servers, runtime.catalogue.specs(),
                              security=runtime.settings.kafka_security, replication_factor=args.replication_factor)
    except ReplicationRefused as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    for line in report.lines():
        print(line)
    print(f"{len(report.created)} created, {len(report.unchanged)} unchanged, {len(report.differences)} differ")
    return 1 if report.differences else 0


def cmd_schemas(args: argparse.Namespace) -> int:
    store = _runtime().schema_store
    if args.action == "freeze":
        try:
            changes = store.freeze()
        except ValueError as exc:
            print(f"refused: {exc}", file=sys.stderr)
            return 1
        print("\n".join(changes) or "schemas up to date")
        return 0
    problems = store.check()
    for problem in problems:
        print(problem)
    print(f"{len(store.records)} schemas checked (BACKWARD_TRANSITIVE), {len(problems)} problem(s)")
    return 1 if problems else 0


def cmd_deploy(args: argparse.Namespace) -> int:
    """deploy/ rendered from broker_config.py and deployment.py; `check` fails CI when the committed files drift."""
    from referral_bus import deployment
    from referral_bus.infra.settings import project_root
    out = Path(args.out) if args.out else project_root()
    if not args.out and not (out / "pyproject.toml").is_file():
        print(f"{out} is not a checkout of the repository (no pyproject.toml); pass --out REPOSITORY_ROOT",
              file=sys.stderr)
        return 2
    if args.action == "render":
        for path in deployment.write(out):
            print(path)
        return 0
    problems = deployment.check(out)
    for problem in problems:
        print(problem)
    print(f"deploy files in {out}: " + (f"{len(problems)} difference(s) from the renderer" if problems else "up to "
                                        "date"))
    return 1 if problems else 0


def register(sub: Any) -> None:
    p = sub.add_parser("topics", help="create topics from topics.yaml, or list them")
    p.add_argument("action", choices=["apply", "list"])
    p.add_argument("--replication-factor", type=int,
                   help="create topics with this many replicas instead of topics.yaml's (said aloud; for a "
                        "development cluster smaller than production)")
    p.set_defaults(func=cmd_topics)
    p = sub.add_parser("schemas", help="check schemas against the models and released versions, or freeze them")
    p.add_argument("action", choices=["check", "freeze"])
    p.set_defaults(func=cmd_schemas)
    p = sub.add_parser("deploy", help="render deploy/ (Kafka properties, compose.yaml, Dockerfile) from the code, "
                                      "or check that the committed files match it")
    p.add_argument("action", choices=["render", "check"])
    p.add_argument("--out", help="repository root to write or check (default: the project root)")
    p.set_defaults(func=cmd_deploy)
