"""What auditors and operators ask of the log: history, verification, what an agency was told,
archives, reports, deadlines explained, topics followed — and who read which case (``audit reads``).

Every command that shows one case (``history``, ``told``, ``sla explain``) is an audited read
(docs/security.md): it needs ``--purpose``, and records who, which case, when, which command and why
on the read-audit trail *before* it reads anything; when that record cannot be written the case is
not shown (exit 3)."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from referral_bus.cli.common import EXIT_FOUND, EXIT_USAGE, ZONED_EXAMPLE, recorded_or_refused, zoned_time
from referral_bus.cli.common import runtime as _runtime
from referral_bus.infra.local_time import iso_almaty, localized, shown

if TYPE_CHECKING:
    from referral_bus.infra.runtime import Runtime
    from referral_bus.projections.divergence import Divergence


def _purpose_missing(args: argparse.Namespace) -> int | None:
    """Exit 2 with the reason when the read states no usable purpose (checked before any connection)."""
    from referral_bus.domain.read_audit import PurposeRefused, check_purpose
    try:
        args.purpose = check_purpose(args.purpose)
    except PurposeRefused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return None


def _audited(args: argparse.Namespace, runtime: Runtime, tool: str, case_id: str,
             query: str | None = None) -> int | None:
    """Record this read of ``case_id`` on the read-audit trail; ``None`` when recorded (go on and
    show it), else the exit status — nothing of the case is shown (fail closed)."""
    return recorded_or_refused(runtime, case_id=case_id, tool=tool, purpose=args.purpose, reader=args.reader,
                               query=query, refused=f"case {case_id} is not shown, because this read")


def cmd_history(args: argparse.Namespace) -> int:
    from referral_bus.auditor.history import read_case_sync
    as_of: datetime | None = args.as_of
    if (refused := _purpose_missing(args)) is not None:
        return refused
    runtime = _runtime()
    query = " ".join([*([f"as_of={as_of.isoformat()}"] if as_of else []), *(["source=log"] if args.from_log else [])])
    if (refused := _audited(args, runtime, "history", args.case_id, query or None)) is not None:
        return refused
    # issue 13 item 4: from the case index (the log after the projector's position read too), or a
    # full scan on request or when the index cannot answer completely — said on stderr either way
    history = read_case_sync(runtime, args.case_id, as_of, from_log=args.from_log)
    for note in history.notes:
        print(f"source: {note}", file=sys.stderr)
    if not history.events:
        print(f"no events for case {args.case_id}" + (f" as of {shown(as_of)}" if as_of else ""), file=sys.stderr)
        for problem in history.chain_problems:   # records of the case set aside (unreadable, chain broken)
            print(f"  {problem}", file=sys.stderr)
        return 1
    state = history.state
    summary = {"case_id": args.case_id, "as_of": as_of.isoformat() if as_of else None,
               "events": len(history.events), "city": state.city.value if state and state.city else None,
               "home_city": state.home_city.value if state and state.home_city else None,   # issue 15
               "referred_to_cam": state.referred_to_cam if state else None,
               "initial_assessment": state.initial_assessment.value if state and state.initial_assessment else None,
               "chain": "ok" if not history.chain_problems else history.chain_problems, "source": history.source}
    if args.json:
        print(json.dumps({"summary": summary, "timeline": history.timeline()}, ensure_ascii=False, indent=2))
        return 0
    for row in history.timeline():   # Almaty time with the offset; escalations in causal order (auditor/history.py)
        fields = json.dumps(localized(row["fields"]), ensure_ascii=False)
        if row["kind"] == "event":
            print(f"{shown(row['at'])}  #{row['sequence']:<3} {row['type']:<28} by {row['producer']}  {fields}")
        else:
            print(f"{shown(row['at'])}  SLA  {row['type']:<28} {fields}")
    print(json.dumps(summary, ensure_ascii=False))
    return 0


def cmd_sla(args: argparse.Namespace) -> int:
    if args.action == "run":
        from referral_bus.cli.run import cmd_service
        return cmd_service(args)
    if args.action == "report":
        return _sla_report(args)
    if not args.case_id:
        print("sla explain needs a CASE_ID", file=sys.stderr)
        return 2
    if (refused := _purpose_missing(args)) is not None:
        return refused
    from referral_bus.auditor.sla_explain import explain_case
    runtime = _runtime()
    if (refused := _audited(args, runtime, "sla explain", args.case_id)) is not None:
        return refused
    explanations = explain_case(runtime, args.case_id, datetime.now(UTC))
    if not explanations:
        print(f"no deadlines for case {args.case_id}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([e.as_dict() for e in explanations], ensure_ascii=False, indent=2))
        return 0
    for e in explanations:
        print(f"{e.rule_id} (Annex B {e.paragraph}) — {e.title}")
        print(f"  clock {e.clock}; trigger event {e.trigger_event_id}; responsible {e.responsible_agency_id}")
        print(f"  rule {e.in_force}")
        for line in e.reasoning:
            print(f"    {line}")
        status = e.status + (f" at {shown(e.completed_at)}" if e.completed_at else "")
        status += f", {e.lateness_seconds} s late" if e.lateness_seconds else ""
        print(f"  due {shown(e.due_at)} — {status}" + (f"; escalated "
                                                            f"{', '.join(e.escalated_to)}" if e.escalated_to else ""))
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from kafka import KafkaConsumer

    from referral_bus.auditor.verify import verify_topic_sync
    from referral_bus.projections.divergence import RECOVERY
    runtime = _runtime()
    if args.topic:   # "OK: 0 events" for a mistyped name would be a false all-clear
        consumer = KafkaConsumer(**runtime.settings.kafka_python())
        try:
            known = consumer.topics()
        finally:
            consumer.close()
        if args.topic not in known:
            print(f"error: there is no topic {args.topic!r} on the brokers (see `referral-bus topics list`)",
                  file=sys.stderr)
            return EXIT_USAGE
    report, undecodable = verify_topic_sync(runtime, args.topic)
    for problem in report.problems:
        print(problem)
    for line in undecodable:
        print(f"UNDECODABLE  {line}")
    reads_ok, reads_summary = True, ""
    if args.topic is None:   # the read-audit trail belongs to this bus's case log, not to a copy
        trail = _read_trail(runtime)
        reads_ok = trail.ok
        reads_summary = (f"; read-audit trail: {trail.records} record(s), "
                         f"{'chain intact' if trail.ok else f'{len(trail.problems)} problem(s)'}")
    diverged = _read_models_diverged(runtime) if args.read_models else []
    for finding in diverged:
        print(f"DIVERGED  {finding}")
    verdict = ("OK" if report.ok and not undecodable and not diverged and reads_ok
               else "TAMPERING OR DAMAGE FOUND")
    compared = f"; read models compared: {len(diverged)} partition(s) diverged" if args.read_models else ""
    print(f"{verdict}: {report.events} events in {report.cases} cases, {len(report.problems)} problem(s), "
          f"{len(undecodable)} undecodable record(s); {report.checkpoints} signed checkpoint(s) compared{compared}"
          f"{reads_summary}")
    if diverged:
        print(RECOVERY)
    return 0 if verdict == "OK" else 1


@dataclass
class _Trail:
    records: int
    problems: list[str]
    logged: list[Any]

    @property
    def ok(self) -> bool:
        return not self.problems


def _read_trail(runtime: Runtime) -> _Trail:
    """The read-audit trail, its chain checked; each problem printed as verify prints its own."""
    from referral_bus.domain.read_audit import verify_reads
    from referral_bus.infra.read_audit import read_trail
    unreadable: list[str] = []
    logged = read_trail(runtime, lambda offset, why: unreadable.append(
        f"UNDECODABLE  read-audit offset {offset}: {why}"))
    report = verify_reads(logged)
    problems = [str(p) for p in report.problems] + unreadable
    for line in problems:
        print(line)
    return _Trail(report.records, problems, logged)


def cmd_audit(args: argparse.Namespace) -> int:
    """``audit reads CASE_ID``: who read the case, when, with which command and why; and the whole
    trail's chain checked (exit 1 when it is broken or altered)."""
    from referral_bus.domain.read_audit import reads_of
    runtime = _runtime()
    trail = _read_trail(runtime)
    reads = reads_of(trail.logged, args.case_id)
    if args.json:
        print(json.dumps({"case_id": args.case_id, "reads": [r.model_dump(mode="json") for r in reads],
                          "chain": "intact" if trail.ok else trail.problems, "trail_records": trail.records},
                         ensure_ascii=False, indent=2))
    else:
        for r in reads:
            who = r.reader + (f" (principal {r.principal})" if r.principal and r.principal != r.reader else "")
            query = f" [{r.query}]" if r.query else ""
            print(f"{shown(r.read_at)}  #{r.sequence:<5} {who:<30} {r.tool}{query}  purpose: {r.purpose}")
        if not reads:
            print(f"no recorded reads of case {args.case_id}", file=sys.stderr)
        verdict = "chain intact" if trail.ok else f"CHAIN BROKEN OR ALTERED: {len(trail.problems)} problem(s)"
        print(f"{len(reads)} read(s) of {args.case_id}; read-audit trail: {trail.records} record(s), {verdict}")
    return 0 if trail.ok else EXIT_FOUND


