"""Run every benchmark in one process and print figures with ratios to their baselines.

    .venv/bin/python -m benchmarks.run [--events N] [--log-events N] [--deadlines 100000,1000000]
                                       [--brokers kafka,tansu]
"""

from __future__ import annotations

import argparse
import logging

from benchmarks import (
    brokers,
    codec_bench,
    deadline_bench,
    history_bench,
    pipeline_bench,
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--deadlines", default="100000,1000000", help="open-deadline counts, comma-separated")
    parser.add_argument("--log-events", type=int, default=20000, help="case-log size for replay/projector figures")
    parser.add_argument("--brokers", default=",".join(brokers.available()),
                        help="brokers to run the pipeline and replay on, side by side (kafka, tansu)")
    args = parser.parse_args()
    logging.disable(logging.INFO)

    codec = codec_bench.run()
    print("== codec: encode + decode of one EmergencyRemoval (with personal data) ==")
    for name in ("referral-bus codec", "raw fastavro", "json"):
        print(f"  {name:<24} {codec[name]:>10,.0f} round trips/s")
    print(f"  ratio referral-bus / raw fastavro = {codec['referral-bus codec'] / codec['raw fastavro']:.3f}")
    print(f"  ratio referral-bus / json         = {codec['referral-bus codec'] / codec['json']:.3f}")
    print(f"  size: framed Avro {codec['bytes avro (framed)']:.0f} bytes, JSON {codec['bytes json']:.0f} bytes")
    print(f"  sealed (producer seals + router opens, re-wraps for 2) {codec['sealed round trip']:>10,.0f} round trips/s"
          f" = {codec['sealed round trip'] / codec['referral-bus codec']:.3f} of the codec round trip without sealing;"
          f" sealed frame {codec['bytes sealed (framed)']:.0f} bytes")

    for broker in args.brokers.split(","):
        pipe = pipeline_bench.run(args.events, broker)
        print(f"\n== pipeline on {brokers.LABELS[broker]}, {pipe['events']:.0f} events ==")
        base = pipe["raw aiokafka pass-through events/s"]
        for name in ("router (to case log) events/s", "router + SLA (to deadlines) events/s",
                     "raw aiokafka pass-through events/s"):
            print(f"  {name:<40} {pipe[name]:>10,.0f}   ratio to pass-through {pipe[name] / base:.3f}")

    for broker in args.brokers.split(","):
        hist = history_bench.run(args.log_events, broker)
        raw = hist["raw consume events/s"]
        print(f"\n== history: {hist['events']:.0f} case-log events on {brokers.LABELS[broker]}; "
              "read models in PostgreSQL ==")
        for name in ("replay into case states events/s", "projector events/s", "raw consume events/s"):
            print(f"  {name:<36} {hist[name]:>10,.0f}   ratio to raw consume {hist[name] / raw:.3f}")
    query = history_bench.timeline_queries()
    print(f"  timeline of one case among 1,000,000 stored events: ORM p50 {query['orm p50 ms']:.2f} ms, "
          f"p99 {query['orm p99 ms']:.2f} ms; raw SQL p50 {query['raw p50 ms']:.2f} ms, "
          f"p99 {query['raw p99 ms']:.2f} ms "
          f"(ratio p50 {query['orm p50 ms'] / query['raw p50 ms']:.1f})")

    print("\n== deadline engine: open deadlines, memory, cost of a 1-second tick while deadlines fall due ==")
    print("   (a breach fires at most one tick interval plus the tick's cost after its due time + grace)")
    for row in deadline_bench.run(tuple(int(n) for n in args.deadlines.split(","))):
        print(f"  {row['open deadlines']:>9,.0f} open: {row['bytes per open deadline']:>6,.0f} B each; tick p50 "
              f"{row['tick p50 ms']:.2f} ms, p99 {row['tick p99 ms']:.2f} ms; naive scan p50 "
              f"{row['naive tick p50 ms']:.1f} ms, p99 {row['naive tick p99 ms']:.1f} ms; "
              f"ratio naive/heap p50 {row['naive tick p50 ms'] / row['tick p50 ms']:.0f}x")


if __name__ == "__main__":
    main()
