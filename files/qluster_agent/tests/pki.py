"""A throwaway certificate authority for the HTTPS tests, made with the `openssl` command.

`make_pki(directory)` writes, valid for two days:
- ca.pem / ca.key: the cluster's CA;
- node.pem / node.key: a node certificate for the IPs NODE_IPS (serverAuth and clientAuth, as
  the agent presents its own certificate when it forwards a change);
- other-ip.pem / other-ip.key: signed by the CA, but for 127.0.0.2 only;
- client.pem / client.key: an operator's client certificate (clientAuth);
- foreign-ca.pem, foreign-client.pem / foreign-client.key: another CA and a client certificate
  it signed.
Keys are P-256 (fast to make) and mode 0600, as openssl writes them.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

_DAYS = "2"
NODE_IPS = ("127.0.0.1", "127.0.0.29")
_EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


@dataclass(frozen=True)
class Pki:
    directory: Path

    def path(self, name: str) -> str:
        return str(self.directory / name)

    @property
    def ca(self) -> str:
        return self.path("ca.pem")

    @property
    def node(self) -> tuple[str, str]:
        return self.path("node.pem"), self.path("node.key")

    @property
    def other_ip(self) -> tuple[str, str]:
        return self.path("other-ip.pem"), self.path("other-ip.key")

    @property
    def client(self) -> tuple[str, str]:
        return self.path("client.pem"), self.path("client.key")

    @property
    def foreign_client(self) -> tuple[str, str]:
        return self.path("foreign-client.pem"), self.path("foreign-client.key")


def openssl_works() -> bool:
    if shutil.which("openssl") is None:
        return False
    return subprocess.run(["openssl", "version"], capture_output=True, check=False).returncode == 0


def _openssl(*argv: str, cwd: Path) -> None:
    subprocess.run(["openssl", *argv], cwd=cwd, check=True, capture_output=True)


def _ca(directory: Path, name: str) -> None:
    _openssl("req", "-x509", *_EC, "-days", _DAYS, "-subj", f"/CN={name}", "-keyout", f"{name}.key",
             "-out", f"{name}.pem", cwd=directory)


def _signed(directory: Path, name: str, ca: str, extensions: str) -> None:
    (directory / f"{name}.ext").write_text(extensions + "\nbasicConstraints=critical,CA:FALSE\n")
    _openssl("req", "-new", *_EC, "-subj", f"/CN={name}", "-keyout", f"{name}.key", "-out", f"{name}.csr",
             cwd=directory)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-CAcreateserial",
             "-days", _DAYS, "-extfile", f"{name}.ext", "-out", f"{name}.pem", cwd=directory)


def make_pki(directory: Path) -> Pki:
    directory.mkdir(parents=True, exist_ok=True)
    _ca(directory, "ca")
    node_usage = "extendedKeyUsage=serverAuth,clientAuth"
    sans = ",".join(f"IP:{ip}" for ip in NODE_IPS)
    _signed(directory, "node", "ca", f"subjectAltName={sans}\n{node_usage}")
    _signed(directory, "other-ip", "ca", f"subjectAltName=IP:127.0.0.2\n{node_usage}")
    _signed(directory, "client", "ca", "extendedKeyUsage=clientAuth")
    _ca(directory, "foreign-ca")
    _signed(directory, "foreign-client", "foreign-ca", "extendedKeyUsage=clientAuth")
    return Pki(directory)