def _read_models_diverged(runtime: Runtime) -> list[Divergence]:
    """What the projector would refuse to start on (projections/divergence.py)."""
    from referral_bus.projections.divergence import find_divergence
    from referral_bus.projections.service import make_engine
    engine = make_engine(runtime)
    try:
        return find_divergence(runtime, engine)
    finally:
        engine.dispose()


def _sla_report(args: argparse.Namespace) -> int:
    from referral_bus.auditor.sla_report import sla_report_sync
    start, end = args.start, args.end
    if start is None or end is None:
        print(f"error: sla report needs --from and --to, e.g. --from {ZONED_EXAMPLE}", file=sys.stderr)
        return EXIT_USAGE
    rows = sla_report_sync(_runtime(), start, end, datetime.now(UTC))
    if args.json:
        print(json.dumps([{**{k: v for k, v in r.__dict__.items() if k != "lateness_seconds"},
                           "met_share": r.met_share, "median_lateness_seconds": r.median_lateness,
                           "p90_lateness_seconds": r.p90_lateness} for r in rows], ensure_ascii=False, indent=2))
        return 0
    print(f"deadlines due {shown(start)} – {shown(end)}")
    print(f"{'rule':<38} {'city':<17} {'agency':<26} {'due':>5} {'met':>5} {'breach':>6} {'open':>5} "
          f"{'withdrawn':>9} {'median late':>12} {'p90 late':>10}")
    for r in rows:
        def fmt(seconds: float | None) -> str:
            return "-" if seconds is None else f"{seconds / 3600:.1f} h"
        print(f"{r.rule_id:<38} {r.city:<17} {r.agency:<26} {r.due:>5} {r.met:>5} {r.breached:>6} {r.open:>5} "
              f"{r.withdrawn:>9} {fmt(r.median_lateness):>12} {fmt(r.p90_lateness):>10}")
    return 0


