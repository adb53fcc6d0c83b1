"""The handlers that touch the local disk and processes, on a temporary directory."""

import os
import pwd
import subprocess
import threading
from pathlib import Path

import pytest

from qluster_agent.pg.cancel import CancelToken, Cancelled
from qluster_agent.pg.config_files import ConfigFiles
from qluster_agent.pg.datadir import datadir_state, postmaster_pid, remove_stale_pid_file
from qluster_agent.pg.files import FileWriter, remove_contents
from qluster_agent.pg.flavour import QHB
from qluster_agent.pg.process import CommandRunner
from qluster_agent.pg.settings import ManagedSettings, ServerRole
from qluster_agent.pg.status import DataDirState


def test_datadir_states(tmp_path: Path) -> None:
    datadir = tmp_path / "data"
    assert datadir_state(datadir) is DataDirState.EMPTY
    datadir.mkdir()
    (datadir / "lost+found").mkdir()
    assert datadir_state(datadir) is DataDirState.EMPTY
    (datadir / "base").mkdir()
    assert datadir_state(datadir) is DataDirState.INVALID
    (datadir / "PG_VERSION").write_text("15\n")
    (datadir / "global").mkdir()
    (datadir / "global" / "pg_control").write_bytes(b"\0")
    assert datadir_state(datadir) is DataDirState.VALID


def test_remove_contents_keeps_the_directory_and_its_mode(tmp_path: Path) -> None:
    datadir = tmp_path / "data"
    datadir.mkdir(mode=0o700)
    (datadir / "base" / "1").mkdir(parents=True)
    (datadir / "PG_VERSION").write_text("15")
    remove_contents(datadir)
    assert datadir.is_dir() and not any(datadir.iterdir())
    assert datadir.stat().st_mode & 0o777 == 0o700


def test_stale_pid_file_is_not_a_running_server(tmp_path: Path) -> None:
    assert postmaster_pid(tmp_path) is None
    server = subprocess.Popen(["sleep", "60"], cwd=tmp_path)  # a postmaster works in its data directory
    elsewhere = subprocess.Popen(["sleep", "60"], cwd="/")
    try:
        (tmp_path / "postmaster.pid").write_text(f"{server.pid}\n{tmp_path}\n")
        assert postmaster_pid(tmp_path) == server.pid
        # After a restart the pid in a stale file can be any live process: one working elsewhere...
        (tmp_path / "postmaster.pid").write_text(f"{elsewhere.pid}\n{tmp_path}\n")
        assert postmaster_pid(tmp_path) is None
        (tmp_path / "postmaster.pid").write_text("999999999\n")
        assert postmaster_pid(tmp_path) is None
    finally:
        for process in (server, elsewhere):
            process.kill()
            process.wait()


def test_a_thread_of_ours_is_not_a_running_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # ... or a thread of the agent itself, which shares the agent's working directory.
    monkeypatch.chdir(tmp_path)
    started, done = threading.Event(), threading.Event()
    thread_ids = []

    def wait() -> None:
        thread_ids.append(threading.get_native_id())
        started.set()
        done.wait(10)

    thread = threading.Thread(target=wait)
    thread.start()
    try:
        started.wait(10)
        (tmp_path / "postmaster.pid").write_text(f"{thread_ids[0]}\n{tmp_path}\n")
        assert postmaster_pid(tmp_path) is None
        assert remove_stale_pid_file(tmp_path)
        assert not (tmp_path / "postmaster.pid").exists()
    finally:
        done.set()
        thread.join()


def test_only_a_stale_pid_file_is_removed(tmp_path: Path) -> None:
    assert not remove_stale_pid_file(tmp_path)  # none there
    server = subprocess.Popen(["sleep", "60"], cwd=tmp_path)
    try:
        (tmp_path / "postmaster.pid").write_text(f"{server.pid}\n{tmp_path}\n")
        assert not remove_stale_pid_file(tmp_path)
        assert (tmp_path / "postmaster.pid").exists()
    finally:
        server.kill()
        server.wait()
    assert remove_stale_pid_file(tmp_path)
    assert not (tmp_path / "postmaster.pid").exists()


def test_config_files_install_templates_include_and_role(tmp_path: Path) -> None:
    templates, datadir = tmp_path / "templates", tmp_path / "data"
    templates.mkdir()
    datadir.mkdir()
    (templates / "qhb.conf").write_text("listen_addresses = '*'\n")
    (templates / "qhb_hba.conf").write_text("local all all trust\n")
    (datadir / "qhb.conf").write_text("# initdb's default\n")
    files = ConfigFiles(QHB, datadir, FileWriter(), templates)

    files.prepare(ManagedSettings(role=ServerRole.REPLICA, primary_conninfo="host=h"), templates=True)
    assert (datadir / "qhb_hba.conf").read_text() == "local all all trust\n"
    assert (datadir / "qhb.conf").read_text().startswith("listen_addresses = '*'\n")
    assert "include_if_exists = 'qluster.auto.conf'" in (datadir / "qhb.conf").read_text()
    assert "primary_conninfo = 'host=h'" in (datadir / "qluster.auto.conf").read_text()
    assert (datadir / "standby.signal").exists()
    assert (templates / "qhb.conf").read_text() == "listen_addresses = '*'\n"  # never written

    files.prepare(ManagedSettings(role=ServerRole.PRIMARY))
    assert not (datadir / "standby.signal").exists()
    assert not files.write_managed(ManagedSettings(role=ServerRole.PRIMARY))  # unchanged: no reload


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch users")
def test_commands_and_files_belong_to_the_database_user(tmp_path: Path) -> None:
    user = pwd.getpwnam("postgres")
    result = CommandRunner(run_as="postgres").run(["id", "-u"])
    assert result.ok and result.stdout.strip() == str(user.pw_uid)
    FileWriter(owner="postgres").write_text(tmp_path / "f.conf", "x = 1\n")
    assert (tmp_path / "f.conf").stat().st_uid == user.pw_uid


def test_command_failure_and_timeout_are_results() -> None:
    runner = CommandRunner()
    failed = runner.run(["sh", "-c", "echo first >&2; echo 'the reason' >&2; exit 3"])
    assert not failed.ok and failed.describe_failure() == "sh exited with 3: the reason"
    timed_out = runner.run(["sleep", "5"], timeout_s=0.3)
    assert not timed_out.ok and "timed out" in timed_out.stderr


def test_cancelled_command_raises() -> None:
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        CommandRunner().run(["sleep", "5"], cancel=token)
