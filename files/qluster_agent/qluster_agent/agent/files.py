"""Everything the agent reads from files before it starts, read in one place.

`build_agent(config, env)` reads the cluster secret, the API token and certificates, the
database's password files, its bin directory (PgController's toolset) and the vote position
saved in the agent's state directory, then builds the Agent, which does no I/O in its
constructor. Whatever is wrong comes out as one SetupError: one line naming the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from ..api.tls import load_api_tls
from ..config.errors import ConfigError
from ..config.loader import load_config
from ..config.model import AgentConfig, MemberRole
from ..config.secret_files import read_api_token, read_secret
from ..ha.marker import AddNodeMarker
from ..pg.bindir import BinDirNotFound
from ..pg.controller import PgController
from .db_password import DatabaseRoles, PasswordFileError, read_database_roles
from .env import AgentEnv, EnvError, read_env
from .pg_setup import PgSetupError, marker_path, pg_options
from .node import Agent, AgentFiles
from .vote_position import VotePosition


class SetupError(Exception):
    """A config, env, password, secret or certificate file the agent cannot start with, as one line."""


def load_agent(config_path: str, environ: Mapping[str, str]) -> Agent:
    """The agent of the config file at `config_path` and (on a database node) the env file it
    names or the environment; SetupError when anything cannot be read or is wrong."""
    try:
        config = load_config(config_path)
        env = None if config.role is MemberRole.OBSERVER else read_env(environ, config_path)
    except (ConfigError, EnvError) as exc:
        raise SetupError(str(exc)) from exc
    return build_agent(config, env)


def build_agent(config: AgentConfig, env: AgentEnv | None) -> Agent:
    """The agent for `config` and `env`, with every file it needs read; SetupError otherwise."""
    try:
        return Agent(config, env, read_files(config, env))
    except (ConfigError, PgSetupError, PasswordFileError, BinDirNotFound) as exc:
        raise SetupError(str(exc)) from exc


def read_files(config: AgentConfig, env: AgentEnv | None) -> AgentFiles:
    """Read in the order the problems are reported: the postgres section, then the API's and
    the transport's files."""
    marker = AddNodeMarker(marker_path(config.postgres))
    pg, db_roles, vote = None, DatabaseRoles(), None
    if config.role is not MemberRole.OBSERVER:
        if env is None:
            raise SetupError("a voting node needs the env file (PGDATA, PGPORT, ...)")
        pg = PgController(pg_options(config.postgres, env, config.node_id))
        db_roles = read_database_roles(config.postgres, pg.options)
        vote = VotePosition(config.data_dir)
    api_token = read_api_token(config)
    api_tls = load_api_tls(config)
    return AgentFiles(secret=read_secret(config), api_token=api_token, api_tls=api_tls, marker=marker, pg=pg,
                      db_roles=db_roles, vote=vote)
