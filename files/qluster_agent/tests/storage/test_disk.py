"""DiskStorage: round trips, tail overwrite, compaction, snapshot install, crash at any point."""
from __future__ import annotations

import os
import random
import shutil

import pytest

from qluster_agent.raft.types import ConfState, Entry, EntryType, HardState, Snapshot
from qluster_agent.storage import DiskStorage, MemoryStorage, StorageError

CONF = ConfState(frozenset({1, 2, 3}))


def entries(first: int, last: int, term: int, tag: str = "e") -> list:
    return [Entry(term, i, EntryType.NORMAL, f"{tag}{i}".encode()) for i in range(first, last + 1)]


def reopen(path) -> DiskStorage:
    storage = DiskStorage(str(path))
    storage.load()
    return storage


def test_empty_directory_loads_empty_state(tmp_path):
    assert DiskStorage(str(tmp_path / "raft")).load() == (HardState(), None, [])


def test_round_trip(tmp_path):
    s = reopen(tmp_path)
    s.save(None, [], Snapshot(1, 1, CONF), True)
    s.save(HardState(3, 2, 4), entries(2, 5, 3), None, True)
    s.close()
    assert DiskStorage(str(tmp_path)).load() == (HardState(3, 2, 4), Snapshot(1, 1, CONF), entries(2, 5, 3))


def test_a_later_record_overwrites_the_uncommitted_tail(tmp_path):
    s = reopen(tmp_path)
    s.save(HardState(2, 1, 2), entries(1, 6, 2, "old"), None, True)
    s.save(HardState(3, 0, 2), entries(4, 5, 3, "new"), None, True)
    _unused, _unused, ents = DiskStorage(str(tmp_path)).load()
    assert ents == entries(1, 3, 2, "old") + entries(4, 5, 3, "new")


def test_compaction_keeps_the_suffix_and_deletes_covered_segments(tmp_path):
    s = DiskStorage(str(tmp_path), segment_bytes=200)
    s.load()
    for first in range(1, 200, 10):
        s.save(HardState(1, 1, first + 9), entries(first, first + 9, 1), None, True)
    before = len([n for n in os.listdir(tmp_path) if n.endswith(".seg")])
    s.save(None, [], Snapshot(190, 1, CONF, b"state"), True)
    after = len([n for n in os.listdir(tmp_path) if n.endswith(".seg")])
    assert after < before and after <= 2  # bounded: only segments holding entries > 190 remain
    hs, snap, ents = DiskStorage(str(tmp_path)).load()
    assert snap == Snapshot(190, 1, CONF, b"state")
    assert ents == entries(191, 200, 1)


def test_a_leaders_snapshot_replaces_a_divergent_log(tmp_path):
    s = reopen(tmp_path)
    s.save(HardState(2, 1, 3), entries(1, 8, 2), None, True)
    s.save(HardState(5, 0, 10), [], Snapshot(10, 4, CONF, b"leader"), True)  # we never had 10/4
    s.save(None, entries(11, 12, 5), None, True)
    hs, snap, ents = DiskStorage(str(tmp_path)).load()
    assert (snap.index, ents) == (10, entries(11, 12, 5))
    assert not any(n.startswith("log-00000000") for n in os.listdir(tmp_path))  # old epoch gone


def test_stale_epoch_segments_are_ignored_if_the_crash_came_before_their_deletion(tmp_path):
    s = reopen(tmp_path)
    s.save(HardState(2, 1, 3), entries(1, 8, 2), None, True)
    keep = {n: open(os.path.join(tmp_path, n), "rb").read() for n in os.listdir(tmp_path) if n.endswith(".seg")}
    s.save(HardState(5, 0, 10), [], Snapshot(10, 4, CONF), True)
    for name, data in keep.items():  # as if we crashed right after renaming the snapshot in
        with open(os.path.join(tmp_path, name), "wb") as f:
            f.write(data)
    _unused, snap, ents = DiskStorage(str(tmp_path)).load()
    assert snap.index == 10 and ents == []


def test_corrupt_hard_state_is_an_error_not_a_silent_reset(tmp_path):
    s = reopen(tmp_path)
    s.save(HardState(3, 2, 0), [], None, True)
    with open(os.path.join(tmp_path, "hardstate"), "r+b") as f:
        f.seek(10)
        f.write(b"\xff")
    with pytest.raises(StorageError, match="hardstate"):
        DiskStorage(str(tmp_path)).load()


