"""Encryption at rest: AES-256-GCM with a fresh data key per record (envelope encryption).

Each record gets its own 256-bit data key; the key is stored wrapped (AES-GCM under a key-
encryption key, KEK) in ``data_keys``, with the id of the KEK that wrapped it. Erasing the data
key row's key material makes the record unreadable for good (crypto-erasure) without touching the
record. Associated data binds each ciphertext to its record, so blobs cannot be swapped between rows.

Keys, each for one purpose (HKDF-SHA256 with a label of its own, so none reveals another):

* the KEKs: ``MACHI_KEKS`` (id → secret); ``MACHI_KEK_ID`` names the one that wraps new data keys.
  Unset, there is one KEK, ``s0``, derived from ``MACHI_SECRET_KEY`` — what every deployment used
  before KEKs had their own setting, so existing data keys stay readable. ``rotate`` re-wraps every
  data key under the current KEK while the service runs; afterwards the old KEKs can go.
* from ``MACHI_SECRET_KEY``: the identity pepper (``procedures.identity.subjects.Pepper``) and the
  merchant API-key HMAC key — both must stay stable (docs/privacy.md, "Keys"), which is why the KEK
  is no longer tied to that secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import LargeBinary, String, func, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from chain.errors import MachiError
from chain.storage import Base, UTCDateTime, utcnow

if TYPE_CHECKING:
    from procedures.config import Settings

__all__ = [
    "KEK_LABEL",
    "LEGACY_KEK_ID",
    "CryptoError",
    "DataKey",
    "KeyRing",
    "RecordErased",
    "RotationReport",
    "Vault",
    "derive_key",
    "keyed_hash",
    "kek_counts",
    "rotate",
]

_NONCE = 12
#: The HKDF label of every KEK (each from its own secret).
KEK_LABEL = "data-key wrapping v1"
#: The KEK derived from ``MACHI_SECRET_KEY``; data keys wrapped before KEK ids were recorded are its.
LEGACY_KEK_ID = "s0"
_KEK_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,15}")


class CryptoError(MachiError):
    """A record could not be decrypted (tampered, wrong key, or erased)."""

    code = "decryption_failed"


class RecordErased(CryptoError):
    """The record's data key was erased (retention ended or the person asked): it is gone."""

    code = "record_erased"


class DataKey(Base):
    """One record's wrapped data key, and the KEK that wrapped it (``None``: ``s0``, from before ids)."""

    __tablename__ = "data_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(64))
    wrapped: Mapped[bytes | None] = mapped_column(LargeBinary)
    kek_id: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


