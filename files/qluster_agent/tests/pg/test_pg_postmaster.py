"""The postmaster tracker with a stand-in process (sleep) instead of a server."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from qluster_agent.pg.datadir import postmaster_pid
from qluster_agent.pg.postmaster import PostmasterTracker, ProcessIdentity


def default_sigquit() -> None:
    """A shell without job control starts background commands with SIGQUIT ignored, and the
    stand-in would inherit that (a real postmaster handles SIGQUIT itself): the test run in the
    background (`.ci/run &`) failed here."""
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


def test_remembers_a_postmaster_whose_pid_file_vanished_and_quits_it(tmp_path: Path) -> None:
    stand_in = subprocess.Popen(["sleep", "60"], cwd=tmp_path, preexec_fn=default_sigquit)
    try:
        (tmp_path / "postmaster.pid").write_text(f"{stand_in.pid}\n{tmp_path}\n")
        tracker = PostmasterTracker(tmp_path)
        assert tracker.current_pid() == stand_in.pid

        (tmp_path / "postmaster.pid").unlink()  # PGDATA deleted under the running server
        assert tracker.current_pid() == stand_in.pid

        assert tracker.quit_orphan(timeout_s=10)
        # Unreaped, the stand-in is a zombie now: that counts as gone.
        assert tracker.current_pid() is None
    finally:
        stand_in.kill()
        stand_in.wait()


def test_a_zombie_is_not_a_running_server(tmp_path: Path) -> None:
    child = subprocess.Popen(["true"], cwd=tmp_path)
    identity = ProcessIdentity.of(child.pid)
    (tmp_path / "postmaster.pid").write_text(f"{child.pid}\n")
    try:
        deadline = time.monotonic() + 5
        while ProcessIdentity.of(child.pid) is not None:  # until `true` has exited
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert postmaster_pid(tmp_path) is None  # exited, not yet reaped
        assert identity is None or not identity.alive()
    finally:
        child.wait()


def test_nothing_remembered_means_nothing_to_quit(tmp_path: Path) -> None:
    tracker = PostmasterTracker(tmp_path)
    assert tracker.current_pid() is None
    assert tracker.quit_orphan()


def test_wait_gone_waits_for_the_remembered_process(tmp_path: Path) -> None:
    stand_in = subprocess.Popen(["sleep", "0.3"], cwd=tmp_path)
    try:
        (tmp_path / "postmaster.pid").write_text(f"{stand_in.pid}\n")
        tracker = PostmasterTracker(tmp_path)
        assert tracker.current_pid() == stand_in.pid
        (tmp_path / "postmaster.pid").unlink()  # what pg_ctl stop waits for; the process still exits
        assert tracker.wait_gone(timeout_s=10)
        assert tracker.current_pid() is None
    finally:
        stand_in.wait()


def test_wait_gone_gives_up_after_its_deadline(tmp_path: Path) -> None:
    stand_in = subprocess.Popen(["sleep", "60"], cwd=tmp_path)
    try:
        (tmp_path / "postmaster.pid").write_text(f"{stand_in.pid}\n")
        tracker = PostmasterTracker(tmp_path)
        tracker.current_pid()
        assert not tracker.wait_gone(timeout_s=0.2)
    finally:
        stand_in.kill()
        stand_in.wait()
