"""How every Kafka client of the code base authenticates: one description of the credentials
(``KafkaSecurity``, from the environment) turned into each client library's own settings.

Two modes. ``plaintext`` — no authentication, for the one-node development broker on 127.0.0.1
and the test suite's own broker. ``sasl_ssl`` — TLS on the connection (the broker's certificate
checked against a CA file) and SASL/SCRAM-SHA-512 with a principal's name and password; the broker
then enforces the ACLs generated from agencies.yaml and topics.yaml (``infra/kafka/acls.py``).
Passwords are read from a file (``REFERRAL_BUS_KAFKA_PASSWORD_FILE``, mode 0600) rather than the
environment where possible, and never logged (docs/security.md).
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Mode = Literal["plaintext", "sasl_ssl"]
MECHANISM = "SCRAM-SHA-512"


class SecuritySettingsError(ValueError):
    """The Kafka security settings are incomplete or contradictory (the message names the variable)."""


@dataclass(frozen=True)
class KafkaSecurity:
    mode: Mode = "plaintext"
    username: str | None = None
    password: str | None = None
    #: PEM file with the CA that signed the brokers' certificates.
    ca_file: Path | None = None

    def __post_init__(self) -> None:
        if self.mode not in ("plaintext", "sasl_ssl"):
            raise SecuritySettingsError(
                f"REFERRAL_BUS_KAFKA_SECURITY must be 'plaintext' or 'sasl_ssl', got {self.mode!r}")
        if self.mode == "sasl_ssl":
            missing = [name for name, value in (("REFERRAL_BUS_KAFKA_USERNAME", self.username),
                                                ("REFERRAL_BUS_KAFKA_PASSWORD_FILE (or _PASSWORD)", self.password),
                                                ("REFERRAL_BUS_KAFKA_CA_FILE", self.ca_file)) if not value]
            if missing:
                raise SecuritySettingsError(f"REFERRAL_BUS_KAFKA_SECURITY=sasl_ssl needs {', '.join(missing)}")
            assert self.ca_file is not None
            if not self.ca_file.is_file():
                raise SecuritySettingsError(f"REFERRAL_BUS_KAFKA_CA_FILE={str(self.ca_file)!r} is not a file")

    def __repr__(self) -> str:  # never print the password
        return f"KafkaSecurity(mode={self.mode!r}, username={self.username!r}, ca_file={self.ca_file!r})"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> KafkaSecurity:
        env = dict(os.environ) if env is None else env
        mode = env.get("REFERRAL_BUS_KAFKA_SECURITY", "plaintext").strip().lower() or "plaintext"
        password = env.get("REFERRAL_BUS_KAFKA_PASSWORD") or None
        password_file = env.get("REFERRAL_BUS_KAFKA_PASSWORD_FILE")
        if password_file:
            try:
                password = Path(password_file).read_text().strip()
            except OSError as exc:
                raise SecuritySettingsError(
                    f"REFERRAL_BUS_KAFKA_PASSWORD_FILE={password_file!r} cannot be read: {exc.strerror}") from None
        ca = env.get("REFERRAL_BUS_KAFKA_CA_FILE")
        return cls(mode=mode, username=env.get("REFERRAL_BUS_KAFKA_USERNAME") or None,  # type: ignore[arg-type]
                   password=password, ca_file=Path(ca) if ca else None)

    @classmethod
    def for_principal(cls, credentials: Credentials) -> KafkaSecurity:
        return cls("sasl_ssl", credentials.username, credentials.password, credentials.ca_file)

    def as_env(self, password_file: Path | None = None) -> dict[str, str]:
        """The environment that gives a child process these credentials (the password by file
        when one is given)."""
        if self.mode == "plaintext":
            return {"REFERRAL_BUS_KAFKA_SECURITY": "plaintext"}
        env = {"REFERRAL_BUS_KAFKA_SECURITY": "sasl_ssl", "REFERRAL_BUS_KAFKA_USERNAME": self.username or "",
               "REFERRAL_BUS_KAFKA_CA_FILE": str(self.ca_file)}
        if password_file is not None:
            env["REFERRAL_BUS_KAFKA_PASSWORD_FILE"] = str(password_file)
        else:
            env["REFERRAL_BUS_KAFKA_PASSWORD"] = self.password or ""
        return env

    # -- per client library -----------------------------------------------------------------
    def ssl_context(self) -> ssl.SSLContext | None:
        if self.mode == "plaintext":
            return None
        context = ssl.create_default_context(cafile=str(self.ca_file))
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    def kafka_python(self) -> dict[str, Any]:
        """Settings for kafka-python's producer, consumer and admin client (SDK, CLI, tools)."""
        if self.mode == "plaintext":
            return {}
        return {"security_protocol": "SASL_SSL", "sasl_mechanism": MECHANISM,
                "sasl_plain_username": self.username, "sasl_plain_password": self.password,
                "ssl_context": self.ssl_context()}

    def aiokafka(self) -> dict[str, Any]:
        """Settings for aiokafka's producer and consumer (the log reader, the acked publisher):
        aiokafka takes the same keys as kafka-python."""
        return self.kafka_python()

    def faust(self) -> Any:
        """``broker_credentials`` for a Faust app, or None."""
        if self.mode == "plaintext":
            return None
        import faust
        return faust.SASLCredentials(username=self.username, password=self.password,
                                     ssl_context=self.ssl_context(), mechanism=MECHANISM)


@dataclass(frozen=True)
class Credentials:
    """One principal's SCRAM credentials as handed to its operator."""

    username: str
    password: str
    ca_file: Path
