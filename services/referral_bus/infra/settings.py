"""Runtime settings from the environment (12-factor); one place for every knob."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from referral_bus.infra.kafka.security import KafkaSecurity

#: The file that marks a folder holding the bus's configuration (with agencies.yaml, calendar.yaml,
#: policy.yaml and schemas/avro/ beside it).
_MARKER = "topics.yaml"


class ProjectFilesNotFound(FileNotFoundError):
    """The configuration files (topics.yaml, agencies.yaml, schemas/ …) are nowhere to be found."""


def project_root() -> Path:
    """Where topics.yaml, agencies.yaml, calendar.yaml, policy.yaml and schemas/avro/ live.

    REFERRAL_BUS_HOME when set (an operator's own copy); otherwise the package data
    ``referral_bus.defaults``: copies in an installed wheel, links to the repository's root files in
    a checkout — followed to the folder they live in, so edits to the root files (and
    ``schemas freeze``) act on the single source. Never found by the location of the source tree.
    """
    env = os.environ.get("REFERRAL_BUS_HOME")
    if env:
        home = Path(env).expanduser()
        if not (home / _MARKER).is_file():
            raise ProjectFilesNotFound(
                f"REFERRAL_BUS_HOME={env!r} has no {_MARKER} (no file {home / _MARKER}): point it at a folder "
                f"with {_MARKER}, agencies.yaml, calendar.yaml, policy.yaml and schemas/avro/, or unset it to "
                "use the installed package's files")
        return home
    shipped: Traversable | None
    try:
        shipped = files("referral_bus.defaults")
    except ModuleNotFoundError:
        shipped = None
    if not isinstance(shipped, Path) or not (shipped / _MARKER).is_file():
        # Missing, incomplete or zipped package data: the loaders need real files on disk.
        raise ProjectFilesNotFound(
            f"no {_MARKER} found: the package data referral_bus/defaults/ is missing or not on disk ({shipped}); "
            "reinstall referral-bus from its wheel or set REFERRAL_BUS_HOME to a folder with topics.yaml, "
            "agencies.yaml, calendar.yaml, policy.yaml and schemas/avro/")
    return (shipped / _MARKER).resolve().parent


class SettingError(ValueError):
    """A setting from the environment holds a value the bus cannot use. The message names the
    variable, what it expects and what it got (``REFERRAL_BUS_X: expected …, got …``); the command
    line turns it into one line on stderr and exit status 2 (cli/__init__.py)."""

    def __init__(self, name: str, expected: str, got: str) -> None:
        super().__init__(f"{name}: expected {expected}, got {got!r}")
        self.name = name


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    return value.strip() if value is not None and value.strip() else None


def _seconds(name: str, default: float, *, zero_allowed: bool = False) -> float:
    value = _raw(name)
    if value is None:
        return float(default)
    expected = "a number of seconds ≥ 0" if zero_allowed else "a positive number of seconds"
    try:
        seconds = float(value)
    except ValueError:
        raise SettingError(name, expected, value) from None
    if not math.isfinite(seconds) or seconds < 0 or (seconds == 0 and not zero_allowed):
        raise SettingError(name, expected, value)
    return seconds


def _whole(name: str, default: int, *, what: str, minimum: int = 1) -> int:
    value = _raw(name)
    if value is None:
        return default
    expected = f"a whole number of {what} ≥ {minimum}"
    try:
        number = int(value)
    except ValueError:
        raise SettingError(name, expected, value) from None
    if number < minimum:
        raise SettingError(name, expected, value)
    return number


def _flag(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    if value.lower() in ("true", "1", "yes", "on"):
        return True
    if value.lower() in ("false", "0", "no", "off"):
        return False
    raise SettingError(name, "true or false", value)


def _port(name: str, value: str) -> int:
    expected = "a TCP port 1–65535"
    try:
        port = int(value)
    except ValueError:
        raise SettingError(name, expected, value) from None
    if not 1 <= port <= 65535:
        raise SettingError(name, expected, value)
    return port


def port_setting(name: str, default: int | None) -> int | None:
    """A port from the environment (``REFERRAL_BUS_BROKER_PORT`` …), checked."""
    value = _raw(name)
    return default if value is None else _port(name, value)


#: The services that serve Prometheus metrics, each on its own address, and the offset each takes
#: from ``REFERRAL_BUS_METRICS_PORT`` (the base port) so that the services ``up`` runs on one
#: machine never ask for the same port.
METRICS_SERVICES: dict[str, int] = {"router": 0, "sla": 1, "projector": 2}
METRICS_BASE_PORT = "REFERRAL_BUS_METRICS_PORT"


#: The setting that gives one service its own metrics address (HOST:PORT), over the base port.
METRICS_ADDR_SETTINGS: dict[str, str] = {"router": "REFERRAL_BUS_ROUTER_METRICS_ADDR",
                                         "sla": "REFERRAL_BUS_SLA_METRICS_ADDR",
                                         "projector": "REFERRAL_BUS_PROJECTOR_METRICS_ADDR"}


def metrics_addr_setting(service: str) -> str:
    """The setting that gives one service's metrics address, e.g. ``REFERRAL_BUS_SLA_METRICS_ADDR``."""
    return METRICS_ADDR_SETTINGS[service]


def _address(name: str) -> tuple[str, int] | None:
    value = _raw(name)
    if value is None:
        return None
    host, sep, port = value.rpartition(":")
    if not sep:
        host, port = "127.0.0.1", value
    host = host.strip("[]") or "127.0.0.1"
    expected = "HOST:PORT (e.g. 127.0.0.1:9464) or a port 1–65535"
    if not port.isdigit() or not 1 <= int(port) <= 65535 or any(c.isspace() for c in host):
        raise SettingError(name, expected, value)
    return host, int(port)


def _metrics_addresses() -> dict[str, tuple[str, int]]:
    base = port_setting(METRICS_BASE_PORT, None)
    if base is not None and base + max(METRICS_SERVICES.values()) > 65535:
        raise SettingError(METRICS_BASE_PORT, f"a TCP port 1–{65535 - max(METRICS_SERVICES.values())} (the SLA "
                           "processor and the projector take the next two)", str(base))
    addresses: dict[str, tuple[str, int]] = {}
    for service, offset in METRICS_SERVICES.items():
        own = _address(metrics_addr_setting(service))
        if own is not None:
            addresses[service] = own
        elif base is not None:
            addresses[service] = ("127.0.0.1", base + offset)
    return addresses


def _choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = _raw(name)
    if value is None:
        return default
    if value.lower() not in choices:
        raise SettingError(name, " or ".join(repr(c) for c in choices), value)
    return value.lower()


def broker_kind() -> str:
    """``REFERRAL_BUS_BROKER``: the local broker ``up`` and the tests start."""
    return _choice("REFERRAL_BUS_BROKER", "kafka", ("kafka", "tansu"))


@dataclass(frozen=True)
class Settings:
    bootstrap_servers: str = field(default_factory=lambda: os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"))
    #: Prefix for every topic name, so several environments can share one cluster.
    topic_prefix: str = field(default_factory=lambda: os.environ.get("REFERRAL_BUS_TOPIC_PREFIX", ""))
    schema_registry_url: str | None = field(default_factory=lambda: os.environ.get("SCHEMA_REGISTRY_URL") or None)
    root: Path = field(default_factory=project_root)
    #: Largest accepted submission; bigger ones are rejected with OVERSIZED.
    max_event_bytes: int = field(default_factory=lambda: _whole("REFERRAL_BUS_MAX_EVENT_BYTES", 256 * 1024,
                                                                what="bytes"))
    #: How far in the future occurred_at may lie (clock skew between agencies and the bus).
    max_clock_skew_seconds: int = field(default_factory=lambda: _whole("REFERRAL_BUS_MAX_CLOCK_SKEW", 300,
                                                                       what="seconds", minimum=0))
    #: How far in the past occurred_at may lie: older is a wrong clock or a mistyped year.
    max_event_age_days: int = field(default_factory=lambda: _whole("REFERRAL_BUS_MAX_EVENT_AGE_DAYS", 3650,
                                                                   what="days"))
    #: The SLA processor waits this long past a due time before declaring a breach, so that a
    #: completing event already on its way through the router is not mistaken for a miss.
    sla_grace_seconds: float = field(default_factory=lambda: _seconds("REFERRAL_BUS_SLA_GRACE", 10,
                                                                      zero_allowed=True))
    sla_tick_seconds: float = field(default_factory=lambda: _seconds("REFERRAL_BUS_SLA_TICK", 1))
    #: Consumer-group timing, production defaults (Kafka's own): a member that stops heartbeating
    #: is dropped after the session timeout; a rebalance waits up to the rebalance timeout for
    #: members to rejoin. Tests and single-machine runs may shorten them.
    session_timeout_seconds: float = field(default_factory=lambda: _seconds("REFERRAL_BUS_SESSION_TIMEOUT", 45))
    heartbeat_interval_seconds: float = field(default_factory=lambda: _seconds("REFERRAL_BUS_HEARTBEAT_INTERVAL", 3))
    rebalance_timeout_seconds: float = field(default_factory=lambda: _seconds("REFERRAL_BUS_REBALANCE_TIMEOUT", 60))
    #: Longest a stream processor may go between polls before the group drops it (Kafka's 300 s):
    #: rebuilding state from the case log happens between polls, so it must fit in here.
    max_poll_interval_seconds: float = field(default_factory=lambda: _seconds("REFERRAL_BUS_MAX_POLL_INTERVAL", 300))
    #: How often a stream processor saves a snapshot of its state (infra/snapshots.py), so that a
    #: restart folds only what the log gained since; 0: never (every start folds the whole log).
    state_snapshot_seconds: float = field(default_factory=lambda: _seconds("REFERRAL_BUS_STATE_SNAPSHOT_SECONDS",
                                                                           60, zero_allowed=True))
    #: Producers of the services use Kafka's idempotence (a retried send is never written twice).
    #: Only the opt-in Tansu broker, which cannot grant producer ids, turns it off (tansu_broker.py).
    producer_idempotence: bool = field(default_factory=lambda: _flag("REFERRAL_BUS_PRODUCER_IDEMPOTENCE", True))
    #: Where each service serves Prometheus /metrics: ``REFERRAL_BUS_<SERVICE>_METRICS_ADDR``
    #: (HOST:PORT) when set, else 127.0.0.1 at ``REFERRAL_BUS_METRICS_PORT`` plus the service's
    #: offset (router +0, sla +1, projector +2); a service with neither serves no endpoint.
    metrics_addresses: dict[str, tuple[str, int]] = field(default_factory=_metrics_addresses)
    #: Read models (SQLAlchemy URL); the embedded default is SQLite under the data directory.
    database_url: str | None = field(default_factory=lambda: os.environ.get("REFERRAL_BUS_DATABASE_URL") or None)
    data_dir: Path = field(default_factory=lambda: Path(_raw("REFERRAL_BUS_DATA_DIR") or ".referral-bus"))
    #: How this process authenticates to Kafka (REFERRAL_BUS_KAFKA_SECURITY …; infra/kafka/security.py).
    kafka_security: KafkaSecurity = field(default_factory=KafkaSecurity.from_env)
    #: Private signing keys of the agencies this machine speaks for (infra/signing_keys.py);
    #: default ``<data_dir>/signing-keys``.
    signing_key_dir: Path | None = field(default_factory=lambda: Path(os.environ["REFERRAL_BUS_SIGNING_KEY_DIR"])
                                         if os.environ.get("REFERRAL_BUS_SIGNING_KEY_DIR") else None)
    #: The key vault (infra/vault.py, issue 11 item 4): default ``<data_dir>/secrets/vault``; its
    #: ingress public key, which producers seal personal data to: default ``<data_dir>/vault-public-key.pem``.
    vault_dir_setting: Path | None = field(default_factory=lambda: Path(os.environ["REFERRAL_BUS_VAULT_DIR"])
                                           if _raw("REFERRAL_BUS_VAULT_DIR") else None)
    vault_public_key_setting: Path | None = field(
        default_factory=lambda: Path(os.environ["REFERRAL_BUS_VAULT_PUBLIC_KEY_FILE"])
        if _raw("REFERRAL_BUS_VAULT_PUBLIC_KEY_FILE") else None)
    #: Whether the router refuses personal data in clear (PERSONAL_DATA_NOT_SEALED); unset: required
    #: on a secured bus (sasl_ssl), allowed on the plaintext development bus.
    require_sealed_setting: bool | None = field(
        default_factory=lambda: _flag("REFERRAL_BUS_REQUIRE_SEALED_PERSONAL_DATA", False)
        if _raw("REFERRAL_BUS_REQUIRE_SEALED_PERSONAL_DATA") else None)

    def metrics_address(self, service: str) -> tuple[str, int] | None:
        """Where ``service`` (router, sla, projector) serves its metrics; None: no endpoint."""
        return self.metrics_addresses.get(service)

    @staticmethod
    def metrics_setting(service: str) -> str:
        """The setting(s) an operator changes to move ``service``'s metrics endpoint."""
        if os.environ.get(metrics_addr_setting(service), "").strip():
            return metrics_addr_setting(service)
        return (f"{METRICS_BASE_PORT} (+{METRICS_SERVICES[service]} for the {service}) or "
                f"{metrics_addr_setting(service)}")

    def kafka_python(self) -> dict[str, Any]:
        """Connection settings for a kafka-python client: the servers and this process's credentials."""
        return {"bootstrap_servers": self.bootstrap_servers, **self.kafka_security.kafka_python()}

    @property
    def signing_keys(self) -> Path:
        return self.signing_key_dir or self.data_dir / "signing-keys"

    @property
    def vault_dir(self) -> Path:
        return self.vault_dir_setting or self.data_dir / "secrets" / "vault"

    @property
    def vault_public_key_file(self) -> Path:
        return self.vault_public_key_setting or self.data_dir / "vault-public-key.pem"

    @property
    def require_sealed_personal_data(self) -> bool:
        if self.require_sealed_setting is not None:
            return self.require_sealed_setting
        return self.kafka_security.mode == "sasl_ssl"

    @property
    def read_model_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'read-models.db'}"

    @property
    def schemas_dir(self) -> Path:
        return self.root / "schemas" / "avro"

    @property
    def topics_file(self) -> Path:
        return self.root / "topics.yaml"

    @property
    def policy_file(self) -> Path:
        return self.root / "policy.yaml"

    @property
    def calendar_file(self) -> Path:
        return self.root / "calendar.yaml"

    @property
    def agencies_file(self) -> Path:
        return self.root / "agencies.yaml"


#: Where ``referral-bus gateway`` (and ``up``) serves the HTTP gateway by default; apart from the
#: metrics ports (none by default; ``deploy/`` uses 9464) and the broker's 9092/9093.
GATEWAY_DEFAULT_ADDRESS = ("127.0.0.1", 8080)


@dataclass(frozen=True)
class GatewaySettings:
    """The HTTP gateway's own settings (docs/gateway.md), checked like every other setting."""

    #: REFERRAL_BUS_GATEWAY_ADDR: HOST:PORT or a port (127.0.0.1).
    address: tuple[str, int]
    #: REFERRAL_BUS_GATEWAY_KAFKA_CA_FILE: the brokers' CA. Set: the bus is secured and every caller
    #: is checked by a SCRAM handshake with its own credentials over TLS. Unset: a plaintext bus,
    #: where the caller's name is a claim nobody checks.
    kafka_ca_file: Path | None
    #: REFERRAL_BUS_GATEWAY_TLS_CERT (PEM: certificate chain, and the key unless _TLS_KEY is given).
    tls_cert: Path | None
    tls_key: Path | None
    #: REFERRAL_BUS_GATEWAY_SIGNING_KEY_DIR: agencies' private signing keys the operator has given
    #: the gateway custody of; unset, submissions must arrive signed.
    signing_key_dir: Path | None
    #: REFERRAL_BUS_GATEWAY_RECEIPT_WAIT: how long a submission waits for its receipt before 202.
    receipt_wait_seconds: float

    @property
    def secured(self) -> bool:
        return self.kafka_ca_file is not None


def _existing_file(name: str) -> Path | None:
    value = _raw(name)
    if value is None:
        return None
    path = Path(value).expanduser()
    if not path.is_file():
        raise SettingError(name, "a readable file", value)
    return path


def gateway_settings() -> GatewaySettings:
    """The gateway's settings from the environment; ``SettingError`` names the first bad one. A
    secured bus needs TLS on the gateway too (callers send their Kafka passwords)."""
    key_dir = _raw("REFERRAL_BUS_GATEWAY_SIGNING_KEY_DIR")
    settings = GatewaySettings(
        address=_address("REFERRAL_BUS_GATEWAY_ADDR") or GATEWAY_DEFAULT_ADDRESS,
        kafka_ca_file=_existing_file("REFERRAL_BUS_GATEWAY_KAFKA_CA_FILE"),
        tls_cert=_existing_file("REFERRAL_BUS_GATEWAY_TLS_CERT"),
        tls_key=_existing_file("REFERRAL_BUS_GATEWAY_TLS_KEY"),
        signing_key_dir=Path(key_dir).expanduser() if key_dir else None,
        receipt_wait_seconds=_seconds("REFERRAL_BUS_GATEWAY_RECEIPT_WAIT", 15, zero_allowed=True))
    if settings.secured and settings.tls_cert is None:
        raise SettingError("REFERRAL_BUS_GATEWAY_TLS_CERT", "a PEM certificate file (REFERRAL_BUS_GATEWAY_KAFKA_CA_"
                           "FILE is set: callers send their Kafka passwords, which never travel without TLS)", "")
    return settings
