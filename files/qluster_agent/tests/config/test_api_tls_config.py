"""api-trust-loopback and the API's TLS keys: defaults, the rules between keys, and the files
loaded at start (each problem names its key; the agent does not start)."""

from __future__ import annotations

import os
import shutil
import ssl

import pytest

from qluster_agent.api.tls import load_api_tls
from qluster_agent.config import ConfigError, parse_config
from qluster_agent.config.model import VerifyClient

TOKEN = "api-token-0123456789abcdef"


def problems_of(document) -> str:
    with pytest.raises(ConfigError) as error:
        parse_config(document)
    return str(error.value)


def node(**keys) -> dict:
    return {"ip": "10.0.0.1", **keys}


def tls_keys(pki, **extra) -> dict:
    certfile, keyfile = pki.node
    return {"api-certfile": certfile, "api-keyfile": keyfile, "api-cafile": pki.ca, **extra}


@pytest.mark.parametrize("keys, trusted", [
    ({}, True),
    ({"api-token": TOKEN}, False),
    ({"api-token-file": "/etc/qluster/api-token"}, False),
    ({"api-token": TOKEN, "api-trust-loopback": True}, True),
    ({"api-trust-loopback": True}, True),
])
def test_api_trust_loopback_defaults_to_true_only_without_a_token(keys, trusted):
    assert parse_config(node(**keys)).api_trust_loopback is trusted


def test_the_tls_keys_default_to_plain_http():
    config = parse_config(node())
    assert (config.api_certfile, config.api_keyfile, config.api_cafile) == (None, None, None)
    assert config.api_verify_client is VerifyClient.OPTIONAL
    assert load_api_tls(config) is None


@pytest.mark.parametrize("keys, expected", [
    ({"api-trust-loopback": False},
     "api-trust-loopback: false without api-token or api-token-file leaves no way to make a change; set a token"),
    ({"api-trust-loopback": "no"}, "api-trust-loopback: 'no' is not a boolean (use true or false)"),
    ({"api-certfile": "/etc/qluster/tls/node.pem"},
     "api-certfile: set without api-keyfile; set both or neither"),
    ({"api-keyfile": "/etc/qluster/tls/node.key"},
     "api-keyfile: set without api-certfile; set both or neither"),
    ({"api-cafile": "/etc/qluster/tls/ca.pem"},
     "api-cafile: set without api-certfile and api-keyfile (the API speaks plain HTTP); set those too, or remove it"),
    ({"api-verify-client": "none"},
     "api-verify-client: set without api-certfile and api-keyfile (the API speaks plain HTTP); set those too, "
     "or remove it"),
    ({"api-certfile": "/n.pem", "api-keyfile": "/n.key"},
     "api-cafile: missing; api-verify-client optional checks client certificates against it "
     "(set api-cafile, or api-verify-client: none)"),
    ({"api-certfile": "/n.pem", "api-keyfile": "/n.key", "api-verify-client": "required"},
     "api-cafile: missing; api-verify-client required checks"),
    ({"api-certfile": "/n.pem", "api-keyfile": "/n.key", "api-cafile": "/c.pem", "api-verify-client": "yes"},
     "api-verify-client: 'yes' is not one of none, optional, required"),
    ({"api-certfile": "tls/node.pem", "api-keyfile": "/n.key"}, "api-certfile: 'tls/node.pem' is not an absolute path"),
])
def test_the_rules_between_the_keys_name_the_key(keys, expected):
    assert expected in problems_of(node(**keys))


def test_verify_client_none_needs_no_ca():
    config = parse_config(node(**{"api-certfile": "/n.pem", "api-keyfile": "/n.key", "api-verify-client": "none"}))
    assert config.api_verify_client is VerifyClient.NONE and config.api_cafile is None


def test_the_files_load_into_the_server_and_client_contexts(pki):
    tls = load_api_tls(parse_config(node(**tls_keys(pki))))
    assert tls is not None and tls.verify_client is VerifyClient.OPTIONAL and tls.client_cert_for_changes
    assert tls.server.verify_mode == ssl.CERT_OPTIONAL
    assert tls.client.verify_mode == ssl.CERT_REQUIRED and tls.client.check_hostname
    required = load_api_tls(parse_config(node(**tls_keys(pki, **{"api-verify-client": "required"}))))
    assert required.server.verify_mode == ssl.CERT_REQUIRED
    none = load_api_tls(parse_config(node(**tls_keys(pki, **{"api-verify-client": "none"}))))
    assert none.server.verify_mode == ssl.CERT_NONE and not none.client_cert_for_changes


def copy(pki, tmp_path, name: str, mode: int = 0o600) -> str:
    target = tmp_path / name
    shutil.copy(pki.path(name), target)
    os.chmod(target, mode)
    return str(target)


@pytest.mark.parametrize("change, expected", [
    (lambda pki, tmp: {"api-certfile": str(tmp / "absent.pem")},
     "config error: api-certfile: '{tmp}/absent.pem' cannot be read: No such file or directory"),
    (lambda pki, tmp: {"api-keyfile": str(tmp / "absent.key")},
     "config error: api-keyfile: '{tmp}/absent.key' cannot be read: No such file or directory"),
    (lambda pki, tmp: {"api-cafile": str(tmp / "absent.pem")},
     "config error: api-cafile: '{tmp}/absent.pem' cannot be read: No such file or directory"),
    (lambda pki, tmp: {"api-certfile": pki.path("node.key")},
     "config error: api-certfile: '{pki}/node.key' holds no PEM certificate"),
    (lambda pki, tmp: {"api-keyfile": pki.path("node.pem")},
     "config error: api-keyfile: '{pki}/node.pem' holds no PEM private key"),
    (lambda pki, tmp: {"api-cafile": pki.path("node.key")},
     "config error: api-cafile: '{pki}/node.key' holds no PEM certificate"),
    (lambda pki, tmp: {"api-keyfile": pki.path("client.key")},
     "config error: api-keyfile: '{pki}/client.key' is not the key of the certificate in '{pki}/node.pem'"),
    (lambda pki, tmp: {"api-keyfile": copy(pki, tmp, "node.key", 0o644)},
     "config error: api-keyfile: '{tmp}/node.key' is readable by everyone (chmod 0600 or 0640)"),
])
def test_a_file_that_cannot_be_used_stops_the_agent_naming_the_key(pki, tmp_path, change, expected):
    config = parse_config(node(**tls_keys(pki, **change(pki, tmp_path))))
    with pytest.raises(ConfigError) as error:
        load_api_tls(config)
    assert str(error.value) == expected.format(tmp=tmp_path, pki=pki.directory)
