"""Bearer keys shown once and stored as a keyed hash: merchant API keys and Open311 keys.

A key is ``<prefix><12-char lookup><32-char secret>``; the row is found by its first characters
(prefix + lookup) and the whole key is compared, in constant time, against ``HMAC-SHA256(k, key)``,
``k`` derived from ``MACHI_SECRET_KEY`` and the kind of key. An unknown lookup is compared against a
dummy hash, so the answer takes as long whether or not a row exists.
"""

from __future__ import annotations

import hmac
import secrets

from procedures.config import Settings
from procedures.crypto import keyed_hash

LOOKUP_CHARS = 12
SECRET_CHARS = 32
_ALPHABET = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no look-alikes (l/1, O/0)
_DUMMY_HASH = b"\0" * 32


def new_token(prefix: str) -> str:
    """A fresh key beginning with ``prefix``."""
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(LOOKUP_CHARS + SECRET_CHARS))


def lookup_of(token: str, prefix: str) -> str:
    """The stored, non-secret start of ``token`` (its ``prefix`` and lookup) that finds the row."""
    return token[: len(prefix) + LOOKUP_CHARS]


def token_hash(settings: Settings, purpose: str, token: str) -> bytes:
    """The keyed hash stored for ``token``; ``purpose`` separates the kinds of key."""
    return keyed_hash(settings.secret_key.get_secret_value(), purpose, token.encode())


def token_matches(settings: Settings, purpose: str, stored: bytes | None, token: str) -> bool:
    """Whether ``token`` hashes to ``stored``, in constant time; ``None`` (no row) never matches
    but costs the same hash and compare."""
    expected = stored if stored is not None else _DUMMY_HASH
    return hmac.compare_digest(expected, token_hash(settings, purpose, token)) and stored is not None
