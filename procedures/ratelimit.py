"""A small in-process rate limiter for login and challenge endpoints (per client address).

Good enough for one API process; behind several workers each enforces its own share, which
still caps brute force. A shared limiter (e.g. in PostgreSQL) can replace it behind ``limit``.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque

from fastapi import Request

from procedures.errors import RateLimited

_lock = threading.Lock()
_hits: dict[tuple[str, str], deque[float]] = defaultdict(deque)


def client_address(request: Request) -> str:
    """The caller's address: the connection's peer, or the client a trusted proxy names
    (``procedures.api.proxies``)."""
    return request.client.host if request.client else "unknown"


def limit(request: Request, bucket: str, per_minute: int) -> None:
    """Refuse with 429 + Retry-After when this client called ``bucket`` too often in the last minute."""
    limit_for(bucket, client_address(request), per_minute)


def limit_for(bucket: str, who: str, per_minute: int) -> None:
    """Refuse with 429 + Retry-After when ``who`` (an address, an API key) hit ``bucket`` too often in the
    last minute."""
    now = time.monotonic()
    with _lock:
        hits = _hits[(bucket, who)]
        while hits and now - hits[0] > 60:
            hits.popleft()
        if len(hits) >= per_minute:
            retry = int(60 - (now - hits[0])) + 1
            raise RateLimited(f"too many requests to {bucket}; slow down", headers={"Retry-After": str(retry)})
        hits.append(now)


def reset() -> None:
    """Forget all counters (tests)."""
    with _lock:
        _hits.clear()
