"""What the secured front needs, made with openssl: a private CA, a server certificate it signs for
localhost/127.0.0.1, an unrelated CA (for "unknown CA" tests), an API key and a user's password. Each is a file in one
directory, as a Kubernetes Secret would mount them; made once, reused after."""

from __future__ import annotations

import base64
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Final

USERNAME: Final = "contact-search"
_EC_KEY: Final = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
_SERVER_EXTENSIONS: Final = """\
subjectAltName = DNS:localhost, IP:127.0.0.1
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
"""


@dataclass(frozen=True)
class Material:
    directory: Path

    @property
    def ca_certs(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def other_ca_certs(self) -> Path:
        return self.directory / "other-ca.crt"

    @property
    def server_certificate(self) -> Path:
        return self.directory / "server.crt"

    @property
    def server_key(self) -> Path:
        return self.directory / "server.key"

    @property
    def api_key_file(self) -> Path:
        return self.directory / "api_key"

    @property
    def username_file(self) -> Path:
        return self.directory / "username"

    @property
    def password_file(self) -> Path:
        return self.directory / "password"

    @property
    def api_key(self) -> str:
        return self.api_key_file.read_text().strip()

    @property
    def username(self) -> str:
        return self.username_file.read_text().strip()

    @property
    def password(self) -> str:
        return self.password_file.read_text().strip()


def _openssl(*arguments: str, cwd: Path) -> None:
    subprocess.run(["openssl", *arguments], cwd=cwd, check=True, capture_output=True)


def _new_ca(directory: Path, name: str, subject: str) -> None:
    _openssl(
        "req", "-x509", *_EC_KEY, "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "3650",
        "-subj", subject, "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )  # fmt: skip


def _write_secret(path: Path, value: str) -> None:
    path.write_text(value + "\n")
    path.chmod(0o640)


def make(directory: Path) -> Material:
    """The material in `directory`, made there unless it is already complete."""
    material = Material(directory)
    files = (material.ca_certs, material.other_ca_certs, material.server_certificate, material.password_file)
    if all(path.exists() for path in (*files, material.api_key_file, material.username_file)):
        return material
    directory.mkdir(parents=True, exist_ok=True)
    _new_ca(directory, "ca", "/CN=contact-search local secured front CA")
    _new_ca(directory, "other-ca", "/CN=an unrelated CA")
    (directory / "server.ext").write_text(_SERVER_EXTENSIONS)
    _openssl("req", *_EC_KEY, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost", cwd=directory)
    _openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.crt", "-days", "3650", "-extfile", "server.ext",
        cwd=directory,
    )  # fmt: skip
    for leftover in ("server.csr", "server.ext", "ca.srl", "ca.key", "other-ca.key"):
        (directory / leftover).unlink(missing_ok=True)
    # As Elasticsearch's create-API-key call answers it: `encoded` is base64 of "id:api_key".
    key_id, key = secrets.token_urlsafe(15), secrets.token_urlsafe(16)
    _write_secret(material.api_key_file, base64.b64encode(f"{key_id}:{key}".encode()).decode("ascii"))
    _write_secret(material.username_file, USERNAME)
    _write_secret(material.password_file, secrets.token_urlsafe(18))
    return material