def cmd_told(args: argparse.Namespace) -> int:
    """What AGENCY had been told about CASE by --as-of, from the log or from the read models."""
    from referral_bus.auditor.point_in_time import told_current, told_from_log
    runtime = _runtime()
    as_of: datetime = args.as_of or datetime.now(UTC)
    if args.agency_id not in runtime.directory.agencies:
        print(f"error: {args.agency_id!r} is not an agency of agencies.yaml (e.g. cam-almaty)", file=sys.stderr)
        return EXIT_USAGE
    if (refused := _purpose_missing(args)) is not None:
        return refused
    query = f"agency={args.agency_id} source={args.source}" + (f" as_of={args.as_of.isoformat()}" if args.as_of else "")
    if (refused := _audited(args, runtime, "told", args.case_id, query)) is not None:
        return refused
    told: list[Any] | None = None
    if args.source == "read-models":   # issue 13 item 4: projected deliveries + the inbox after the projector
        from referral_bus.projections.case_index import REBUILD_HINT, IndexUnavailable, open_engine
        try:
            engine = open_engine(runtime.settings)
            try:
                told, note = told_current(runtime, engine, args.agency_id, args.case_id, as_of)
            finally:
                engine.dispose()
            print(f"source: {note}", file=sys.stderr)
        except IndexUnavailable as exc:
            print(f"source: read models not used: {exc}; answered from a full scan of the inbox ({REBUILD_HINT})",
                  file=sys.stderr)
    if told is None:
        told = told_from_log(runtime, args.agency_id, args.case_id, as_of)
    for t in told:
        print(json.dumps({"delivered_at": iso_almaty(t.delivered_at), "delivery_id": t.delivery_id,
                          "record_type": t.record_type, "event_id": t.event_id, "paragraph": t.paragraph,
                          "purpose": t.purpose}, ensure_ascii=False))
    return 0


def cmd_archive(args: argparse.Namespace) -> int:
    from referral_bus.auditor.archive import ArchiveError, archive, restore
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
    from referral_bus.auditor.steering_report import build_report, write_report
    from referral_bus.projections.service import make_engine
    start, end = args.start, args.end
    report = build_report(make_engine(_runtime()), start, end, args.city)
    for path in write_report(report, Path(args.out)):
        print(path)
    return 0


def cmd_tail(args: argparse.Namespace) -> int:
    from referral_bus.auditor.tail import follow, format_line
    try:
        for record in follow(_runtime(), args.what, from_beginning=args.from_beginning):
            print(format_line(record), flush=True)
    except KeyboardInterrupt:
        pass
    return 0


