"""Run every benchmark in one process and print figures with ratios to their baselines.

    .venv/bin/python -m benchmarks.run [--events N]
"""

from __future__ import annotations

import argparse
import logging

from benchmarks import codec_bench, pipeline_bench


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=2000)
    args = parser.parse_args()
    logging.disable(logging.INFO)

    codec = codec_bench.run()
    print("== codec: encode + decode of one EmergencyRemoval (with personal data) ==")
    for name in ("referral-bus codec", "raw fastavro", "json"):
        print(f"  {name:<24} {codec[name]:>10,.0f} round trips/s")
    print(f"  ratio referral-bus / raw fastavro = {codec['referral-bus codec'] / codec['raw fastavro']:.3f}")
    print(f"  ratio referral-bus / json         = {codec['referral-bus codec'] / codec['json']:.3f}")
    print(f"  size: framed Avro {codec['bytes avro (framed)']:.0f} bytes, JSON {codec['bytes json']:.0f} bytes")

    pipe = pipeline_bench.run(args.events)
    print(f"\n== pipeline on the embedded broker, {pipe['events']:.0f} events ==")
    base = pipe["raw aiokafka pass-through events/s"]
    for name in ("router (to case log) events/s", "router + SLA (to deadlines) events/s",
                 "raw aiokafka pass-through events/s"):
        print(f"  {name:<40} {pipe[name]:>10,.0f}   ratio to pass-through {pipe[name] / base:.3f}")


if __name__ == "__main__":
    main()
