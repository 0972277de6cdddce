"""Keeps the bus's services running under ``referral-bus up``, as systemd or an orchestrator does in
production: a service that exits is started again after a back-off, and says so.

The services are built to be restarted: each rebuilds its state from the log and stops rather than
run on with state the log lacks (``infra/kafka/faust_app.py``). What they need from a supervisor is
exactly this — restart, back off while a service keeps failing fast (a crash loop should not burn
the machine or flood the log), and make it visible: each exit and restart is printed with the exit
status and the log to read, and ``<logs>/services.json`` holds each service's state for
``referral-bus services``.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

#: First restart delay, doubled for each exit in a row, up to the ceiling.
BACKOFF_START = 1.0
BACKOFF_CEILING = 60.0
#: A service that ran this long before exiting is not crash-looping: its back-off starts afresh.
HEALTHY_AFTER = 60.0
#: A service exiting with this status stopped on purpose and needs the operator (its stores and the
#: log disagree, projections/divergence.py): restarting it would only repeat the refusal.
EXIT_NEEDS_OPERATOR = 4
#: A service exiting with this status found a setting it cannot use (the port of its metrics taken …):
#: its last log line names the setting, and the supervisor repeats it.
EXIT_SETTING = 2


def _last_line(log: Path) -> str:
    try:
        with open(log, "rb") as f:
            f.seek(max(0, f.seek(0, 2) - 4096))
            lines = [line for line in f.read().decode(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "(its log cannot be read)"
    return lines[-1].strip() if lines else "(nothing)"


@dataclass
class Service:
    name: str
    command: list[str]
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    #: exits in a row, each after less than HEALTHY_AFTER seconds of running
    failures_in_a_row: int = 0
    restart_at: float | None = None
    last_exit: int | None = None
    #: stopped on purpose, waiting for the operator (EXIT_NEEDS_OPERATOR): not restarted
    held: bool = False

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None and self.process.poll() is None else None


@dataclass
class Supervisor:
    services: list[Service]
    status_file: Path
    say: Callable[[str], None] = print
    clock: Callable[[], float] = time.monotonic
    _stopping: bool = field(default=False, repr=False)

    def start_all(self) -> None:
        for service in self.services:
            self._start(service)
        self._write_status()

    def _start(self, service: Service) -> None:
        out = open(service.log, "ab")  # noqa: SIM115 - the child holds it; closed with our copy below
        try:
            service.process = subprocess.Popen(service.command, env=service.env, stdout=out,
                                               stderr=subprocess.STDOUT)
        finally:
            out.close()
        service.started_at, service.restart_at = self.clock(), None

    def poll(self) -> None:
        """Notice exits and start what is due; call about once a second."""
        now = self.clock()
        changed = False
        for service in self.services:
            proc = service.process
            if service.restart_at is None and not service.held and proc is not None and proc.poll() is not None:
                ran = now - service.started_at
                service.last_exit = proc.returncode
                changed = True
                if proc.returncode == EXIT_NEEDS_OPERATOR:
                    service.held = True
                    self.say(f"{service.name} STOPPED after {ran:.0f} s and will not be restarted: it needs the "
                             f"operator — the reason and the command to run are at the end of {service.log}")
                    continue
                service.failures_in_a_row = 1 if ran >= HEALTHY_AFTER else service.failures_in_a_row + 1
                delay = min(BACKOFF_CEILING, BACKOFF_START * 2 ** (service.failures_in_a_row - 1))
                service.restart_at = now + delay
                loop = (f"; exited {service.failures_in_a_row} times in a row — see its log"
                        if service.failures_in_a_row >= 3 else "")
                said = f" — it said: {_last_line(service.log)}" if proc.returncode == EXIT_SETTING else ""
                self.say(f"{service.name} exited with status {proc.returncode} after {ran:.0f} s{said}; restarting "
                         f"in {delay:.0f} s (log {service.log}){loop}")
                changed = True
            if service.restart_at is not None and now >= service.restart_at and not self._stopping:
                self._start(service)
                service.restarts += 1
                self.say(f"{service.name} restarted (pid {service.process.pid}, restart {service.restarts})"
                         if service.process else f"{service.name} restarted")
                changed = True
        if changed:
            self._write_status()

    def stop_all(self, timeout: float = 20.0) -> None:
        self._stopping = True
        running = [s.process for s in self.services if s.process is not None and s.process.poll() is None]
        for proc in running:
            proc.send_signal(signal.SIGTERM)
        for proc in running:
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
        self._write_status()

    def _write_status(self) -> None:
        rows = []
        for s in self.services:
            state = ("running" if s.pid is not None else "restarting" if s.restart_at is not None
                     else "needs-operator" if s.held else "stopped")
            rows.append({"service": s.name, "state": state, "pid": s.pid, "restarts": s.restarts,
                         "exits_in_a_row": s.failures_in_a_row, "last_exit_status": s.last_exit,
                         "log": str(s.log)})
        self.status_file.write_text(json.dumps({"at": datetime.now(UTC).isoformat(), "services": rows},
                                               indent=2) + "\n")
