"""The agent's own include file: the settings that change with the node's role.

The operator's main configuration (qhb.conf / postgresql.conf, rendered from the templates of
seed 000 §6.1 by the Ansible role) is never rewritten. The agent appends one include line to the
copy in the data directory and owns a small file next to it; settings there override the same
names in the main file because the include comes last. ALTER SYSTEM (postgresql.auto.conf) is
read after both, so an operator can still override anything deliberately.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

MANAGED_FILE_NAME = "qluster.auto.conf"
STANDBY_SIGNAL = "standby.signal"
RECOVERY_SIGNAL = "recovery.signal"


class ServerRole(enum.Enum):
    """The role the managed file is written for."""

    PRIMARY = "primary"
    REPLICA = "replica"


def quote_guc(value: str) -> str:
    """A configuration-file string literal: single quotes, embedded quotes doubled."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def render_value(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, int):
        return str(value)
    return quote_guc(value)


@dataclass(frozen=True)
class ManagedSettings:
    """Everything the agent writes into its include file.

    None means 'not managed: whatever the main file says'. The archive and restore commands are
    only managed when the agent was given an archive directory; otherwise the template's own
    (e.g. qbackup's) stay in force.
    """

    role: ServerRole
    port: int | None = None
    unix_socket_directories: str | None = None
    primary_conninfo: str = ""
    # Empty: no permanent slot; the walreceiver creates a temporary one instead (seed 000 §6.1),
    # so a replica that goes away leaves no slot holding WAL on the leader.
    primary_slot_name: str = ""
    wal_receiver_create_temp_slot: bool = True
    hot_standby: bool = True
    # pg_rewind needs hint-bit changes in WAL (or data checksums); cheap enough to always set.
    wal_log_hints: bool = True
    recovery_target_timeline: str = "latest"
    synchronous_standby_names: str = ""
    archive_mode: str | None = None
    archive_command: str | None = None
    restore_command: str | None = None
    extra: tuple[tuple[str, str | int | bool], ...] = field(default_factory=tuple)

    def items(self) -> list[tuple[str, str | int | bool]]:
        pairs: list[tuple[str, str | int | bool | None]] = [
            ("port", self.port),
            ("unix_socket_directories", self.unix_socket_directories),
            ("hot_standby", self.hot_standby),
            ("wal_log_hints", self.wal_log_hints),
            ("primary_conninfo", self.primary_conninfo),
            ("primary_slot_name", self.primary_slot_name),
            ("wal_receiver_create_temp_slot", self.wal_receiver_create_temp_slot),
            ("recovery_target_timeline", self.recovery_target_timeline),
            ("synchronous_standby_names", self.synchronous_standby_names),
            ("archive_mode", self.archive_mode),
            ("archive_command", self.archive_command),
            ("restore_command", self.restore_command),
            *self.extra,
        ]
        return [(name, value) for name, value in pairs if value is not None]


def render_managed_conf(settings: ManagedSettings) -> str:
    lines = [
        "# Written by the qluster agent; rewritten whenever this node's role changes.",
        "# Do not edit: put your settings into the main configuration file instead.",
        f"# role: {settings.role.value}",
    ]
    lines += [f"{name} = {render_value(value)}" for name, value in settings.items()]
    return "\n".join(lines) + "\n"


def include_line(file_name: str = MANAGED_FILE_NAME) -> str:
    # include_if_exists: a data directory copied without our file (a manual base backup) still
    # starts instead of failing on a missing include.
    return f"include_if_exists = {quote_guc(file_name)}"


def with_include(main_conf: str, file_name: str = MANAGED_FILE_NAME) -> str | None:
    """The main file with our include appended, or None when it is already the last include.

    It must stay last: a later line of the main file would override the managed settings.
    """
    line = include_line(file_name)
    meaningful = [raw.strip() for raw in main_conf.splitlines() if raw.strip() and not raw.strip().startswith("#")]
    if meaningful and meaningful[-1] == line:
        return None
    prefix = main_conf if main_conf.endswith("\n") or not main_conf else main_conf + "\n"
    return prefix + "# Role-dependent settings managed by the qluster agent (keep this line last).\n" + line + "\n"
