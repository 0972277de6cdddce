"""Progress of long replays and rebuilds: a rich progress bar on a terminal, structured log lines
(every few seconds) otherwise."""

from __future__ import annotations

import sys
import time
from types import TracebackType

import structlog
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)

log = structlog.get_logger(__name__)


class ReplayProgress:
    def __init__(self, label: str, *, log_every: float = 5.0) -> None:
        self.label = label
        self.log_every = log_every
        self._bar: Progress | None = None
        self._task: object = None
        self._logged_at = time.monotonic()

    def __enter__(self) -> ReplayProgress:
        if sys.stderr.isatty():
            self._bar = Progress(TextColumn(self.label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                                 console=Console(stderr=True), transient=True)
            self._task = self._bar.add_task(self.label, total=None)
            self._bar.start()
        return self

    def update(self, done: int, total: int | None) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=done, total=total)  # type: ignore[arg-type]
        elif time.monotonic() - self._logged_at >= self.log_every:
            log.info("replay.progress", what=self.label, done=done, total=total)
            self._logged_at = time.monotonic()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.stop()
