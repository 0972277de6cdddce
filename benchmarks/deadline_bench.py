"""The deadline engine with 100k and 1M open deadlines: memory per deadline, and how late breaches
fire — the cost of one tick on top of the tick interval — against a naive tick that scans and
sorts every open deadline (the engine's first implementation), in the same run."""

from __future__ import annotations

import gc
import statistics
import time
import uuid
from datetime import timedelta

from referral_bus.contracts.base import City, Envelope, Producer
from referral_bus.contracts.events import EmergencyRemoval
from referral_bus.domain.deadlines.engine import DeadlineEngine
from referral_bus.domain.deadlines.rule_table import RULES_BY_ID
from referral_bus.domain.deadlines.rules import DeadlineRule
from referral_bus.infra.runtime import load_runtime
from tests.builders import T0

RULE: DeadlineRule = RULES_BY_ID["4.8-removal-outcome-3h"]


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def naive_advance(engine: DeadlineEngine, now):  # type: ignore[no-untyped-def]
    """The first implementation: sort every open deadline on every tick, then run the same ladder."""
    out = []
    for d in sorted(engine.open.values(), key=lambda d: (d.due_at, str(d.deadline_id))):
        out += engine._fire(d, now - engine.grace, inclusive=True)  # noqa: SLF001
    return out


def fill(n: int) -> tuple[DeadlineEngine, int]:
    runtime = load_runtime()
    engine = DeadlineEngine((RULE,), runtime.directory, calendar=runtime.calendar)
    template = EmergencyRemoval(
        envelope=Envelope(event_id=uuid.uuid4(), event_type="EmergencyRemoval", schema_version=1, case_id="BENCH-0",
                          occurred_at=T0, recorded_at=T0, sequence=1,
                          producer=Producer(agency_id="police-juvenile-almaty", actor_id="b")),
        city=City.ALMATY, child_age_years=9, child_removed=True, cam_social_worker_present=False)
    gc.collect()
    before = rss_bytes()
    for i in range(n):  # removals spread over one hour: deadlines fall due across an hour
        at = T0 + timedelta(seconds=i * 3600 / n)
        env = template.envelope.model_copy(update={"event_id": uuid.uuid4(), "case_id": f"BENCH-{i}",
                                                   "occurred_at": at, "recorded_at": at})
        engine.on_event(template.model_copy(update={"envelope": env}))
    gc.collect()
    return engine, rss_bytes() - before


def tick_costs(engine: DeadlineEngine, advance, ticks: int = 60) -> list[float]:  # type: ignore[no-untyped-def]
    """Wall time of each 1-second tick over the first minute of deadlines falling due."""
    due0 = T0 + timedelta(hours=3)
    advance(engine, due0)  # untimed: the warnings of the hour before, so the ticks measure a steady state
    costs = []
    for second in range(1, ticks + 1):
        start = time.perf_counter()
        advance(engine, due0 + timedelta(seconds=second))
        costs.append(time.perf_counter() - start)
    return costs


def run(sizes: tuple[int, ...] = (100_000, 1_000_000)) -> list[dict[str, float]]:
    results = []
    for n in sizes:
        engine, grown = fill(n)
        heap_costs = tick_costs(engine, DeadlineEngine.advance)
        del engine
        gc.collect()
        baseline, _ = fill(n)
        naive_costs = tick_costs(baseline, naive_advance, ticks=5 if n >= 1_000_000 else 20)
        del baseline
        gc.collect()
        q = lambda xs, p: statistics.quantiles(xs, n=100, method="inclusive")[p - 1]  # noqa: E731
        results.append({
            "open deadlines": float(n), "bytes per open deadline": grown / n,
            # a breach fires within one tick interval plus the tick's own cost: report the cost
            "tick p50 ms": 1000 * statistics.median(heap_costs), "tick p99 ms": 1000 * q(heap_costs, 99),
            "naive tick p50 ms": 1000 * statistics.median(naive_costs), "naive tick p99 ms": 1000 * q(naive_costs, 99),
        })
    return results
