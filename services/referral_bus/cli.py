"""The ``referral-bus`` command. Every subcommand reads settings from the environment
(KAFKA_BOOTSTRAP_SERVERS, REFERRAL_BUS_TOPIC_PREFIX, SCHEMA_REGISTRY_URL …); ``--bootstrap`` overrides."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from .core.logging import configure_logging

if TYPE_CHECKING:
    from .core.runtime import Runtime


def _runtime() -> "Runtime":
    from .core.runtime import load_runtime
    return load_runtime()


def cmd_topics(args: argparse.Namespace) -> int:
    runtime = _runtime()
    if args.action == "list":
        for spec in runtime.catalogue.specs():
            print(f"{spec.name:<40} partitions={spec.partitions} key={spec.key} retention.ms={spec.config['retention.ms']}")
        return 0
    from .core.kafka.admin import ReplicationRefused, apply_topics
    try:
        report = apply_topics(runtime.settings.bootstrap_servers, runtime.catalogue.specs(),
                              replication_factor=args.replication_factor)
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


def cmd_service(args: argparse.Namespace) -> int:
    from .core import metrics
    from .core.kafka.faust_app import run_worker
    runtime = _runtime()
    metrics.serve(runtime.settings.metrics_port)
    if args.command == "router":
        from .router.app import create_app
    else:
        from .sla.app import create_app  # type: ignore[assignment]
    sys.argv = [sys.argv[0], "worker"]
    run_worker(create_app(runtime), loglevel=args.faust_log_level)
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    from .auditor.history import rebuild_case_sync
    as_of = datetime.fromisoformat(args.as_of) if args.as_of else None
    if as_of is not None and as_of.tzinfo is None:
        print("--as-of needs a timezone, e.g. 2026-11-22T10:00:00+05:00", file=sys.stderr)
        return 2
    history = rebuild_case_sync(_runtime(), args.case_id, as_of)
    if not history.events:
        print(f"no events for case {args.case_id}" + (f" as of {as_of.isoformat()}" if as_of else ""), file=sys.stderr)
        return 1
    state = history.state
    summary = {"case_id": args.case_id, "as_of": as_of.isoformat() if as_of else None,
               "events": len(history.events), "city": state.city.value if state and state.city else None,
               "referred_to_cam": state.referred_to_cam if state else None,
               "initial_assessment": state.initial_assessment.value if state and state.initial_assessment else None,
               "chain": "ok" if not history.chain_problems else history.chain_problems}
    if args.json:
        print(json.dumps({"summary": summary, "timeline": history.timeline()}, ensure_ascii=False, indent=2))
        return 0
    for row in history.timeline():
        if row["kind"] == "event":
            print(f"{row['at']}  #{row['sequence']:<3} {row['type']:<28} by {row['producer']}  "
                  f"{json.dumps(row['fields'], ensure_ascii=False)}")
        else:
            print(f"{row['at']}  SLA  {row['type']:<28} {json.dumps(row['fields'], ensure_ascii=False)}")
    print(json.dumps(summary, ensure_ascii=False))
    return 0


def cmd_sla(args: argparse.Namespace) -> int:
    if args.action == "run":
        return cmd_service(args)
    if args.action == "report":
        return _sla_report(args)
    if not args.case_id:
        print("sla explain needs a CASE_ID", file=sys.stderr)
        return 2
    from .auditor.sla_explain import explain_case
    explanations = explain_case(_runtime(), args.case_id, datetime.now(timezone.utc))
    if not explanations:
        print(f"no deadlines for case {args.case_id}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([e.as_dict() for e in explanations], ensure_ascii=False, indent=2))
        return 0
    for e in explanations:
        print(f"{e.rule_id} (Annex B {e.paragraph}) — {e.title}")
        print(f"  clock {e.clock}; trigger event {e.trigger_event_id}; responsible {e.responsible_agency_id}")
        for line in e.reasoning:
            print(f"    {line}")
        status = e.status + (f" at {e.completed_at.isoformat()}" if e.completed_at else "")
        status += f", {e.lateness_seconds} s late" if e.lateness_seconds else ""
        print(f"  due {e.due_at.isoformat()} — {status}" + (f"; escalated {', '.join(e.escalated_to)}" if e.escalated_to else ""))
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from .auditor.verify import verify_topic_sync
    report, undecodable = verify_topic_sync(_runtime(), args.topic)
    for problem in report.problems:
        print(problem)
    for line in undecodable:
        print(f"UNDECODABLE  {line}")
    verdict = "OK" if report.ok and not undecodable else "TAMPERING OR DAMAGE FOUND"
    print(f"{verdict}: {report.events} events in {report.cases} cases, {len(report.problems)} problem(s), "
          f"{len(undecodable)} undecodable record(s)")
    return 0 if report.ok and not undecodable else 1


def _parse_time(text: str | None, what: str) -> datetime:
    if not text:
        raise SystemExit(f"needs {what} (ISO-8601 with a time zone, e.g. 2026-11-01T00:00:00+05:00)")
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise SystemExit(f"{what} needs a time zone, e.g. {text}+05:00")
    return value


def _sla_report(args: argparse.Namespace) -> int:
    from .auditor.sla_report import sla_report_sync
    start, end = _parse_time(args.start, "--from"), _parse_time(args.end, "--to")
    rows = sla_report_sync(_runtime(), start, end, datetime.now(timezone.utc))
    if args.json:
        print(json.dumps([{**{k: v for k, v in r.__dict__.items() if k != "lateness_seconds"},
                           "met_share": r.met_share, "median_lateness_seconds": r.median_lateness,
                           "p90_lateness_seconds": r.p90_lateness} for r in rows], ensure_ascii=False, indent=2))
        return 0
    print(f"deadlines due {start.isoformat()} – {end.isoformat()}")
    print(f"{'rule':<38} {'city':<17} {'agency':<26} {'due':>5} {'met':>5} {'breach':>6} {'open':>5} "
          f"{'withdrawn':>9} {'median late':>12} {'p90 late':>10}")
    for r in rows:
        def fmt(seconds: float | None) -> str:
            return "-" if seconds is None else f"{seconds / 3600:.1f} h"
        print(f"{r.rule_id:<38} {r.city:<17} {r.agency:<26} {r.due:>5} {r.met:>5} {r.breached:>6} {r.open:>5} "
              f"{r.withdrawn:>9} {fmt(r.median_lateness):>12} {fmt(r.p90_lateness):>10}")
    return 0


def cmd_projections(args: argparse.Namespace) -> int:
    from .projections.service import make_engine, project, rebuild
    runtime = _runtime()
    if args.action == "rebuild":
        applied = rebuild(runtime)
        print(f"rebuilt the read models from the log: {applied:,} records into {runtime.settings.read_model_url.split('@')[-1]}")
        return 0
    try:
        project(runtime, make_engine(runtime), until_end=False)
    except KeyboardInterrupt:
        pass
    return 0


def cmd_told(args: argparse.Namespace) -> int:
    """What AGENCY had been told about CASE by --as-of, from the log or from the read models."""
    from .auditor.point_in_time import told_from_log, told_from_read_models
    runtime = _runtime()
    as_of = datetime.fromisoformat(args.as_of) if args.as_of else datetime.now(timezone.utc)
    if as_of.tzinfo is None:
        print("--as-of needs a time zone, e.g. 2026-11-22T10:00:00+05:00", file=sys.stderr)
        return 2
    if args.source == "log":
        told = told_from_log(runtime, args.agency_id, args.case_id, as_of)
    else:
        from .projections.service import make_engine
        told = told_from_read_models(make_engine(runtime), args.agency_id, args.case_id, as_of)
    for t in told:
        print(json.dumps({"delivered_at": t.delivered_at.isoformat(), "delivery_id": t.delivery_id,
                          "record_type": t.record_type, "event_id": t.event_id, "paragraph": t.paragraph,
                          "purpose": t.purpose}, ensure_ascii=False))
    return 0


def cmd_archive(args: argparse.Namespace) -> int:
    from .auditor.archive import ArchiveError, archive, restore
    runtime = _runtime()
    try:
        summary = (archive if args.command == "archive" else restore)(runtime, Path(args.directory))
    except ArchiveError as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    verb = "archived" if args.command == "archive" else "restored"
    print(f"{verb} {summary.records:,} records of {summary.cases:,} cases in {summary.partitions} partitions "
          f"({args.directory})")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .auditor.steering_report import build_report, write_report
    from .projections.service import make_engine
    start, end = _parse_time(args.start, "--from"), _parse_time(args.end, "--to")
    report = build_report(make_engine(_runtime()), start, end, args.city)
    for path in write_report(report, Path(args.out)):
        print(path)
    return 0


def cmd_tail(args: argparse.Namespace) -> int:
    from .auditor.tail import follow, format_line
    try:
        for record in follow(_runtime(), args.what, from_beginning=args.from_beginning):
            print(format_line(record), flush=True)
    except KeyboardInterrupt:
        pass
    return 0


def _data_dir() -> Path:
    return Path(os.environ.get("REFERRAL_BUS_DATA_DIR", ".referral-bus"))


def _broker_port(explicit: int | None) -> int:
    return explicit or int(os.environ.get("REFERRAL_BUS_BROKER_PORT", "9092"))


def cmd_broker(args: argparse.Namespace) -> int:
    """Apache Kafka (KRaft) in the foreground, its log under the data directory (durable)."""
    from .core.kafka.kafka_distribution import KafkaUnavailable
    from .core.kafka.local_broker import start_local_broker
    data = _data_dir() / ("kafka" if args.nodes == 1 else f"kafka-{args.nodes}-nodes")
    try:
        broker = start_local_broker(data, port=_broker_port(args.port), nodes=args.nodes)
    except (KafkaUnavailable, TimeoutError) as exc:
        print(f"broker not started: {exc}", file=sys.stderr)
        return 1
    try:
        print(f"broker serving at {broker.bootstrap_servers} (data in {data}); Ctrl-C stops it", flush=True)
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass
    finally:
        broker.stop()
    return 0


def _case_log_size(runtime: "Runtime") -> int:
    """Records on the case log (log-end minus log-start offsets; exact on Apache Kafka)."""
    from kafka import KafkaConsumer, TopicPartition
    topic = runtime.catalogue.name("case_log")
    consumer = KafkaConsumer(bootstrap_servers=runtime.settings.bootstrap_servers, enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        ends, starts = consumer.end_offsets(tps), consumer.beginning_offsets(tps)
        return sum(ends[tp] - starts[tp] for tp in tps)
    finally:
        consumer.close()


def cmd_up(args: argparse.Namespace) -> int:
    """Broker (local Apache Kafka, durable, unless KAFKA_BOOTSTRAP_SERVERS is set), topics, router, SLA processor, projector,
    optionally the demonstration; runs until Ctrl-C, then stops everything."""
    from .core.kafka.admin import apply_topics
    from .core.kafka.kafka_distribution import KafkaUnavailable
    from .core.kafka.local_broker import start_local_broker

    def stop_on_sigterm(*_: object) -> None:
        raise KeyboardInterrupt  # run the same clean shutdown as Ctrl-C

    signal.signal(signal.SIGTERM, stop_on_sigterm)
    logs = _data_dir() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    broker = None
    replication: int | None = None  # an external cluster gets topics.yaml's replication
    if not os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        print(f"starting the local broker (data in {_data_dir() / 'kafka'}; kept across restarts)…", flush=True)
        try:
            broker = start_local_broker(_data_dir() / "kafka", port=_broker_port(None), log_path=logs / "broker.log")
        except (KafkaUnavailable, TimeoutError) as exc:
            print(f"broker not started: {exc}", file=sys.stderr)
            return 1
        os.environ["KAFKA_BOOTSTRAP_SERVERS"] = broker.bootstrap_servers
        replication = 1
        print(f"broker at {broker.bootstrap_servers}")
    children: list[subprocess.Popen[bytes]] = []
    try:
        runtime = _runtime()
        report = apply_topics(runtime.settings.bootstrap_servers, runtime.catalogue.specs(),
                              replication_factor=replication)
        for notice in report.notices:
            print(f"note: {notice}")
        print(f"topics from topics.yaml: {len(report.created)} created, {len(report.unchanged)} already there")
        if not report.created:
            print(f"the case log holds {_case_log_size(runtime):,} events from earlier runs")
        for difference in report.differences:
            print(f"warning: topic differs from topics.yaml: {difference}", file=sys.stderr)
        for service in ("router", "sla", "projections"):
            out = open(logs / f"{service}.log", "ab")
            children.append(subprocess.Popen([sys.executable, "-m", "referral_bus.cli", service, "run"],
                                             stdout=out, stderr=subprocess.STDOUT, env=os.environ.copy()))
            print(f"started {service} (pid {children[-1].pid}, log {logs / (service + '.log')})")
        print(f"read models: {runtime.settings.read_model_url}")
        if args.demo:
            from .demo.scenario import run_demo
            print("running the demonstration (the first receipt waits for the services to join their groups)…")
            run_demo(runtime)
        servers = runtime.settings.bootstrap_servers
        print(f"""
