"""The agent API over HTTPS: TLS contexts made once at start, and where the API listens.

Modelled on Patroni's restapi certfile/keyfile/cafile/verify_client. With `api-certfile` set the
API speaks HTTPS on the node's `ip` (the address the other members and the pooler host reach)
and plain HTTP on 127.0.0.1 only, so the seed's `curl -s http://localhost:8080/map` still works on
the node itself. A follower forwards a change to the leader over HTTPS, checks the leader's
certificate against `api-cafile` with the hostname check (a node's certificate carries its IP
address as a subjectAltName) and presents its own certificate as the client certificate.

Loading is I/O, kept out of config parsing (as secret_files.py does for the secret): a file that
is missing or does not load stops the agent with one line naming the key and the problem.
Standard library only: the agent must not need the `cryptography` package.
"""

from __future__ import annotations

import os
import ssl
import stat
from dataclasses import dataclass

from ..config.errors import ConfigError
from ..config.model import AgentConfig, VerifyClient

MIN_VERSION = ssl.TLSVersion.TLSv1_2
LOOPBACK = "127.0.0.1"
_VERIFY_MODES = {VerifyClient.NONE: ssl.CERT_NONE, VerifyClient.OPTIONAL: ssl.CERT_OPTIONAL,
                 VerifyClient.REQUIRED: ssl.CERT_REQUIRED}


class TlsFileError(ValueError):
    """A certificate, key or CA file that cannot be used; ``role`` says which of the three."""

    def __init__(self, role: str, path: str, problem: str) -> None:
        self.role, self.path, self.problem = role, path, problem
        super().__init__(f"{path!r} {problem}")


@dataclass(frozen=True)
class ApiTls:
    """What the agent serves and forwards with; None of it when api-certfile is not set."""

    server: ssl.SSLContext
    client: ssl.SSLContext
    verify_client: VerifyClient

    @property
    def client_cert_for_changes(self) -> bool:
        """Whether a change over HTTPS needs a verified client certificate (optional, required)."""
        return self.verify_client is not VerifyClient.NONE


def listeners(ip: str, port: int, tls: ApiTls | None) -> list[tuple[str, int, ssl.SSLContext | None]]:
    """(address, port, TLS context or None for plain HTTP) of every API socket to open.

    Without TLS one plain socket on every address, as before. With TLS, HTTPS on `ip` and plain
    HTTP on 127.0.0.1. When `ip` is 127.0.0.1 itself (a test or a one-host lab) the two would be
    the same socket: the node's address wins and speaks HTTPS only, because the other members
    reach the node there; a local client then uses https:// as well. Another loopback `ip`
    (127.0.0.5, as the tests give each agent) is a different address: both sockets open.
    """
    if tls is None:
        return [("0.0.0.0", port, None)]
    if ip == LOOPBACK:
        return [(ip, port, tls.server)]
    return [(ip, port, tls.server), (LOOPBACK, port, None)]


def load_api_tls(config: AgentConfig) -> ApiTls | None:
    """The agent's contexts from its config; ConfigError naming the key when a file is unusable."""
    if config.api_certfile is None or config.api_keyfile is None:
        return None  # the loader allows both or neither
    names = {"certificate": "api-certfile", "key": "api-keyfile", "CA": "api-cafile"}
    try:
        server = server_context(config.api_certfile, config.api_keyfile, config.api_cafile, config.api_verify_client)
        client = client_context(config.api_cafile, config.api_certfile, config.api_keyfile)
        if _readable_by_everyone(config.api_keyfile):
            raise TlsFileError("key", config.api_keyfile, "is readable by everyone (chmod 0600 or 0640)")
    except TlsFileError as error:
        raise ConfigError([f"{names[error.role]}: {error}"]) from None
    return ApiTls(server, client, config.api_verify_client)


def server_context(certfile: str, keyfile: str, cafile: str | None, verify: VerifyClient) -> ssl.SSLContext:
    """The HTTPS listener's context: TLS 1.2 or later, client certificates per `verify`."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = MIN_VERSION
    load_chain(context, certfile, keyfile)
    if verify is not VerifyClient.NONE:
        if cafile is None:
            raise ValueError(f"api-verify-client {verify.value} needs a CA file")  # the config checks refuse it first
        load_ca(context, cafile)
    context.verify_mode = _VERIFY_MODES[verify]
    return context


def client_context(cafile: str | None, certfile: str | None = None, keyfile: str | None = None) -> ssl.SSLContext:
    """A client's context: the server's certificate checked against `cafile` (the system's CAs
    without one) and its name or IP address; `certfile`/`keyfile` presented when asked for."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED and check_hostname
    context.minimum_version = MIN_VERSION
    if cafile is None:
        context.load_default_certs()
    else:
        load_ca(context, cafile)
    if certfile is not None:
        load_chain(context, certfile, keyfile or certfile)
    return context


def load_chain(context: ssl.SSLContext, certfile: str, keyfile: str) -> None:
    _check_pem("certificate", certfile, b"-----BEGIN CERTIFICATE-----", "PEM certificate")
    _check_pem("key", keyfile, b"PRIVATE KEY-----", "PEM private key")
    try:
        # A password callback that gives nothing: an encrypted key fails here instead of
        # prompting on a terminal the agent does not have.
        context.load_cert_chain(certfile, keyfile, password=lambda: b"")
    except ssl.SSLError as error:
        if "KEY_VALUES_MISMATCH" in str(error):
            raise TlsFileError("key", keyfile, f"is not the key of the certificate in {certfile!r}") from None
        raise TlsFileError("key", keyfile, f"cannot be loaded with {certfile!r} (an encrypted key is not "
                                           f"supported): {error.reason or error}") from None


def load_ca(context: ssl.SSLContext, cafile: str) -> None:
    _check_pem("CA", cafile, b"-----BEGIN CERTIFICATE-----", "PEM certificate")
    try:
        context.load_verify_locations(cafile=cafile)
    except ssl.SSLError as error:
        raise TlsFileError("CA", cafile, f"cannot be loaded: {error.reason or error}") from None


def _check_pem(role: str, path: str, marker: bytes, wanted: str) -> None:
    """The file opens and holds a PEM block of the kind wanted: OpenSSL's own error ("PEM lib")
    does not say which file it could not use."""
    try:
        with open(path, "rb") as stream:
            content = stream.read(1 << 20)
    except OSError as error:
        raise TlsFileError(role, path, f"cannot be read: {error.strerror}") from None
    if marker not in content:
        raise TlsFileError(role, path, f"holds no {wanted}")


def _readable_by_everyone(path: str) -> bool:
    return bool(os.stat(path).st_mode & stat.S_IROTH)  # the key was just read: it is there
