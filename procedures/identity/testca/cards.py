"""The TEST CA's cards and what they are made of: fictional residents, RSA keys, software cards.

NOT J-LIS: see ``procedures.identity.testca``.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from procedures.identity.certs import CertKind, CertRef

__all__ = ["ID", "KINDS", "FILE", "RsaKeyCache", "Sex", "TestCard", "TestResident", "pem", "write_atomic"]

#: Card ids and key labels.
ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
KINDS = (CertKind.AUTH, CertKind.SIGNING)
#: File (and key label) stem of each kind.
FILE = {CertKind.AUTH: "auth", CertKind.SIGNING: "signing"}


class Sex(StrEnum):
    """住民基本台帳 sex codes (OID 1.2.392.200149.8.5.5.3)."""

    MALE = "1"
    FEMALE = "2"
    UNSPECIFIED = "3"


@dataclass(frozen=True)
class TestResident:
    """A fictional card holder.  Minors get no signing certificate (as under 15)."""

    __test__: ClassVar[bool] = False

    name: str
    birth_date: date
    sex: Sex | str
    address: str
    minor: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "birth_date": self.birth_date.isoformat(),
            "sex": Sex(self.sex).value,
            "address": self.address,
            "minor": self.minor,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TestResident:
        return cls(
            name=data["name"],
            birth_date=date.fromisoformat(data["birth_date"]),
            sex=Sex(data["sex"]),
            address=data["address"],
            minor=bool(data["minor"]),
        )


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


class RsaKeyCache:
    """RSA-2048 private keys by label, generated on first use and kept as PEM files.

    Safe for concurrent processes (atomic writes; the first writer wins).
    """

    def __init__(self, directory: str | Path, key_size: int = 2048) -> None:
        self.directory = Path(directory)
        self.key_size = key_size
        self._memory: dict[str, rsa.RSAPrivateKey] = {}

    def get(self, label: str) -> rsa.RSAPrivateKey:
        if not ID.fullmatch(label.replace("/", "_")):
            raise ValueError(f"bad key label {label!r}")
        if label in self._memory:
            return self._memory[label]
        path = self.directory / f"{label.replace('/', '_')}.pem"
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except FileNotFoundError:
            key = rsa.generate_private_key(public_exponent=65537, key_size=self.key_size)
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            if not path.exists():
                write_atomic(path, pem)
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        self._memory[label] = key
        return key


@dataclass
class TestCard:
    """A TEST My Number card: keys, certificates and PINs."""

    __test__: ClassVar[bool] = False

    card_id: str
    resident: TestResident
    auth_cert: x509.Certificate
    auth_key: rsa.RSAPrivateKey
    signing_cert: x509.Certificate | None
    signing_key: rsa.RSAPrivateKey | None
    pin: str
    signing_password: str | None
    auth_ca: x509.Certificate
    signing_ca: x509.Certificate
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def auth_cert_der(self) -> bytes:
        return self.auth_cert.public_bytes(serialization.Encoding.DER)

    @property
    def signing_cert_der(self) -> bytes | None:
        if self.signing_cert is None:
            return None
        return self.signing_cert.public_bytes(serialization.Encoding.DER)

    @property
    def auth_ref(self) -> CertRef:
        return CertRef.of(self.auth_cert)

    @property
    def signing_ref(self) -> CertRef | None:
        return None if self.signing_cert is None else CertRef.of(self.signing_cert)

    def sign_auth(self, data: bytes) -> bytes:
        """What the card's authentication key returns: PKCS#1 v1.5 over SHA-256."""
        return self.auth_key.sign(data, padding.PKCS1v15(), hashes.SHA256())

    def sign_signing(self, data: bytes) -> bytes:
        if self.signing_key is None:
            raise ValueError("this card has no signing key")
        return self.signing_key.sign(data, padding.PKCS1v15(), hashes.SHA256())

    def pkcs12(self, kind: CertKind = CertKind.AUTH) -> bytes:
        """PKCS#12 of one key (password: the PIN, or the signing password)."""
        if kind is CertKind.AUTH:
            key, cert, ca, password = self.auth_key, self.auth_cert, self.auth_ca, self.pin
        else:
            if self.signing_key is None or self.signing_cert is None or not self.signing_password:
                raise ValueError("this card has no signing key")
            key, cert, ca = self.signing_key, self.signing_cert, self.signing_ca
            password = self.signing_password
        encryption = (
            serialization.PrivateFormat.PKCS12.encryption_builder()
            .kdf_rounds(2048)
            .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
            .hmac_hash(hashes.SHA256())
            .build(password.encode())
        )
        name = f"JPKI TEST {FILE[kind]} {self.card_id}".encode()
        return pkcs12.serialize_key_and_certificates(name, key, cert, [ca], encryption)

    def write_soft_card(self, path: str | Path) -> tuple[Path, Path | None]:
        """Write the software card: ``path`` (authentication key, password = PIN) and,
        for adults, ``<stem>.sign.p12`` next to it (signing key, password = signing
        password).  Returns both paths."""
        path = Path(path)
        write_atomic(path, self.pkcs12(CertKind.AUTH))
        if self.signing_key is None:
            return path, None
        signing_path = path.with_name(path.stem + ".sign.p12")
        write_atomic(signing_path, self.pkcs12(CertKind.SIGNING))
        return path, signing_path
