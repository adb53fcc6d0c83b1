import os

import pytest

from qluster_agent.config import ConfigError, parse_config, read_api_token, read_secret
from qluster_agent.config.secret_files import INSECURE_KEY


def write(path, content: str, mode: int) -> str:
    path.write_text(content)
    os.chmod(path, mode)
    return str(path)


def test_the_secret_is_read_from_the_secret_file_without_its_newline(tmp_path):
    secret_file = write(tmp_path / "secret", "s3cret-s3cret-s3cret\n", 0o600)
    config = parse_config({"ip": "10.0.0.1", "secret-file": secret_file})
    assert read_secret(config) == b"s3cret-s3cret-s3cret"


def test_an_inline_secret_and_insecure_mode(tmp_path):
    assert read_secret(parse_config({"ip": "10.0.0.1", "secret": "0123456789abcdef"})) == b"0123456789abcdef"
    assert read_secret(parse_config({"ip": "10.0.0.1", "insecure-no-auth": True})) == INSECURE_KEY


@pytest.mark.parametrize(
    "content, mode, problem",
    [
        ("s3cret-s3cret-s3cret", 0o644, "is readable by everyone (chmod 0600 or 0640)"),
        ("short", 0o600, "holds fewer than 16 bytes"),
    ],
)
def test_an_unsafe_secret_file_is_refused(tmp_path, content, mode, problem):
    secret_file = write(tmp_path / "secret", content, mode)
    with pytest.raises(ConfigError) as error:
        read_secret(parse_config({"ip": "10.0.0.1", "secret-file": secret_file}))
    assert str(error.value) == f"config error: secret-file: {secret_file!r} {problem}"


def test_a_missing_secret_file_names_the_key(tmp_path):
    config = parse_config({"ip": "10.0.0.1", "secret-file": str(tmp_path / "nope")})
    with pytest.raises(ConfigError, match=r"^config error: secret-file: '.*nope': No such file or directory$"):
        read_secret(config)


def test_the_api_token(tmp_path):
    assert read_api_token(parse_config({"ip": "10.0.0.1"})) is None
    assert read_api_token(parse_config({"ip": "10.0.0.1", "api-token": "token-token-token"})) == "token-token-token"
    token_file = write(tmp_path / "token", "token-from-a-file\n", 0o640)
    assert read_api_token(parse_config({"ip": "10.0.0.1", "api-token-file": token_file})) == "token-from-a-file"
