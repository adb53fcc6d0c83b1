"""Agent configuration: config.yaml parsing and validation, and the POST /config body.

    config = load_config(config_path_from_env())    # raises ConfigError, str() is one line
    secret = read_secret(config)                     # the transport's HMAC key
    settings, problems = validate_cluster_update(body, base=current_settings)
"""

from .durations import format_duration, parse_duration
from .errors import ConfigError
from .keys import KEYS, KeySpec
from .loader import DEFAULT_CONFIG_PATH, config_path_from_env, load_config, parse_config
from .model import AgentConfig, ClusterSettings, MemberRole, SocketSettings, UdpEndpoint, UdpSettings
from .runtime import cluster_settings_to_json, default_cluster_settings, validate_cluster_update
from .secret_files import read_api_token, read_secret

__all__ = [
    "AgentConfig",
    "ClusterSettings",
    "ConfigError",
    "DEFAULT_CONFIG_PATH",
    "KEYS",
    "KeySpec",
    "MemberRole",
    "SocketSettings",
    "UdpEndpoint",
    "UdpSettings",
    "cluster_settings_to_json",
    "config_path_from_env",
    "default_cluster_settings",
    "format_duration",
    "load_config",
    "parse_config",
    "parse_duration",
    "read_api_token",
    "read_secret",
    "validate_cluster_update",
]