The bus is running. Inspect it with, in another terminal:
  export KAFKA_BOOTSTRAP_SERVERS={servers}
  .venv/bin/referral-bus history CASE_ID          # a case rebuilt from the case log
  .venv/bin/referral-bus tail escalations --from-beginning
  .venv/bin/referral-bus sla explain CASE_ID
  .venv/bin/referral-bus verify
  .venv/bin/referral-bus told cam-almaty CASE_ID  # what CAM Almaty has been told about a case
  .venv/bin/referral-bus topics list
Press Ctrl-C to stop everything.""", flush=True)
        while all(child.poll() is None for child in children):
            time.sleep(1)
        dead = [c.args[-2] for c in children if c.poll() is not None]
        print(f"service(s) exited: {dead}; see {logs}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nstopping…")
        return 0
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(20)
            except subprocess.TimeoutExpired:
                child.kill()
        if broker is not None:
            broker.stop()
        print("stopped.")


def cmd_simulate(args: argparse.Namespace) -> int:
    """A scenario through router and deadline code on a simulated clock, no broker (issue 3)."""
    from .simulate.command import run_command
    configure_logging(args.log_level if args.verbose else "ERROR")  # rejections are in the output already
    return run_command(args.file, until=args.until, fmt=args.format, check_expectations=args.check)


def cmd_deploy(args: argparse.Namespace) -> int:
    """deploy/ rendered from broker_config.py and deployment.py; `check` fails CI when the committed files drift."""
    from . import deployment
    from .core.settings import project_root
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
    print(f"deploy files in {out}: " + (f"{len(problems)} difference(s) from the renderer" if problems else "up to date"))
    return 1 if problems else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="referral-bus", description=__doc__)
    parser.add_argument("--bootstrap", help="Kafka bootstrap servers (default: $KAFKA_BOOTSTRAP_SERVERS)")
    parser.add_argument("--log-level", default=os.environ.get("REFERRAL_BUS_LOG_LEVEL", "INFO"))
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("topics", help="create topics from topics.yaml, or list them")
    p.add_argument("action", choices=["apply", "list"])
    p.add_argument("--replication-factor", type=int,
                   help="create topics with this many replicas instead of topics.yaml's (said aloud; for a "
                        "development cluster smaller than production)")
    p.set_defaults(func=cmd_topics)
    p = sub.add_parser("schemas", help="check schemas against the models and released versions, or freeze them")
    p.add_argument("action", choices=["check", "freeze"])
    p.set_defaults(func=cmd_schemas)
    p = sub.add_parser("router", help="run the validator/router (Faust worker)")
    p.add_argument("action", choices=["run"])
    p.add_argument("--faust-log-level", default="warn", choices=["crit", "error", "warn", "info", "debug"])
    p.set_defaults(func=cmd_service)
    p = sub.add_parser("sla", help="run the SLA processor, or explain a case's deadlines (rule, paragraph, "
                                   "due time with calendar reasoning, status)")
    p.add_argument("action", choices=["run", "explain", "report"])
    p.add_argument("case_id", nargs="?", help="for explain")
    p.add_argument("--from", dest="start", help="report: deadlines due from this time (ISO-8601 with zone)")
    p.add_argument("--to", dest="end", help="report: … up to this time (exclusive)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--faust-log-level", default="warn", choices=["crit", "error", "warn", "info", "debug"])
    p.set_defaults(func=cmd_sla)
    p = sub.add_parser("history", help="rebuild a case's timeline and state from the case log")
    p.add_argument("case_id")
    p.add_argument("--as-of", help="ISO-8601 time with zone; events recorded later are left out")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_history)
    p = sub.add_parser("verify", help="check per-case sequences and the hash chain of the case log")
    p.add_argument("--topic", help="verify this topic instead (e.g. a restored or copied log)")
    p.set_defaults(func=cmd_verify)
    p = sub.add_parser("projections", help="run the projector into the read models, or rebuild them from the log")
    p.add_argument("action", choices=["run", "rebuild"])
    p.set_defaults(func=cmd_projections)
    p = sub.add_parser("told", help="what an agency had been told about a case by a moment (its inbox)")
    p.add_argument("agency_id")
    p.add_argument("case_id")
    p.add_argument("--as-of", help="ISO-8601 time with zone (default: now)")
    p.add_argument("--source", choices=["log", "read-models"], default="log")
    p.set_defaults(func=cmd_told)
    for name, text in (("archive", "write the case log to Avro container files with a manifest of counts and hashes"),
                       ("restore", "republish an archive into an empty cluster, preserving order, ids and hashes")):
        p = sub.add_parser(name, help=text)
        p.add_argument("directory")
        p.set_defaults(func=cmd_archive)
    p = sub.add_parser("report", help="the Steering Committee report (HTML with charts, and CSV) from the read models")
    p.add_argument("--from", dest="start", required=True, help="period start, ISO-8601 with zone")
    p.add_argument("--to", dest="end", required=True, help="period end (exclusive)")
    p.add_argument("--city", choices=["NUR_SULTAN", "ALMATY", "SHYMKENT", "TURKESTAN_OBLAST"])
    p.add_argument("--out", default="steering-report", help="directory for report.html and the CSV files")
    p.set_defaults(func=cmd_report)
    p = sub.add_parser("tail", help="follow a topic of the bus as JSON lines")
    p.add_argument("what", choices=["escalations", "sla", "receipts", "dead_letter"])
    p.add_argument("--from-beginning", action="store_true")
    p.set_defaults(func=cmd_tail)
    p = sub.add_parser("broker", help="run Apache Kafka (KRaft) in the foreground, its log under the data directory")
    p.add_argument("--port", type=int, help="client port of the first node (default $REFERRAL_BUS_BROKER_PORT or 9092; "
                                             "the controller uses the next port)")
    p.add_argument("--nodes", type=int, default=1, choices=[1, 3], help="3: a production-shaped cluster on this machine")
    p.set_defaults(func=cmd_broker)
    p = sub.add_parser("up", help="start broker, topics, router and SLA processor; --demo runs the demonstration")
    p.add_argument("--demo", action="store_true")
    p.set_defaults(func=cmd_up)
    p = sub.add_parser("simulate", help="run a YAML scenario through validation, routing and deadlines on a "
                                        "simulated clock, without a broker; prints JSON lines")
    p.add_argument("file", help="scenario YAML (see examples/)")
    p.add_argument("--until", help="run the clock to this time: offset from the scenario's start (+72h, +5wd) "
                                   "or ISO-8601 with a zone")
    p.add_argument("--format", choices=["json", "text"], default="json")
    p.add_argument("--check", action="store_true", help="also check the scenario's expect: block (exit 1 if not met)")
    p.add_argument("--verbose", action="store_true", help="show the router's and engine's logs on stderr")
    p.set_defaults(func=cmd_simulate)
    p = sub.add_parser("deploy", help="render deploy/ (Kafka properties, compose.yaml, Dockerfile) from the code, "
                                      "or check that the committed files match it")
    p.add_argument("action", choices=["render", "check"])
    p.add_argument("--out", help="repository root to write or check (default: the project root)")
    p.set_defaults(func=cmd_deploy)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.bootstrap:
        os.environ["KAFKA_BOOTSTRAP_SERVERS"] = args.bootstrap
    configure_logging(args.log_level)
    from .core.settings import ProjectFilesNotFound
    try:
        return int(args.func(args) or 0)
    except (ProjectFilesNotFound, ValueError) as exc:  # a setting or file the operator must fix
        if isinstance(exc, ValueError) and not str(exc).startswith(("REFERRAL_BUS_", "KAFKA_")):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
