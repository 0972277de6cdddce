"""State snapshots of the stream processors, so a restart folds only what the log gained since
(issue 13 item 1).

A snapshot is the service's in-memory state together with the log positions it was folded to; the
service validates those positions against the log before trusting it, then reads on from them.
Anything wrong — no file, another code version, a digest or HMAC that does not match, a log that no
longer holds what was folded — means a full rebuild from the beginning, which is always correct:
a snapshot only saves time, it is never the source of truth.

Files live in ``<data_dir>/state/``, written atomically (temporary file, fsync, rename). Each
running process takes a slot of its own (``router-0``, ``router-1`` …) by an exclusive lock on
the slot's lock file, so two processes of one service on one machine never write the same file and
a restarted process takes the lowest free slot again. The body is a pickle, so it is loaded only
after its HMAC-SHA256 matches a key kept beside it (``state/snapshot.key``, mode 0600): a file
planted or altered by anyone without that key is refused, not unpickled. The key protects the
integrity of the file, not secrecy: what the state holds is the case state of the protocol (ids,
flags, sequence numbers, chain hashes) and sealed copies — never personal data in clear.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import hmac
import os
import pickle
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

import structlog

import referral_bus

log = structlog.get_logger(__name__)
State = TypeVar("State")
_MAGIC = b"RBSNAP1\n"
_KEY_BYTES = 32
_DIGEST = hashlib.sha256().digest_size
#: At most this share of a service's time goes to taking snapshots (it waits meanwhile): one that
#: took 3 s is followed by the next no sooner than 27 s later, whatever the configured interval.
PAUSE_SHARE = 0.1


def code_version() -> str:
    """A digest of the package's Python sources: a snapshot written by other code is not loaded
    (its classes or folds may differ), so an upgrade costs one full rebuild, never a wrong state."""
    root = Path(referral_bus.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class Loaded:
    """A snapshot read back: the state as saved, and its file."""

    state: Any
    path: Path


class SnapshotStore:
    """The snapshot slot of one process of ``service`` under ``<data_dir>/state``."""

    def __init__(self, data_dir: Path, service: str, configuration: bytes = b"") -> None:
        """``configuration``: the configuration the state was folded under (the directory, the
        calendar, the rules …), as bytes; a snapshot folded under another one is not loaded."""
        self.dir = data_dir / "state"
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.service = service
        self._version = f"{code_version()}-{hashlib.sha256(configuration).hexdigest()}"
        self._key = self._read_key()
        self._lock: IO[bytes] | None = None
        #: monotonic time before which no snapshot is taken (``save_when_due``)
        self.next_due = 0.0
        self.slot = self._take_slot()
        self.path = self.dir / f"{service}-{self.slot}.snapshot"

    def _read_key(self) -> bytes:
        """The key, made on first use. Services starting together share a data directory: the key
        is written to a file of this process's own and linked into place, so another process
        finds either no key or a whole one, and the first link wins."""
        path = self.dir / "snapshot.key"
        if not path.exists():
            own = self.dir / f"snapshot.key.{os.getpid()}.{secrets.token_hex(4)}"
            fd = os.open(own, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(secrets.token_bytes(_KEY_BYTES))
                out.flush()
                os.fsync(out.fileno())
            try:
                os.link(own, path)
            except FileExistsError:
                pass   # another process linked its key first: use that one
            finally:
                own.unlink()
        key = path.read_bytes()
        if len(key) != _KEY_BYTES:
            raise SystemExit(f"{path}: not a snapshot key ({len(key)} bytes); delete it and the "
                             "snapshots beside it to start again")
        return key

    def _take_slot(self) -> int:
        slot = 0
        while True:
            handle = open(self.dir / f"{self.service}-{slot}.lock", "ab")  # noqa: SIM115 - held for the process
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                slot += 1
                continue
            self._lock = handle
            return slot

    def close(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def save(self, state: Any) -> int:
        """Write ``state`` atomically; returns the file's size in bytes."""
        body = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
        header = _MAGIC + self._version.encode() + b"\n"
        mac = hmac.new(self._key, header + body, hashlib.sha256).digest()
        temporary = self.path.with_suffix(".tmp")
        with open(temporary, "wb") as out:
            out.write(header)
            out.write(mac)
            out.write(body)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, self.path)
        directory = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        return len(header) + len(mac) + len(body)

    def load(self) -> Loaded | None:
        """This slot's snapshot, or ``None`` (logged with the reason) when there is none or it may
        not be used."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        header_end = data.find(b"\n", len(_MAGIC)) + 1
        header, mac, body = data[:header_end], data[header_end:header_end + _DIGEST], data[header_end + _DIGEST:]
        if not header.startswith(_MAGIC) or header_end == 0:
            return self._refused("not a snapshot file")
        if header[len(_MAGIC):-1].decode(errors="replace") != self._version:
            return self._refused("written by another version of the code or under another configuration")
        if not hmac.compare_digest(mac, hmac.new(self._key, header + body, hashlib.sha256).digest()):
            return self._refused("its HMAC does not match (altered, or written with another key)")
        try:
            state = pickle.loads(body)  # noqa: S301 - authenticated by the HMAC above
        except Exception as exc:  # noqa: BLE001 - any failure means: rebuild from the log
            return self._refused(f"does not load ({type(exc).__name__})")
        return Loaded(state, self.path)

    def _refused(self, why: str) -> Loaded | None:
        log.warning("snapshot.not_used", service=self.service, file=str(self.path), reason=why,
                    then="a full rebuild from the log")
        return None


async def save_when_due(store: SnapshotStore, between_batches: asyncio.Lock,
                        take: Callable[[], Awaitable[None]]) -> None:
    """A service's snapshot timer: ``take`` a snapshot while holding the lock its batches hold (so
    never in the middle of one). The service waits while it is taken, so the next one is not due
    before PAUSE_SHARE allows: with a large state the snapshots space out instead of taking over.
    A failure is logged and the next turn tries again: a snapshot only saves time, the service goes
    on without it."""
    if time.monotonic() < store.next_due:
        return
    async with between_batches:
        started = time.monotonic()
        try:
            await take()
        except Exception as exc:  # noqa: BLE001 - see above
            log.warning("snapshot.failed", service=store.service, error=type(exc).__name__,
                        detail=str(exc)[:200])
        finally:
            took = time.monotonic() - started
            store.next_due = time.monotonic() + took * (1 - PAUSE_SHARE) / PAUSE_SHARE


async def restore(store: SnapshotStore | None, kind: type[State],
                  holds: Callable[[State], Awaitable[bool]]) -> tuple[State, Path] | None:
    """The snapshot of ``store`` (its state and file) when there is one, of the ``kind`` expected,
    and the log ``holds`` what it was folded from; else ``None``: rebuild from the beginning."""
    loaded = store.load() if store is not None else None
    if loaded is None or not isinstance(loaded.state, kind) or not await holds(loaded.state):
        return None
    return loaded.state, loaded.path
