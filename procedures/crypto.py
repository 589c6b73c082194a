"""Encryption at rest: AES-256-GCM with a fresh data key per record (envelope encryption).

Each record gets its own 256-bit data key; the key is stored wrapped (AES-GCM under a key-
encryption key derived from ``MACHI_SECRET_KEY``) in ``data_keys``. Erasing the data key row's
key material makes the record unreadable for good (crypto-erasure) without touching the record.
Associated data binds each ciphertext to its record, so blobs cannot be swapped between rows.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import uuid
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import LargeBinary, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from chain.errors import MachiError
from chain.storage import Base, UTCDateTime, utcnow

_NONCE = 12


class CryptoError(MachiError):
    """A record could not be decrypted (tampered, wrong key, or erased)."""

    code = "decryption_failed"


class RecordErased(CryptoError):
    """The record's data key was erased (retention ended or the person asked): it is gone."""

    code = "record_erased"


class DataKey(Base):
    """One record's wrapped data key."""

    __tablename__ = "data_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(64))
    wrapped: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


def derive_key(secret: str, purpose: str) -> bytes:
    """A 32-byte key for ``purpose`` derived from the service secret (HKDF-SHA256)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"machi-ledger", info=purpose.encode()).derive(
        secret.encode()
    )


class Vault:
    """Seals and opens records with per-record data keys."""

    def __init__(self, secret: str) -> None:
        self._kek = AESGCM(derive_key(secret, "data-key wrapping v1"))

    def new_key(self, session: Session, purpose: str) -> str:
        """Create and store a fresh data key; returns its id."""
        key_id = str(uuid.uuid4())
        dek = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(_NONCE)
        wrapped = nonce + self._kek.encrypt(nonce, dek, key_id.encode())
        session.add(DataKey(id=key_id, purpose=purpose, wrapped=wrapped))
        session.flush()
        return key_id

    def _dek(self, session: Session, key_id: str) -> bytes:
        row = session.get(DataKey, key_id)
        if row is None:
            raise CryptoError(f"no data key {key_id}")
        if row.wrapped is None:
            raise RecordErased("this record was erased and can no longer be read")
        try:
            return self._kek.decrypt(row.wrapped[:_NONCE], row.wrapped[_NONCE:], key_id.encode())
        except Exception as exc:  # InvalidTag: wrong master secret or tampered key row
            raise CryptoError("data key cannot be unwrapped (wrong MACHI_SECRET_KEY?)") from exc

    def seal(self, session: Session, key_id: str, plaintext: bytes, aad: bytes = b"") -> bytes:
        """Encrypt ``plaintext`` under the record's data key (nonce ‖ ciphertext ‖ tag)."""
        nonce = os.urandom(_NONCE)
        return nonce + AESGCM(self._dek(session, key_id)).encrypt(nonce, plaintext, aad)

    def open(self, session: Session, key_id: str, blob: bytes, aad: bytes = b"") -> bytes:
        """Decrypt a blob made by ``seal``.

        Raises:
            RecordErased: the key was erased.
            CryptoError: tampered blob or wrong associated data.
        """
        dek = self._dek(session, key_id)
        try:
            return AESGCM(dek).decrypt(blob[:_NONCE], blob[_NONCE:], aad)
        except Exception as exc:
            raise CryptoError("record failed its integrity check") from exc

    def seal_json(self, session: Session, key_id: str, value: Any, aad: bytes = b"") -> bytes:
        """``seal`` of canonical JSON."""
        return self.seal(session, key_id, json.dumps(value, ensure_ascii=False, sort_keys=True).encode(), aad)

    def open_json(self, session: Session, key_id: str, blob: bytes, aad: bytes = b"") -> Any:
        """``open`` and parse JSON."""
        return json.loads(self.open(session, key_id, blob, aad))

    @staticmethod
    def erase(session: Session, key_id: str) -> None:
        """Destroy the data key (crypto-erasure). Idempotent."""
        row = session.get(DataKey, key_id)
        if row is not None and row.wrapped is not None:
            row.wrapped = None
            row.erased_at = utcnow()


def keyed_hash(secret: str, purpose: str, message: bytes) -> bytes:
    """HMAC-SHA256 under a purpose-derived key (subject keys, API-key hashes, lookups)."""
    return hmac.new(derive_key(secret, purpose), message, hashlib.sha256).digest()