def _read_arguments(p: argparse.ArgumentParser, prefix: str = "") -> None:
    """--purpose and --as of a command that reads a case (an audited read, docs/security.md; the
    purpose is checked by domain/read_audit.py, imported only when the command runs)."""
    p.add_argument("--purpose", help=f"{prefix}required: why this case is read, recorded on the read-audit trail "
                                     "before anything is shown: a task, ticket or legal basis, never a name")
    p.add_argument("--as", dest="reader", metavar="NAME",
                   help="who is reading (a staff id; default $REFERRAL_BUS_OPERATOR, else the Kafka principal, "
                        "else the login name) — recorded with the read")


def register(sub: Any) -> None:
    p = sub.add_parser("sla", help="run the SLA processor, or explain a case's deadlines (rule, paragraph, "
                                   "due time with calendar reasoning, status)")
    p.add_argument("action", choices=["run", "explain", "report"])
    p.add_argument("case_id", nargs="?", help="for explain")
    p.add_argument("--from", dest="start", type=zoned_time,
                   help="report: deadlines due from this time (ISO-8601 with zone)")
    p.add_argument("--to", dest="end", type=zoned_time, help="report: … up to this time (exclusive)")
    p.add_argument("--json", action="store_true")
    _read_arguments(p, "explain: ")
    p.add_argument("--faust-log-level", default="warn", choices=["crit", "error", "warn", "info", "debug"])
    p.set_defaults(func=cmd_sla)
    p = sub.add_parser("history", help="rebuild a case's timeline and state from the case log (by its index)")
    p.add_argument("case_id")
    p.add_argument("--as-of", type=zoned_time, help="ISO-8601 time with zone; events recorded later are left out")
    p.add_argument("--from-log", "--full-scan", dest="from_log", action="store_true",
                   help="read the case's partitions from their start instead of fetching the indexed records "
                        "(the verifiable source; slower as the log grows)")
    p.add_argument("--json", action="store_true")
    _read_arguments(p)
    p.set_defaults(func=cmd_history)
    p = sub.add_parser("verify", help="check per-case sequences, the hash chains, every signature and the "
                                      "router's signed checkpoints of the case log")
    p.add_argument("--topic", help="verify this topic instead (e.g. a restored or copied log)")
    p.add_argument("--read-models", action="store_true",
                   help="also compare the read models with the log (REFERRAL_BUS_DATABASE_URL): a log shorter or "
                        "other than they remember, as the projector checks on start")
    p.set_defaults(func=cmd_verify)
    p = sub.add_parser("told", help="what an agency had been told about a case by a moment (its inbox)")
    p.add_argument("agency_id")
    p.add_argument("case_id")
    p.add_argument("--as-of", type=zoned_time, help="ISO-8601 time with zone (default: now)")
    p.add_argument("--source", choices=["log", "read-models"], default="read-models",
                   help="read-models (default): the projected deliveries plus the inbox after the projector's "
                        "position; log: a full scan of the agency's inbox partition (the evidence)")
    _read_arguments(p)
    p.set_defaults(func=cmd_told)
    p = sub.add_parser("audit", help="the audit trail of reads: who read a case, when, with which command and why "
                                     "(and the trail's hash chain checked)")
    p.add_argument("what", choices=["reads"])
    p.add_argument("case_id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_audit)
    for name, text in (("archive", "write the case log to Avro container files with a manifest of counts and hashes"),
                       ("restore", "republish an archive into an empty cluster, preserving order, ids and hashes")):
        p = sub.add_parser(name, help=text)
        p.add_argument("directory")
        p.set_defaults(func=cmd_archive)
    p = sub.add_parser("report", help="the Steering Committee report (HTML with charts, and CSV) from the read models")
    p.add_argument("--from", dest="start", type=zoned_time, required=True, help="period start, ISO-8601 with zone")
    p.add_argument("--to", dest="end", type=zoned_time, required=True, help="period end (exclusive)")
    p.add_argument("--city", choices=["NUR_SULTAN", "ALMATY", "SHYMKENT", "TURKESTAN_OBLAST"])
    p.add_argument("--out", default="steering-report", help="directory for report.html and the CSV files")
    p.set_defaults(func=cmd_report)
    p = sub.add_parser("tail", help="follow a topic of the bus as JSON lines")
    p.add_argument("what", choices=["escalations", "sla", "receipts", "dead_letter", "quarantine"])
    p.add_argument("--from-beginning", action="store_true")
    p.set_defaults(func=cmd_tail)
