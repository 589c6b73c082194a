"""A software "My Number card" in PKCS#12 files, for tests and demos.

``alice.p12`` holds the user-authentication key and certificate; its password is the
4-digit PIN.  For adults, ``alice.sign.p12`` next to it holds the signing key and
certificate; its password is the signing password.  (``TestCard.write_soft_card``
writes exactly this pair.)  Files are decrypted for each operation and keys are not
kept in memory.  Unlike a real card there is no retry counter: a wrong PIN raises
``WrongPin`` with ``retries_left=None``.

PKCS#12 encrypts the certificates too, so opening the card needs the PIN once
(``SoftCard(path, pin)``) to read the authentication certificate.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from protocol.cards.base import normalize_signing_password, validate_auth_pin
from protocol.errors import CardError, WrongPin

__all__ = ["SIGNING_SUFFIX", "SoftCard", "signing_path_for"]

SIGNING_SUFFIX = ".sign.p12"


def signing_path_for(path: str | Path) -> Path:
    """``alice.p12`` → ``alice.sign.p12``."""
    p = Path(path)
    return p.with_name(p.stem + SIGNING_SUFFIX)


def _open(path: Path, password: str, which: str) -> tuple[rsa.RSAPrivateKey, bytes]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CardError(f"cannot read the software card {path.name}") from exc
    try:
        bundle = pkcs12.load_pkcs12(data, password.encode())
    except ValueError as exc:
        raise WrongPin(retries_left=None, which=which) from exc
    key = bundle.key
    if not isinstance(key, rsa.RSAPrivateKey) or bundle.cert is None:
        raise CardError(f"{path.name} does not hold an RSA key and its certificate")
    return key, bundle.cert.certificate.public_bytes(serialization.Encoding.DER)


class SoftCard:
    """``CardSigner`` over PKCS#12 files.

    Args:
        path: the authentication PKCS#12 (password = PIN).
        pin: the 4-digit PIN, to read the authentication certificate.
        signing_path: the signing PKCS#12; default ``<stem>.sign.p12`` if it exists.

    Raises:
        WrongPin: ``pin`` does not open ``path``.
        InvalidPinFormat: ``pin`` is not 4 digits.
    """

    def __init__(self, path: str | Path, pin: str, *, signing_path: str | Path | None = None) -> None:
        self.path = Path(path)
        if signing_path is None:
            candidate = signing_path_for(self.path)
            self.signing_path: Path | None = candidate if candidate.exists() else None
        else:
            self.signing_path = Path(signing_path)
        _, self._auth_cert = _open(self.path, validate_auth_pin(pin), "PIN")

    def auth_certificate(self) -> bytes:
        return self._auth_cert

    def signing_certificate(self, pin: str) -> bytes | None:
        if self.signing_path is None:
            return None
        _, cert = _open(self.signing_path, normalize_signing_password(pin), "signing password")
        return cert

    def sign_auth(self, data: bytes, pin: str) -> bytes:
        key, _ = _open(self.path, validate_auth_pin(pin), "PIN")
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())

    def sign_with_signing_key(self, data: bytes, pin: str) -> bytes:
        if self.signing_path is None:
            raise CardError("this card has no signing key (minors have none)")
        key, _ = _open(self.signing_path, normalize_signing_password(pin), "signing password")
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