def _segment(path) -> str:
    names = sorted(n for n in os.listdir(path) if n.endswith(".seg"))
    assert len(names) == 1
    return os.path.join(path, names[0])


def test_crash_at_every_byte_offset_keeps_every_synced_entry(tmp_path):
    """Truncate the log at each offset (a write cut short) and leave a half-written temp file."""
    src = tmp_path / "src"
    s = reopen(src)
    synced_upto = []  # (file size after the save, entries guaranteed durable)
    all_entries: list = []
    rng = random.Random(7)
    index = 0
    for batch in range(12):
        n = rng.randint(1, 3)
        new = entries(index + 1, index + n, 1, "x" * rng.randint(0, 6))
        index += n
        all_entries += new
        sync = batch % 3 != 1
        s.save(HardState(1, 1, 0), new, None, sync)
        if sync:
            synced_upto.append((os.path.getsize(_segment(src)), index))
    s.close()
    seg_name = os.path.basename(_segment(src))
    full = open(_segment(src), "rb").read()
    hard = open(os.path.join(src, "hardstate"), "rb").read()
    dst = tmp_path / "crashed"
    for cut in range(len(full) + 1):
        shutil.rmtree(dst, ignore_errors=True)
        os.makedirs(dst)
        (dst / "hardstate").write_bytes(hard)
        (dst / seg_name).write_bytes(full[:cut])
        (dst / "hardstate.tmp").write_bytes(b"half-written")
        storage = DiskStorage(str(dst))
        hs, _unused, ents = storage.load()
        assert ents == all_entries[:len(ents)], f"cut at {cut}: not a prefix"
        durable = max([upto for size, upto in synced_upto if size <= cut], default=0)
        assert len(ents) >= durable, f"cut at {cut}: lost synced entries"
        assert not (dst / "hardstate.tmp").exists()
        assert hs == HardState(1, 1, 0)
        # the torn tail was cut away: appending continues cleanly
        storage.save(None, entries(len(ents) + 1, len(ents) + 1, 2, "after"), None, False)
        storage.close()
        _unused, _unused, again = DiskStorage(str(dst)).load()
        assert again == ents + entries(len(ents) + 1, len(ents) + 1, 2, "after")


def test_disk_and_memory_storage_agree_on_random_histories(tmp_path):
    rng = random.Random(99)
    for run in range(10):
        disk = DiskStorage(str(tmp_path / f"r{run}"), segment_bytes=rng.choice([64, 4096]))
        disk.load()
        mem = MemoryStorage()
        last, term, snap_index = 0, 1, 0
        for _unused in range(40):
            roll = rng.random()
            if roll < 0.6:
                first = rng.randint(max(snap_index + 1, last - 3), last + 1)
                term += rng.random() < 0.3
                new = entries(first, first + rng.randint(0, 4), term)
                last = new[-1].index
                batch = (HardState(term, 1, 0), new, None)
            elif roll < 0.8 and last > snap_index:
                snap_index = rng.randint(snap_index + 1, last)
                _unused, _unused, ents = mem.load()
                snap_term = next(e.term for e in ents if e.index == snap_index)
                batch = (None, [], Snapshot(snap_index, snap_term, CONF, b"s"))
            elif roll < 0.9:
                snap_index = last = last + rng.randint(1, 5)
                term += 1
                batch = (HardState(term, 0, last), [], Snapshot(last, term, CONF, b"leader"))
            else:
                batch = (HardState(term, 2, 0), [], None)
            disk.save(*batch, sync=True)
            mem.save(*batch, sync=True)
        disk.close()
        assert DiskStorage(str(tmp_path / f"r{run}")).load() == mem.load()


def test_memory_storage_forgets_unsynced_writes_on_crash():
    mem = MemoryStorage()
    mem.save(HardState(1, 1, 0), entries(1, 2, 1), None, True)
    mem.save(HardState(2, 0, 0), entries(3, 3, 2), None, False)
    mem.crash()
    assert mem.load() == (HardState(1, 1, 0), None, entries(1, 2, 1))
