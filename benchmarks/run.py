"""Run the benchmarks in one process and print each figure beside its baseline, as a ratio.

    .venv/bin/python -m benchmarks.run                  # every section, default sizes: ~15 min on 2 quiet
                                                        #   cores (45 min when other work loads them 5-10x)
    .venv/bin/python -m benchmarks.run --big            # + restart at 1M log events, 100k deadlines at once,
                                                        #   1M open deadlines in the engine (an hour or more)
    .venv/bin/python -m benchmarks.run --only pipeline,replay --events 5000 --brokers kafka,tansu

What each benchmark and its baseline do: the module docstrings and docs/benchmarks.md. Every
subject and its baseline run interleaved (alternating rounds) in the same run on the same broker,
so a change of machine load hits both; ratios are taken round by round and their median printed
with the range. Nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import logging
import os
import traceback
from collections.abc import Callable

from benchmarks import (
    brokers,
    burst_bench,
    codec_bench,
    deadline_bench,
    history_bench,
    pipeline_bench,
    replay_bench,
    restart_bench,
)

SECTIONS = ("codec", "pipeline", "replay", "history", "restart", "burst", "deadlines")


def _sizes(text: str) -> tuple[int, ...]:
    return tuple(int(n) for n in text.split(",") if n)


def codec() -> None:
    c = codec_bench.run()
    print("== codec: encode + decode of one EmergencyRemoval (with personal data), same process ==")
    print("   baseline: raw fastavro with the codec's schema handling (framed; writer's schema by id, read alone")
    print("   when current, else resolved against the reader's), dicts; alternated in slices of 100 with the codec")
    for name in ("referral-bus codec", "raw fastavro", "json"):
        print(f"  {name:<24} {c[name]:>10,.0f} round trips/s")
    print(f"  ratio referral-bus / raw fastavro = {c['ratio to raw fastavro (median of 5 alternations)']:.3f} "
          f"(range {c['ratio min']:.3f}–{c['ratio max']:.3f})")
    print(f"  ratio referral-bus / json         = {c['referral-bus codec'] / c['json']:.3f}")
    print(f"  size: framed Avro {c['bytes avro (framed)']:.0f} bytes, JSON {c['bytes json']:.0f} bytes")
    print(f"  sealed (producer seals + router opens, re-wraps for 2) {c['sealed round trip']:>10,.0f} round trips/s"
          f" = {c['sealed round trip'] / c['referral-bus codec']:.3f} of the codec round trip without sealing;"
          f" sealed frame {c['bytes sealed (framed)']:.0f} bytes")


def pipeline(events: int, rounds: int, broker_list: list[str]) -> None:
    for broker in broker_list:
        p, by_topic = pipeline_bench.run(events, broker, rounds)
        print(f"\n== pipeline on {brokers.LABELS[broker]}: {p['events']:.0f} sealed removals a round, "
              f"{p['rounds']:.0f} rounds, subject and baselines alternating ==")
        print(f"  writes per input event: router {p['router records per event']:.2f} records, "
              f"{p['router bytes per event']:,.0f} B; SLA processor {p['SLA records per event']:.2f} records, "
              f"{p['SLA bytes per event']:,.0f} B (value + key + headers)")
        for topic, (records, size) in sorted(by_topic.items()):
            print(f"    {topic:<40} {records:5.2f} records  {size:8,.0f} B")
        print(f"  stored on the broker per input event (segment files, one replica, the ingress copy included): "
              f"{p['stored bytes per event (broker segments)']:,.0f} B")
        rows = (("router, clock to the last receipt", "router (to last receipt) events/s",
                 "raw pass-through, router's writes events/s", "ratio router"),
                ("router + SLA, clock to the last rb.sla record", "router + SLA (to last SLA record) events/s",
                 "raw pass-through, router + SLA writes events/s", "ratio router + SLA"))
        for label, subject, base, ratio in rows:
            print(f"  {label:<46} {p[subject]:>8,.0f} events/s; same-writes pass-through {p[base]:>8,.0f} /s; "
                  f"ratio {p[ratio]:.3f} (range {p[ratio + ' min']:.3f}–{p[ratio + ' max']:.3f})")
        print(f"  CPU per input event (median of rounds): router {p['router CPU ms per event']:.2f} ms, "
              f"SLA processor {p['sla CPU ms per event']:.2f} ms")


def replay(events: int, rounds: int, broker_list: list[str]) -> None:
    for broker in broker_list:
        r = replay_bench.run(events, broker, rounds)
        print(f"\n== replay of {r['events']:.0f} case-log events (cases of 30) on {brokers.LABELS[broker]}, "
              f"{r['rounds']:.0f} alternating rounds ==")
        print(f"  replay (decode + chain check + fold)        {r['replay into case states events/s']:>10,.0f} events/s")
        print(f"  raw consume + fastavro decode (baseline)    {r['raw consume + fastavro decode events/s']:>10,.0f} "
              f"events/s ({r['raw decoding seconds per pass']:.1f} s a pass)")
        print(f"  bare consume (no decoding, for scale)       {r['bare consume events/s']:>10,.0f} events/s")
        print(f"  ratio replay / raw decoding consume = {r['ratio replay / raw decoding consume']:.3f} "
              f"(range {r['ratio min']:.3f}–{r['ratio max']:.3f})")


def history(log_events: int, broker_list: list[str]) -> None:
    """``benchmarks/history_bench.py`` (another owner's): printed as it reports."""
    for broker in broker_list:
        figures = history_bench.run(log_events, broker)
        print(f"\n== history_bench on {brokers.LABELS[broker]} ==")
        for name, value in figures.items():
            print(f"  {name:<44} {value:>12,.2f}")
    if hasattr(history_bench, "timeline_queries"):
        for name, value in history_bench.timeline_queries().items():
            print(f"  timeline among 1,000,000 rows: {name:<20} {value:>8.2f}")


def restart(sizes: tuple[int, ...]) -> None:
    print("\n== restart of router and SLA processor (processes) with the case log written straight to the broker ==")
    for row in restart_bench.run(sizes):
        print(f"  {row['log events']:>10,.0f} log events ({row['cases']:,.0f} cases; written in {row['fill s']:.0f} s)")
        for when, prefix in (("first start (full rebuild)", "first start: "), ("restart from snapshot", "")):
            if prefix + "router first receipt s" not in row:
                continue
            print(f"    {when:<28} router first receipt {row[prefix + 'router first receipt s']:6.1f} s, "
                  f"RSS {row[prefix + 'router RSS MB']:6.0f} MB (peak {row[prefix + 'router peak RSS MB']:.0f}); "
                  f"SLA first DeadlineOpened {row[prefix + 'SLA first DeadlineOpened s']:6.1f} s, "
                  f"RSS {row[prefix + 'SLA RSS MB']:6.0f} MB (peak {row[prefix + 'SLA peak RSS MB']:.0f})")
        if "router restarted from snapshot" in row:
            sizes_mb = ", ".join(f"{k.removesuffix(' snapshot MB')} {v:.0f} MB"
                                 for k, v in row.items() if k.endswith("snapshot MB"))
            print(f"    restart: router from snapshot {row['router restarted from snapshot'] == 1.0}, folded "
                  f"{row['router events folded at restart']:,.0f} records; SLA from snapshot "
                  f"{row['sla restarted from snapshot'] == 1.0}; snapshots {sizes_mb}")


def burst(sizes: tuple[int, ...]) -> None:
    print("\n== deadlines due at the same instant on the live bus: escalation lateness beyond the grace ==")
    for row in burst_bench.run(sizes):
        print(f"  {row['deadlines']:>8,.0f} due at once: {row['escalations seen']:,.0f} escalations; beyond the "
              f"{row['grace s']:.0f} s grace p50 {row['lateness beyond grace p50 s']:.2f} s, "
              f"p99 {row['p99 s']:.2f} s, max {row['max s']:.2f} s; SLA RSS "
              f"{row['SLA RSS growth per open deadline B']:,.0f} B per open deadline; all opened "
              f"{row['last opened, s before the instant']:.0f} s before the instant "
              f"({row['opened before the instant']:,.0f} of them)")


def deadlines(sizes: tuple[int, ...]) -> None:
    print("\n== deadline engine alone (no broker): open deadlines spread over an hour, cost of a 1-second tick ==")
    print("   (the live burst above is the end-to-end figure; this one isolates the engine's data structure)")
    for row in deadline_bench.run(sizes):
        print(f"  {row['open deadlines']:>9,.0f} open: {row['bytes per open deadline']:>6,.0f} B each; tick p50 "
              f"{row['tick p50 ms']:.2f} ms, p99 {row['tick p99 ms']:.2f} ms; naive scan p50 "
              f"{row['naive tick p50 ms']:.1f} ms, p99 {row['naive tick p99 ms']:.1f} ms; "
              f"ratio naive/heap p50 {row['naive tick p50 ms'] / row['tick p50 ms']:.0f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"sections, comma-separated: {', '.join(SECTIONS)}")
    parser.add_argument("--events", type=int, default=2000, help="removals per pipeline round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of subject and baseline")
    parser.add_argument("--log-events", type=int, default=20000, help="case-log size for the replay and history")
    parser.add_argument("--restart-events", default="100000", help="case-log sizes for the restart, comma-separated")
    parser.add_argument("--burst", default="10000", help="deadlines due at one instant, comma-separated")
    parser.add_argument("--deadlines", default="100000", help="open deadlines in the engine alone, comma-separated")
    parser.add_argument("--big", action="store_true",
                        help="also the big sizes: restart at 1M log events, 100k deadlines at once, 1M in the engine")
    parser.add_argument("--brokers", default="kafka", help=f"brokers for pipeline and replay: {brokers.available()}")
    args = parser.parse_args()
    if args.big:
        args.restart_events, args.burst, args.deadlines = "100000,1000000", "10000,100000", "100000,1000000"
    logging.disable(logging.INFO)
    print(f"load average at start: {os.getloadavg()[0]:.1f} (1 min) on {os.cpu_count()} cores")
    broker_list = args.brokers.split(",")
    only = set(args.only.split(","))
    sections: dict[str, Callable[[], None]] = {
        "codec": codec,
        "pipeline": lambda: pipeline(args.events, args.rounds, broker_list),
        "replay": lambda: replay(args.log_events, args.rounds, broker_list),
        "history": lambda: history(args.log_events, broker_list),
        "restart": lambda: restart(_sizes(args.restart_events)),
        "burst": lambda: burst(_sizes(args.burst)),
        "deadlines": lambda: deadlines(_sizes(args.deadlines)),
    }
    failed = []
    for name, section in sections.items():
        if name not in only:
            continue
        try:
            section()
        except Exception:   # one broken section must not cost the figures of the others: say so, go on
            traceback.print_exc()
            failed.append(name)
        print(f"   [{name} done, load average {os.getloadavg()[0]:.1f}]", flush=True)
    print(f"\nload average at end: {os.getloadavg()[0]:.1f} (1 min)")
    if failed:
        raise SystemExit(f"sections failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
