"""structlog as JSON lines, carrying event and case ids, never personal data.

A processor drops any key that names personal data (the fields of ``PersonalData`` and the record
itself) before a line is written, so a careless ``log.info(..., child_name=...)`` cannot leak.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from referral_bus.contracts.base import ParentOrRepresentative, PersonalData

PERSONAL_KEYS = frozenset(PersonalData.model_fields) | frozenset(ParentOrRepresentative.model_fields) | {
    "personal_data", "name", "address", "date_of_birth", "phone"}


def drop_personal_data(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in PERSONAL_KEYS & event_dict.keys():
        event_dict[key] = "[withheld]"
    return event_dict


class _StderrLogger:
    """Writes each line to whatever ``sys.stderr`` is at that moment (test runners swap it)."""

    def msg(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    log = debug = info = warning = warn = error = critical = exception = fatal = msg


def configure_logging(level: str = "INFO", json_lines: bool = True) -> None:
    logging.basicConfig(stream=sys.stderr, level=getattr(logging, level.upper(), logging.INFO), format="%(message)s")
    for noisy in ("kafka", "aiokafka", "faust", "mode"):  # client libraries: their warnings only
        logging.getLogger(noisy).setLevel(logging.WARNING)
    renderer: Any = structlog.processors.JSONRenderer() if json_lines else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            drop_personal_data,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper(), logging.INFO)),
        logger_factory=lambda *args: _StderrLogger(),
        cache_logger_on_first_use=True,
    )
