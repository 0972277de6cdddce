"""A scenario's ``expect:`` block: output-line subsets that must appear, so an example scenario is
also a test of the protocol it shows (and ``simulate --check`` tells a policy officer whether a
changed rule table or directory still gives the outcomes the scenario was written for).

Each expectation is a mapping of output-line fields; a line matches when it has every field with
an equal value (times compared as instants, so offsets like ``+3h`` work). ``count`` absent means
"at least one such line", ``count: N`` exactly N — ``count: 0`` says something must *not* happen.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from referral_bus.simulate.runner import Line
from referral_bus.simulate.scenario import TIME_KEYS, Expectation


def _equal(key: str, wanted: Any, actual: Any) -> bool:
    if key in TIME_KEYS and isinstance(wanted, datetime):
        try:
            return isinstance(actual, str) and datetime.fromisoformat(actual) == wanted
        except ValueError:
            return False
    return bool(wanted == actual)


def matches(line: Line, fields: dict[str, Any]) -> bool:
    return all(key in line and _equal(key, value, line[key]) for key, value in fields.items())


def _shown(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in fields.items()}


def check(expectations: tuple[Expectation, ...] | list[Expectation], lines: list[Line]) -> list[str]:
    """One message per expectation that does not hold (empty: all hold)."""
    failures = []
    for exp in expectations:
        found = [line for line in lines if matches(line, exp.fields)]
        if (exp.count is None and found) or (exp.count is not None and len(found) == exp.count):
            continue
        wanted = "at least one line" if exp.count is None else f"exactly {exp.count} line(s)"
        message = (f"expect[{exp.index}] (line {exp.line}): wanted {wanted} matching {_shown(exp.fields)}, "
                   f"found {len(found)}")
        if not found:
            near = sorted((line for line in lines if line.get("kind") == exp.fields.get("kind")),
                          key=lambda line: -sum(k in line and _equal(k, v, line[k]) for k, v in exp.fields.items()))
            if near:
                keys = list(exp.fields)
                message += "; nearest: " + "; ".join(str({k: line.get(k) for k in keys}) for line in near[:3])
        failures.append(message)
    return failures
