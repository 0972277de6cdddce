from __future__ import annotations

import json

import structlog

from referral_bus.infra.logging import configure_logging
from referral_bus.infra.progress import ReplayProgress


def test_progress_is_logged_when_not_on_a_terminal(capsys) -> None:  # type: ignore[no-untyped-def]
    configure_logging("INFO")
    with ReplayProgress("verifying the case log", log_every=0) as progress:
        progress.update(500, 2000)
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    structlog.reset_defaults()
    assert (line["event"], line["what"], line["done"], line["total"]) == ("replay.progress", "verifying the case log",
                                                                         500, 2000)