def derive_key(secret: str, purpose: str) -> bytes:
    """A 32-byte key for ``purpose`` derived from the service secret (HKDF-SHA256)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"machi-ledger", info=purpose.encode()).derive(
        secret.encode()
    )


class KeyRing:
    """The key-encryption keys: every one unwraps, the current one wraps.

    Args:
        secrets: KEK id → secret (each KEK is HKDF-derived from its secret under ``KEK_LABEL``).
        current: the id that wraps new data keys; may be omitted when there is only one.

    Raises:
        ValueError: no KEK, a malformed id, or no (or an unknown) current id.
    """

    def __init__(self, secrets: Mapping[str, str], current: str | None = None) -> None:
        if not secrets:
            raise ValueError("at least one key-encryption key is needed")
        bad = [kek_id for kek_id in secrets if not _KEK_ID.fullmatch(kek_id)]
        if bad:
            raise ValueError(f"KEK ids are 1-16 lower-case letters, digits, '-' or '_': {bad}")
        if current is None:
            if len(secrets) > 1:
                raise ValueError("several KEKs are configured: say which one wraps new data keys (MACHI_KEK_ID)")
            current = next(iter(secrets))
        if current not in secrets:
            raise ValueError(f"the current KEK {current!r} is not among the configured ones {sorted(secrets)}")
        self.current = current
        self._keks = {kek_id: AESGCM(derive_key(secret, KEK_LABEL)) for kek_id, secret in secrets.items()}

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyRing:
        """``MACHI_KEKS`` / ``MACHI_KEK_ID``, or ``s0`` from ``MACHI_SECRET_KEY`` when no KEK is set."""
        if not settings.keks:
            return cls({LEGACY_KEK_ID: settings.secret_key.get_secret_value()})
        return cls({kek_id: secret.get_secret_value() for kek_id, secret in settings.keks.items()}, settings.kek_id)

    @property
    def ids(self) -> frozenset[str]:
        """The configured KEK ids."""
        return frozenset(self._keks)

    def wrap(self, key_id: str, dek: bytes) -> bytes:
        """``dek`` wrapped under the current KEK, bound to its row id (nonce ‖ ciphertext ‖ tag)."""
        nonce = os.urandom(_NONCE)
        return nonce + self._keks[self.current].encrypt(nonce, dek, key_id.encode())

    def unwrap(self, key_id: str, kek_id: str | None, wrapped: bytes) -> bytes:
        """The data key of row ``key_id``, wrapped under ``kek_id`` (``None``: ``s0``).

        Raises:
            CryptoError: that KEK is not configured, or it does not unwrap this row (wrong secret, tampering).
        """
        kek_id = kek_id or LEGACY_KEK_ID
        kek = self._keks.get(kek_id)
        if kek is None:
            raise CryptoError(f"data key {key_id} is wrapped under KEK {kek_id!r}, which is not configured "
                              "(MACHI_KEKS)")
        try:
            return kek.decrypt(wrapped[:_NONCE], wrapped[_NONCE:], key_id.encode())
        except InvalidTag:
            raise CryptoError(f"data key {key_id} cannot be unwrapped with KEK {kek_id!r} (wrong secret?)") from None


class Vault:
    """Seals and opens records with per-record data keys.

    Args:
        keys: the key ring, or a bare service secret (the one KEK ``s0`` derived from it).
    """

    def __init__(self, keys: KeyRing | str) -> None:
        self.keys = keys if isinstance(keys, KeyRing) else KeyRing({LEGACY_KEK_ID: keys})

    def new_key(self, session: Session, purpose: str) -> str:
        """Create and store a fresh data key, wrapped under the current KEK; returns its id."""
        key_id = str(uuid.uuid4())
        dek = AESGCM.generate_key(bit_length=256)
        session.add(DataKey(id=key_id, purpose=purpose, wrapped=self.keys.wrap(key_id, dek), kek_id=self.keys.current))
        session.flush()
        return key_id

    def _dek(self, session: Session, key_id: str) -> bytes:
        row = session.get(DataKey, key_id)
        if row is None:
            raise CryptoError(f"no data key {key_id}")
        if row.wrapped is None:
            raise RecordErased("this record was erased and can no longer be read")
        return self.keys.unwrap(key_id, row.kek_id, row.wrapped)

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

    def rewrap(self, session: Session, key_id: str) -> bool:
        """Wrap one data key again under the current KEK; ``False`` if it already is, or is erased.

        A compare-and-set on the old wrapping: an erasure (or another rotation) that got there first
        wins, so a rotation never brings an erased key back.

        Raises:
            CryptoError: the key's KEK is not configured or does not unwrap it.
        """
        row = session.get(DataKey, key_id)
        if row is None or row.wrapped is None or row.kek_id == self.keys.current:
            return False
        old = row.wrapped
        dek = self.keys.unwrap(key_id, row.kek_id, old)
        changed = session.execute(
            update(DataKey).where(DataKey.id == key_id, DataKey.wrapped == old)
            .values(wrapped=self.keys.wrap(key_id, dek), kek_id=self.keys.current)
            .execution_options(synchronize_session=False)
        )
        session.expire(row)
        return bool(changed.rowcount)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class RotationReport:
    """What ``rotate`` did: data keys re-wrapped, and those left under another KEK (0 when done)."""

    kek_id: str
    rewrapped: int
    remaining: int


def _not_current(kek_id: str) -> Any:
    return (DataKey.wrapped.is_not(None)) & or_(DataKey.kek_id.is_(None), DataKey.kek_id != kek_id)


def rotate(sessions: Callable[[], Session], vault: Vault, *, batch: int = 500) -> RotationReport:
    """Re-wrap every live data key under ``vault``'s current KEK, ``batch`` keys per transaction.

    The service keeps running meanwhile: every process that can unwrap both the old and the new KEK
    reads every record at every moment, and new records are already wrapped under the new one, so
    the set to re-wrap only shrinks. Idempotent; safe to run again after an interruption.

    Raises:
        CryptoError: a data key's KEK is not configured (nothing after it is re-wrapped).
    """
    current = vault.keys.current
    rewrapped, after = 0, ""
    while True:
        with sessions() as session, session.begin():
            ids = list(session.scalars(select(DataKey.id).where(_not_current(current), DataKey.id > after)
                                       .order_by(DataKey.id).limit(batch)))
            for key_id in ids:
                rewrapped += vault.rewrap(session, key_id)
        if len(ids) < batch:
            break
        after = ids[-1]
    with sessions() as session:
        remaining = session.scalar(select(func.count()).select_from(DataKey).where(_not_current(current))) or 0
    return RotationReport(current, rewrapped, remaining)


def kek_counts(session: Session) -> dict[str, int]:
    """Live (not erased) data keys per KEK id (``s0`` for keys from before ids were recorded)."""
    rows = session.execute(select(DataKey.kek_id, func.count()).where(DataKey.wrapped.is_not(None))
                           .group_by(DataKey.kek_id))
    counts: dict[str, int] = {}
    for kek_id, count in rows:
        counts[kek_id or LEGACY_KEK_ID] = counts.get(kek_id or LEGACY_KEK_ID, 0) + count
    return counts


def keyed_hash(secret: str, purpose: str, message: bytes) -> bytes:
    """HMAC-SHA256 under a purpose-derived key (subject keys, API-key hashes, lookups)."""
    return hmac.new(derive_key(secret, purpose), message, hashlib.sha256).digest()
