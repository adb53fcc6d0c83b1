"""The environment file of seed 000 §6.4 (systemd's EnvironmentFile), read once at start-up."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


class EnvError(ValueError):
    pass


@dataclass(frozen=True)
class AgentEnv:
    config_path: Path
    pgdata: Path
    pgport: int
    pguser: str
    pghome: Path | None
    backup_path: Path | None  # the WAL archive lives in BACKUP_PATH/wal

    @property
    def wal_archive_dir(self) -> Path | None:
        return self.backup_path / "wal" if self.backup_path else None


def read_env(environ: Mapping[str, str], config_path: str | None = None) -> AgentEnv:
    """Seed 000's variables; PGDATA is required, the others have the seed's defaults."""
    pgdata = environ.get("PGDATA")
    if not pgdata:
        raise EnvError("PGDATA is not set (seed 000 §6.4: /etc/systemd/system/qluster.env)")
    if not Path(pgdata).is_absolute():
        raise EnvError(f"PGDATA={pgdata!r} is not an absolute path")
    port_text = environ.get("PGPORT", "5432")
    try:
        port = int(port_text)
        if not 1 <= port <= 65535:
            raise ValueError
    except ValueError:
        raise EnvError(f"PGPORT={port_text!r} is not a TCP port") from None
    home = environ.get("PGHOME")
    backup = environ.get("BACKUP_PATH")
    return AgentEnv(
        config_path=Path(config_path or environ.get("CONFIG_PATH", "/etc/qluster/config.yaml")),
        pgdata=Path(pgdata),
        pgport=port,
        pguser=environ.get("PGUSER", "qhb"),
        pghome=Path(home) if home else None,
        backup_path=Path(backup) if backup else None,
    )
