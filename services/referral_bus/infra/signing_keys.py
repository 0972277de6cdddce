"""Where signing keys live: private keys on the agency's own machine, public keys on the bus.

- ``SigningKeyStore``: the private Ed25519 keys of the agencies a machine speaks for, one PEM file
  per key (``<dir>/<agency id>/<key fingerprint>.pem``, mode 0600, directories 0700) and a
  ``current`` file naming the one to sign with. Never in the repository; by default under the data
  directory (``REFERRAL_BUS_SIGNING_KEY_DIR`` moves it, e.g. onto an HSM-backed mount).
- The signing-keys topic (``rb.signing-keys``): the public half, enrolled and revoked by the bus
  administrator; ``load_key_directory`` folds it into a ``domain.signatures.KeyDirectory``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from referral_bus.contracts.bus_records import SigningKeyEnrolled, SigningKeyRevoked
from referral_bus.domain.signatures import KeyDirectory, key_id_for
from referral_bus.infra.runtime import Runtime


class SigningKeyError(Exception):
    """No usable key, or a key file that is not one; the message says what to do."""


@dataclass
class SigningKeyStore:
    directory: Path
    #: agency id → (mtime of its ``current`` file, key id, key): re-read when an operator rotates
    _cache: dict[str, tuple[int, str, Ed25519PrivateKey]] = field(default_factory=dict, repr=False)

    def generate(self, agency_id: str, *, make_current: bool = True) -> tuple[str, bytes]:
        """A new key pair for ``agency_id``, stored (and made current); (key id, raw public key)."""
        private = Ed25519PrivateKey.generate()
        public = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        key_id = key_id_for(agency_id, public)
        folder = self.directory / agency_id
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.directory, 0o700)
        os.chmod(folder, 0o700)
        pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        path = folder / f"{key_id.split(':', 1)[1]}.pem"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        if make_current:
            self.make_current(agency_id, key_id)
        return key_id, public

    def make_current(self, agency_id: str, key_id: str) -> None:
        """Sign with ``key_id`` from now on (the SDK notices without a restart)."""
        current = self.directory / agency_id / "current.tmp"
        current.write_text(key_id + "\n")
        current.replace(self.directory / agency_id / "current")  # atomic: a signer never sees half a file

    def current(self, agency_id: str) -> tuple[str, Ed25519PrivateKey]:
        """The key ``agency_id`` signs with now; ``SigningKeyError`` when it has none."""
        pointer = self.directory / agency_id / "current"
        try:
            mtime = pointer.stat().st_mtime_ns
        except FileNotFoundError:
            raise SigningKeyError(f"no signing key for {agency_id} in {self.directory}: the bus administrator "
                                  f"enrols one with `referral-bus keys enrol {agency_id} --key-dir DIR` "
                                  "(docs/security.md)") from None
        cached = self._cache.get(agency_id)
        if cached is not None and cached[0] == mtime:
            return cached[1], cached[2]
        key_id = pointer.read_text().strip()
        path = self.directory / agency_id / f"{key_id.split(':', 1)[-1]}.pem"
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError) as exc:
            raise SigningKeyError(f"the signing key file {path} cannot be read ({type(exc).__name__})") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise SigningKeyError(f"{path} is not an Ed25519 private key")
        self._cache[agency_id] = (mtime, key_id, key)
        return key_id, key


#: How long ``keys rotate`` waits between enrolling the new key and signing with it: running routers
#: learn new keys within router/app.py's KEYS_EVERY (0.2 s); this leaves a wide margin.
ROUTERS_LEARN = 2.0


def enrolment(agency_id: str, key_id: str, public_key: bytes, by: str) -> SigningKeyEnrolled:
    return SigningKeyEnrolled(key_id=key_id, agency_id=agency_id, public_key=public_key,
                              enrolled_at=datetime.now(UTC), enrolled_by=by)


def revocation(directory: KeyDirectory, key_id: str, reason: str, by: str,
               grace: timedelta = timedelta(0)) -> SigningKeyRevoked:
    """Revoke ``key_id`` from now (+ ``grace``, for a rotation: submissions already signed with
    the old key and on their way are still accepted)."""
    key = directory.keys.get(key_id)
    if key is None:
        raise SigningKeyError(f"key {key_id!r} is not enrolled (see `referral-bus keys list`)")
    return SigningKeyRevoked(key_id=key_id, agency_id=key.agency_id, revoked_at=datetime.now(UTC) + grace,
                             reason=reason, revoked_by=by)


def fold_records(records: Sequence[object], directory: KeyDirectory | None = None) -> KeyDirectory:
    directory = directory or KeyDirectory()
    for record in records:
        if isinstance(record, SigningKeyEnrolled | SigningKeyRevoked):
            directory.fold(record)
    return directory


def load_key_directory(runtime: Runtime) -> KeyDirectory:
    """The whole signing-key directory as the topic holds it now (blocking; for tools)."""
    from referral_bus.infra.kafka.log_reader import read_to_end_sync
    records = read_to_end_sync(runtime.settings, [runtime.catalogue.name("signing_keys")])
    return fold_records([runtime.codec.decode(r.value) for r in records])


def publish_key_records(runtime: Runtime, records: Sequence[SigningKeyEnrolled | SigningKeyRevoked]) -> None:
    """Append enrolments/revocations to the signing-keys topic and wait until the brokers have them."""
    from kafka import KafkaProducer
    topic = runtime.catalogue.name("signing_keys")
    producer = KafkaProducer(**runtime.settings.kafka_python(), acks="all", enable_idempotence=True)
    try:
        for record in records:
            producer.send(topic, key=record.agency_id.encode(), value=runtime.codec.encode(record)).get(timeout=30)
    finally:
        producer.close()


def enrol_agencies(runtime: Runtime, store: SigningKeyStore, agencies: list[str], by: str) -> list[str]:
    """Make sure each agency (or ``rb-router``, for its chain checkpoints) signs with a key the bus
    knows (``up`` and the test buses do this for every agency of the directory and the router): a
    new key for one without a key in ``store``, the public half of a stored key the topic lacks
    (a new bus, the same key store) enrolled again, nothing for one already set. Returns the key
    ids enrolled."""
    known = load_key_directory(runtime)
    records = []
    for agency_id in agencies:
        try:
            key_id, private = store.current(agency_id)
        except SigningKeyError:
            key_id, public = store.generate(agency_id)
        else:
            enrolled = known.keys.get(key_id)
            if enrolled is not None and enrolled.revoked_at is None:
                continue
            if enrolled is not None:  # revoked: this machine needs a new one
                key_id, public = store.generate(agency_id)
            else:
                public = private.public_key().public_bytes(serialization.Encoding.Raw,
                                                           serialization.PublicFormat.Raw)
        records.append(enrolment(agency_id, key_id, public, by))
    publish_key_records(runtime, records)
    return [r.key_id for r in records]
