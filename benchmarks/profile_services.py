"""Where the router's and the SLA processor's CPU goes under load: the profile issue 13 item 3 asks
to be guided by. Not a benchmark (no baseline, no ratio): a sampling profile of the live services.

A bus on a local Apache Kafka node; the police produce ``--events`` sealed, signed emergency
removals (each a new case) in ``--rounds`` rounds, waiting for the last receipt and the last
``rb.sla`` record of each. py-spy (a sampling profiler that attaches to a running process, so the
services run exactly as deployed) samples the router and the SLA processor from the first round
to the last, and the collapsed stacks are summarised here: per service, the share of samples spent
in each function (inclusive: the function and what it calls), and in a few named groups of
functions (Avro, hashing, pydantic, the Kafka client …). Idle samples (the event loop waiting)
are left out, so the shares are of CPU in use.

    .venv/bin/python -m benchmarks.profile_services --events 3000 --rounds 3

``--burst N`` profiles the SLA processor instead over an end-of-day burst (``burst_bench``: N
deadlines due at one instant), from a second before the grace ends to 8 s after.

py-spy is a development tool, not a dependency of the bus: ``pip install py-spy`` first (it needs
ptrace, which containers sometimes forbid).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from benchmarks import burst_bench
from benchmarks.pipeline_bench import _subject, end_offsets, police_bus, sla_records_owed
from tests.builders import case_id, removal

#: Named groups, in order: a sample counts for the first whose marker appears anywhere in its stack
#: (so ``model_dump`` inside an encode counts as encoding); a sample in none of them counts for the
#: library of its innermost frame (the Kafka client, Faust, asyncio, …).
GROUPS = {
    "Avro encode (model_dump + fastavro)": ("encode (referral_bus/infra/codec/framing",),
    "Avro decode (fastavro + model_validate)": ("decode (referral_bus/infra/codec/framing",
                                                "decode_raw (referral_bus/infra/codec/framing"),
    "canonical JSON + SHA-256 (chain, fingerprints)": ("canonical.py", "chain_hash", "content_fingerprint"),
    "signatures (Ed25519)": ("domain/signatures.py",),
    "sealing (AES-GCM, X25519)": ("domain/sealing.py",),
    "vault (SQLite)": ("infra/vault.py",),
    "structlog (log lines)": ("structlog/",),
    "pydantic elsewhere (copies, redaction, models)": ("pydantic/", "pydantic_core"),
    "deadline engine": ("domain/deadlines/",),
}
LIBRARIES = {"aiokafka/": "Kafka client (aiokafka)", "kafka/": "Kafka client (kafka-python)", "faust/": "Faust",
             "mode/": "Faust (mode)", "asyncio/": "asyncio", "prometheus_client/": "metrics"}
IDLE = ("select (selectors.py", "_run_once (asyncio", "epoll", "wait (threading.py")


def _group(stack: str, frames: list[str]) -> str:
    for group, markers in GROUPS.items():
        if any(marker in stack for marker in markers):
            return group
    for frame in reversed(frames):
        for marker, library in LIBRARIES.items():
            if marker in frame:
                return library
    return "other: " + frames[-1].split(" (")[-1].rsplit(":", 1)[0]


def summarise(collapsed: Path, top: int = 25) -> str:
    """The shares of a py-spy ``--format raw`` file (``frame;frame;… count`` per line)."""
    inclusive: Counter[str] = Counter()
    groups: Counter[str] = Counter()
    busy = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue   # a frame whose name holds a line break (py-spy writes it as it is)
        count = int(count_text)
        frames = stack.split(";")
        if any(frames[-1].startswith(idle) for idle in IDLE):
            continue
        busy += count
        for name in {f.split(" (")[0] + " (" + f.split(" (")[-1].rsplit(":", 1)[0] + ")" for f in frames}:
            inclusive[name] += count
        groups[_group(stack, frames)] += count
    lines = [f"  busy samples: {busy:,}"]
    lines += [f"  {share:5.1%}  {group}" for group, share in
              sorted(((g, c / busy) for g, c in groups.items()), key=lambda x: -x[1])]
    lines.append("  inclusive, top functions:")
    lines += [f"  {c / busy:5.1%}  {name}" for name, c in inclusive.most_common(top)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "referral-bus-profile")
    parser.add_argument("--burst", type=int, default=0, help="profile the SLA processor over a burst of N deadlines")
    args = parser.parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        raise SystemExit("py-spy is not installed: .venv/bin/pip install py-spy")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.burst:
        _profile_burst(spy, args.burst, args.out / "sla-burst.txt")
        return
    with police_bus() as (servers, _, bus, police):
        runtime, cat = bus.runtime, bus.runtime.catalogue
        ingress, receipts = cat.ingress(police.agency.id), cat.receipts(police.agency.id)
        sla_topic = cat.name("sla")
        spies = {service: subprocess.Popen(
            [spy, "record", "--format", "raw", "--rate", "200", "--nonblocking",
             "--pid", str(bus.processes[service].pid), "--output", str(args.out / f"{service}.txt")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for service in ("router", "sla")}
        time.sleep(1)
        for _ in range(args.rounds):
            events = [removal(police, case_id("PROF"), hours_ago=1) for _ in range(args.events)]
            values = [police.validate(e) for e in events]
            keys = [e.envelope.case_id.encode() for e in events]
            before = end_offsets(servers, [receipts, sla_topic])
            start, router_end, sla_end = asyncio.run(_subject(
                servers, police, ingress, keys, values, {receipts: args.events},
                {sla_topic: sla_records_owed(runtime, events)}, before))
            print(f"round: router {args.events / (router_end - start):,.0f} events/s, "
                  f"router + SLA {args.events / (sla_end - start):,.0f} events/s", flush=True)
        for spy_process in spies.values():
            spy_process.send_signal(2)   # SIGINT: py-spy writes its file and exits
            spy_process.wait(timeout=60)
    for service in ("router", "sla"):
        print(f"\n== {service} ({args.out / (service + '.txt')}) ==")
        print(summarise(args.out / f"{service}.txt"))


def _profile_burst(spy: str, n: int, out: Path) -> None:
    """The SLA processor sampled over a burst of ``n`` deadlines due at one instant (``burst_bench``)."""
    with burst_bench.live_bus() as bus:
        pid, grace = bus.processes["sla"].pid, bus.runtime.settings.sla_grace_seconds

        def sample() -> None:   # burst_bench puts the instant 30 + n / 200 s from its start
            time.sleep(30 + n / 200 + grace - 1)
            spy_process = subprocess.Popen([spy, "record", "--format", "raw", "--rate", "250", "--nonblocking",
                                            "--pid", str(pid), "--output", str(out)],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(9)
            spy_process.send_signal(2)
            spy_process.wait(timeout=60)
        sampler = threading.Thread(target=sample)
        sampler.start()
        print(burst_bench._burst(bus, n), flush=True)
        sampler.join()
    print(f"\n== SLA processor over a burst of {n:,} ({out}) ==")
    print(summarise(out))


if __name__ == "__main__":
    main()
