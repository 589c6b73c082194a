"""Single-use, short-lived challenge nonces of the link statement, and the statement's freshness.

The service issues a nonce per challenge and consumes it once (its own store lives in the database);
``MemoryNonceStore`` is the same contract in memory.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from protocol.errors import NonceExpired, NonceReused
from protocol.statement import LinkStatement

__all__ = ["MemoryNonceStore", "check_freshness", "new_nonce"]


def new_nonce() -> bytes:
    """32 random bytes."""
    return secrets.token_bytes(32)


def check_freshness(
    statement: LinkStatement,
    *,
    now: datetime,
    max_age: timedelta = timedelta(minutes=5),
    max_future_skew: timedelta = timedelta(seconds=30),
) -> None:
    """Raise ``NonceExpired`` if ``issued_at`` is older than ``max_age`` or ahead of
    ``now`` by more than ``max_future_skew``."""
    issued = statement.issued_at_datetime
    if issued < now - max_age:
        raise NonceExpired("statement is too old")
    if issued > now + max_future_skew:
        raise NonceExpired("statement is dated in the future")


class MemoryNonceStore:
    """Single-use, short-lived challenge nonces (in memory; the service keeps the same
    contract in its database).

    ``issue()`` returns a fresh nonce; ``consume(nonce)`` accepts it once within
    ``ttl``: a second use raises ``NonceReused``, an unknown or expired nonce
    ``NonceExpired``.
    """

    def __init__(
        self,
        ttl: timedelta = timedelta(minutes=5),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._ttl = ttl
        self._clock = clock
        self._issued: dict[bytes, datetime] = {}
        self._used: dict[bytes, datetime] = {}
        self._lock = threading.Lock()

    def issue(self) -> bytes:
        nonce = new_nonce()
        with self._lock:
            self._purge()
            self._issued[nonce] = self._clock() + self._ttl
        return nonce

    def consume(self, nonce: bytes) -> None:
        with self._lock:
            now = self._clock()
            if nonce in self._used:
                raise NonceReused()
            expires = self._issued.pop(nonce, None)
            if expires is None:
                raise NonceExpired("unknown nonce")
            self._used[nonce] = expires
            if now > expires:
                raise NonceExpired("nonce expired")

    def _purge(self) -> None:
        now = self._clock()
        for table in (self._issued, self._used):
            for nonce in [n for n, exp in table.items() if exp < now]:
                del table[nonce]
