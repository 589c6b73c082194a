"""The ``CardSigner`` interface and what every card signer shares.

A card signer exposes the two JPKI keys of a My Number card:

* the user-authentication key (4-digit PIN, 3 tries; its certificate is public and
  readable without the PIN);
* the signing key (password of 6–16 upper-case letters and digits, 5 tries; its
  certificate carries personal data and is readable only after the password).

Signatures are RSA PKCS#1 v1.5 over SHA-256: the host hashes, wraps the hash in a
DigestInfo and the card pads and exponentiates.
"""

from __future__ import annotations

import hashlib
import re
from typing import Protocol, runtime_checkable

from protocol.errors import InvalidPinFormat
from protocol.statement import CardSignatures

__all__ = [
    "DIGEST_INFO_SHA256_PREFIX",
    "CardSigner",
    "digest_info_sha256",
    "normalize_signing_password",
    "sign_with_card",
    "validate_auth_pin",
]

#: DER prefix of ``DigestInfo { sha256, OCTET STRING (32) }`` (RFC 8017 §9.2 note 1).
DIGEST_INFO_SHA256_PREFIX = bytes.fromhex("3031300d060960864801650304020105000420")

_AUTH_PIN = re.compile(r"[0-9]{4}")
_SIGNING_PASSWORD = re.compile(r"[A-Z0-9]{6,16}")


@runtime_checkable
class CardSigner(Protocol):
    def auth_certificate(self) -> bytes:
        """DER of the user-authentication certificate (no PIN needed)."""
        ...

    def signing_certificate(self, pin: str) -> bytes | None:
        """DER of the signing certificate, or ``None`` if the card has none (minors).
        ``pin`` is the signing password: the card releases this certificate only after
        it has been verified."""
        ...

    def sign_auth(self, data: bytes, pin: str) -> bytes:
        """PKCS#1 v1.5 / SHA-256 signature of ``data`` by the authentication key."""
        ...

    def sign_with_signing_key(self, data: bytes, pin: str) -> bytes:
        """PKCS#1 v1.5 / SHA-256 signature of ``data`` by the signing key."""
        ...


def digest_info_sha256(data: bytes) -> bytes:
    return DIGEST_INFO_SHA256_PREFIX + hashlib.sha256(data).digest()


def validate_auth_pin(pin: str) -> str:
    """The PIN if it is 4 ASCII digits; else ``InvalidPinFormat`` (no retry spent)."""
    if not isinstance(pin, str) or not _AUTH_PIN.fullmatch(pin):
        raise InvalidPinFormat("the user-authentication PIN is 4 digits")
    return pin


def normalize_signing_password(password: str) -> str:
    """Upper-cased password if it is 6–16 letters/digits; else ``InvalidPinFormat``."""
    upper = password.upper() if isinstance(password, str) else ""
    if not _SIGNING_PASSWORD.fullmatch(upper):
        raise InvalidPinFormat("the signing password is 6-16 letters and digits", which="signing password")
    return upper


def sign_with_card(
    card: CardSigner, message: bytes, *, pin: str, signing_password: str | None = None
) -> CardSignatures:
    """Sign ``message`` (the canonical statement) with the authentication key and, if a
    signing password is given and the card has a signing key, with the signing key."""
    auth_cert = card.auth_certificate()
    auth_sig = card.sign_auth(message, pin)
    if signing_password is None:
        return CardSignatures(auth_cert, auth_sig)
    signing_cert = card.signing_certificate(signing_password)
    if signing_cert is None:
        return CardSignatures(auth_cert, auth_sig)
    return CardSignatures(
        auth_cert, auth_sig, signing_cert, card.sign_with_signing_key(message, signing_password)
    )
