"""Reading the shared secret and the API token: I/O kept out of parsing, done once at start."""

from __future__ import annotations

import os
import stat

from .errors import ConfigError
from .model import AgentConfig

# Public on purpose: with insecure-no-auth the MAC only detects corruption, it proves nothing.
INSECURE_KEY = b"qluster-insecure-no-auth"
MIN_SECRET_BYTES = 16


def read_secret(config: AgentConfig) -> bytes:
    """The transport's HMAC key; raise ConfigError (one line) when it cannot be had safely."""
    if config.insecure_no_auth:
        return INSECURE_KEY
    if config.secret is not None:
        return config.secret.encode()
    assert config.secret_file is not None  # the loader sets a default file
    return _read_private_file("secret-file", config.secret_file)


def read_api_token(config: AgentConfig) -> str | None:
    """The API bearer token, or None when neither api-token nor api-token-file is set."""
    if config.api_token is not None:
        return config.api_token
    if config.api_token_file is None:
        return None
    return _read_private_file("api-token-file", config.api_token_file).decode()


def _read_private_file(key: str, path: str) -> bytes:
    try:
        with open(path, "rb") as stream:
            mode = os.fstat(stream.fileno()).st_mode
            content = stream.read().strip()
    except OSError as error:
        raise ConfigError([f"{key}: {path!r}: {error.strerror}"]) from None
    if mode & stat.S_IROTH:
        raise ConfigError([f"{key}: {path!r} is readable by everyone (chmod 0600 or 0640)"])
    if len(content) < MIN_SECRET_BYTES:
        raise ConfigError([f"{key}: {path!r} holds fewer than {MIN_SECRET_BYTES} bytes"])
    return content
