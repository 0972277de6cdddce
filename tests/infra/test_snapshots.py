"""The snapshot files of the stream processors (infra/snapshots.py): what is written is what is read
back, and anything else — another key, another code version, a flipped byte — is refused, never
unpickled."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from referral_bus.infra import snapshots
from referral_bus.infra.snapshots import SnapshotStore


def test_a_saved_state_is_loaded_back(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path, "router")
    state = {"cases": {"C-1": [1, 2, 3]}, "positions": {0: 17}}
    assert store.save(state) > 0
    loaded = store.load()
    assert loaded is not None and loaded.state == state and loaded.path == store.path
    store.close()


def test_no_snapshot_is_none(tmp_path: Path) -> None:
    assert SnapshotStore(tmp_path, "router").load() is None


def test_the_key_is_private_to_the_service(tmp_path: Path) -> None:
    SnapshotStore(tmp_path, "router")
    key = tmp_path / "state" / "snapshot.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and len(key.read_bytes()) == 32


@pytest.mark.parametrize("where", ["header", "body", "last byte"])
def test_an_altered_file_is_refused_not_unpickled(tmp_path: Path, where: str) -> None:
    store = SnapshotStore(tmp_path, "router")
    store.save({"cases": list(range(100))})
    data = bytearray(store.path.read_bytes())
    index = {"header": 2, "body": len(data) // 2, "last byte": len(data) - 1}[where]
    data[index] ^= 0x01
    store.path.write_bytes(bytes(data))
    assert store.load() is None


def test_a_file_written_with_another_key_is_refused(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path, "router")
    store.save({"x": 1})
    planted = store.path.read_bytes()
    store.close()
    (tmp_path / "state" / "snapshot.key").unlink()
    again = SnapshotStore(tmp_path, "router")      # a new key
    again.path.write_bytes(planted)
    assert again.load() is None


def test_a_file_of_another_code_version_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = SnapshotStore(tmp_path, "router")
    before.save({"x": 1})
    before.close()
    monkeypatch.setattr(snapshots, "code_version", lambda: "0" * 64)   # the code was upgraded
    after = SnapshotStore(tmp_path, "router")
    assert after.slot == 0 and after.path.is_file() and after.load() is None
    after.save({"x": 2})
    loaded = after.load()
    assert loaded is not None and loaded.state == {"x": 2}


def test_each_process_takes_its_own_slot_and_a_released_one_is_taken_again(tmp_path: Path) -> None:
    first, second = SnapshotStore(tmp_path, "router"), SnapshotStore(tmp_path, "router")
    assert (first.slot, second.slot) == (0, 1) and first.path != second.path
    first.save({"who": "first"})
    first.close()                                  # as when the process ends, even by kill -9
    third = SnapshotStore(tmp_path, "router")
    loaded = third.load()
    assert third.slot == 0 and loaded is not None and loaded.state == {"who": "first"}
    assert SnapshotStore(tmp_path, "sla").slot == 0   # slots are per service


def test_the_code_version_follows_the_sources() -> None:
    assert snapshots.code_version() == snapshots.code_version() and len(snapshots.code_version()) == 64


def test_a_file_folded_under_another_configuration_is_refused(tmp_path: Path) -> None:
    before = SnapshotStore(tmp_path, "sla", b"calendar: 2026 as first published")
    before.save({"open": 3})
    before.close()
    after = SnapshotStore(tmp_path, "sla", b"calendar: 2026 with a transferred day off")
    assert after.load() is None


def test_restore_takes_a_snapshot_only_of_the_kind_asked_and_only_when_the_log_holds_it(tmp_path: Path) -> None:
    import asyncio

    from referral_bus.infra.snapshots import restore

    store = SnapshotStore(tmp_path, "router")
    store.save({"positions": {0: 5}})

    async def holds(state: dict[str, object]) -> bool:
        return state["positions"] == {0: 5}

    async def lost(state: dict[str, object]) -> bool:
        return False

    assert asyncio.run(restore(store, dict, holds)) == ({"positions": {0: 5}}, store.path)
    assert asyncio.run(restore(store, dict, lost)) is None
    assert asyncio.run(restore(store, list, holds)) is None
    assert asyncio.run(restore(None, dict, holds)) is None


def test_snapshots_space_out_so_they_never_take_more_than_their_share_of_the_time(tmp_path: Path) -> None:
    import asyncio
    import time

    from referral_bus.infra.snapshots import PAUSE_SHARE, save_when_due

    store = SnapshotStore(tmp_path, "router")
    taken: list[float] = []

    async def take() -> None:
        taken.append(time.monotonic())
        await asyncio.sleep(0.05)

    async def broken() -> None:
        raise OSError("disk full")

    async def scenario() -> None:
        lock = asyncio.Lock()
        await save_when_due(store, lock, take)
        await save_when_due(store, lock, take)           # too soon after a 50 ms snapshot: skipped
        assert len(taken) == 1
        assert store.next_due - time.monotonic() >= 0.05 * (1 - PAUSE_SHARE) / PAUSE_SHARE - 0.1
        store.next_due = 0.0
        await save_when_due(store, lock, broken)          # logged, not raised: the service goes on
        assert not lock.locked()

    asyncio.run(scenario())


def test_processes_starting_together_share_one_whole_key(tmp_path: Path) -> None:
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        stores = list(pool.map(lambda _: SnapshotStore(tmp_path, "router"), range(8)))
    keys = {store._key for store in stores}  # noqa: SLF001 - the key is what must agree
    assert len(keys) == 1 and len(next(iter(keys))) == 32
    assert sorted(p.name for p in (tmp_path / "state").glob("snapshot.key*")) == ["snapshot.key"]
