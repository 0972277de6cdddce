"""What starting a broker process on this machine needs, whichever broker it is: free ports,
dying with the parent, and waiting until clients are served."""

from __future__ import annotations

import logging
import signal
import socket
import time
from collections.abc import Callable

from referral_bus.infra.kafka.security import KafkaSecurity


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _accepts(server: str) -> bool:
    host, _, port = server.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


def die_with_parent() -> None:
    """Linux (in the child, before exec): SIGTERM when the thread that started us ends, so a killed
    ``referral-bus up`` or test session leaves no broker behind."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1
    except OSError:
        pass


def wait_until_serving(bootstrap_servers: str, timeout: float = 60.0, *, brokers: int = 1,
                       check: Callable[[], None] | None = None, security: KafkaSecurity | None = None) -> None:
    """Block until ``brokers`` brokers are registered and a client can list topics. ``check`` runs
    between attempts and may raise (e.g. when the broker process died)."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    kafka_log = logging.getLogger("kafka")
    previous_level = kafka_log.level
    kafka_log.setLevel(logging.CRITICAL)  # "connection refused" is expected until it listens
    deadline = time.monotonic() + timeout
    last_error: object = None
    try:
        while time.monotonic() < deadline:
            if check is not None:
                check()
            if not any(_accepts(server) for server in bootstrap_servers.split(",")):
                last_error = "nothing listening yet"
                time.sleep(0.3)
                continue  # a client built now would block for its whole bootstrap timeout
            try:
                admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=3000,
                                         **(security.kafka_python() if security else {}))
                try:
                    found = [b for b in admin.describe_cluster().get("brokers", []) if not b.get("is_fenced")]
                    admin.list_topics()
                    if len(found) >= brokers:
                        return
                    last_error = f"{len(found)} of {brokers} brokers registered"
                finally:
                    admin.close()
            except (KafkaError, OSError, ValueError) as exc:  # not up yet
                last_error = exc
            time.sleep(0.3)
    finally:
        kafka_log.setLevel(previous_level)
    raise TimeoutError(f"broker at {bootstrap_servers} did not serve within {timeout}s: {last_error}")
