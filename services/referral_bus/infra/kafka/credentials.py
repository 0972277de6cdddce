"""The principals' SCRAM credentials: issued (a random password, stored on the broker only as a
salted PBKDF2 hash), handed to the principal's operator as a file, and revoked.

The operator's copies live in a secrets directory outside the repository (by default
``<data dir>/secrets``), one ``<principal>.password`` file each, mode 0600. An agency's
system reads its file through ``REFERRAL_BUS_KAFKA_PASSWORD_FILE`` (docs/security.md).
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from kafka import KafkaAdminClient
from kafka.admin import UserScramCredentialDeletion, UserScramCredentialUpsertion

from referral_bus.infra.kafka.security import MECHANISM, Credentials

#: principal names: agency ids and service names (letters, digits, '-', '.'), as ACLs name them
PRINCIPAL = re.compile(r"^[a-z0-9][a-z0-9.-]{0,99}$")
#: PBKDF2 iterations of the stored SCRAM hash (Kafka's minimum is 4096)
ITERATIONS = 8192


class CredentialError(ValueError):
    """A principal name is malformed, or the broker refused to change a credential."""


def _check(name: str) -> str:
    if not PRINCIPAL.match(name):
        raise CredentialError(f"principal {name!r}: use lower-case letters, digits, '-' and '.' (at most 100)")
    return name


@dataclass(frozen=True)
class CredentialStore:
    """``directory/<principal>.password`` files, and the CA file clients check the brokers with."""

    directory: Path
    ca_file: Path

    def password_file(self, name: str) -> Path:
        return self.directory / f"{_check(name)}.password"

    def load(self, name: str) -> Credentials:
        path = self.password_file(name)
        if not path.is_file():
            raise CredentialError(f"no credentials for {name!r} in {self.directory} (issue them first)")
        return Credentials(name, path.read_text().strip(), self.ca_file)

    def ensure(self, name: str) -> Credentials:
        """The stored credentials of ``name``, made (random, 256 bits) when there are none yet."""
        path = self.password_file(name)
        if not path.is_file():
            self.directory.mkdir(parents=True, exist_ok=True)
            os.chmod(self.directory, 0o700)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(32) + "\n")
        return self.load(name)

    def forget(self, name: str) -> None:
        self.password_file(name).unlink(missing_ok=True)


def issue(admin: KafkaAdminClient, store: CredentialStore, names: list[str], *, rotate: bool = False) -> None:
    """Make (or, with ``rotate``, replace) each principal's password and register its SCRAM hash
    with the brokers; the old password stops working at once on rotation."""
    if rotate:
        for name in names:
            store.forget(name)
    creds = [store.ensure(name) for name in names]
    result = admin.alter_user_scram_credentials([
        UserScramCredentialUpsertion(c.username, MECHANISM, c.password, iterations=ITERATIONS) for c in creds])
    failed = {user: error for user, error in result.items() if error}
    if failed:
        raise CredentialError(f"the broker refused credentials for {sorted(failed)}: {failed}")


def wait_until_usable(servers: list[str], credentials: Credentials, timeout: float = 60.0) -> None:
    """Until every broker in ``servers`` accepts ``credentials``. Brokers apply a new SCRAM
    credential from the metadata log a moment after the Admin API answered; a service started in
    between is refused ("invalid credentials"). Credentials issued in one call land together, so
    waiting for the last of them is waiting for all."""
    import time

    from kafka.errors import KafkaError

    from referral_bus.infra.kafka.security import KafkaSecurity
    security = KafkaSecurity.for_principal(credentials)
    deadline = time.monotonic() + timeout
    for server in servers:
        while True:
            try:
                KafkaAdminClient(bootstrap_servers=server, request_timeout_ms=3000, **security.kafka_python()).close()
                break
            except KafkaError:
                if time.monotonic() > deadline:
                    raise CredentialError(f"{server} still refuses {credentials.username!r} "
                                          f"after {timeout:.0f}s") from None
                time.sleep(0.5)


def revoke(admin: KafkaAdminClient, store: CredentialStore, names: list[str]) -> None:
    """Delete the principals' SCRAM credentials on the brokers: new connections are refused at
    once (open connections end at their next re-authentication or reconnect; docs/security.md)."""
    result = admin.alter_user_scram_credentials([UserScramCredentialDeletion(_check(n), MECHANISM) for n in names])
    failed = {user: error for user, error in result.items() if error and "not found" not in error.lower()}
    if failed:
        raise CredentialError(f"the broker refused to revoke {sorted(failed)}: {failed}")
    for name in names:
        store.forget(name)
