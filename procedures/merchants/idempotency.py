"""``Idempotency-Key`` (Stripe semantics) for POST endpoints.

The first successful response to a key is stored with a fingerprint of the request (method,
path, canonical JSON body) in the same database transaction as the work it describes, and kept
24 hours. A retry with the same key and the same request gets the stored bytes back unchanged
(``Idempotent-Replayed: true``); the same key with a different request is a 409. Errors are not
stored: the transaction rolls back, so retrying a refused request runs it again. A second request
racing the first with the same key waits for it (PostgreSQL: the unique index; SQLite: writers
are serialised) and then replays or conflicts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import Header, Request, Response
from pydantic import BaseModel
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from chain.storage import utcnow
from procedures.errors import Conflict, InvalidRequest
from procedures.merchants.models import IdempotencyRecord

TTL = timedelta(hours=24)

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(alias="Idempotency-Key", max_length=255,
           description="a unique key per operation; retries with the same key return the first response"),
]


class IdempotencyConflict(Conflict):
    """The key was used for a different request (or that request is still running)."""

    code = "idempotency_key_reused"


def fingerprint(method: str, path: str, body: Any) -> str:
    """SHA-256 over the method, the path and the body as canonical JSON."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(f"{method.upper()} {path}\n{canonical}".encode()).hexdigest()


def render(model: BaseModel) -> bytes:
    """The JSON bytes a response model is sent as (and stored as, for replays)."""
    return model.model_dump_json(by_alias=True).encode()


def run_idempotent(
    session: Session,
    request: Request,
    owner: str,
    key: str | None,
    body: Any,
    produce: Callable[[], BaseModel],
    status_code: int = 200,
) -> Response:
    """Run ``produce`` at most once per (``owner``, ``key``) and answer with its JSON.

    Args:
        owner: whose key space (``merchant:<id>``, ``staff:<id>``).
        key: the ``Idempotency-Key`` header, or ``None`` (then it simply runs).
        body: the parsed request body (part of the fingerprint).
        produce: does the work in ``session``'s transaction and returns the response model.

    Raises:
        IdempotencyConflict: the key belongs to another request, or a request with it is in flight.
        InvalidRequest: the key is empty.
    """
    if key is None:
        return Response(render(produce()), status_code, media_type="application/json")
    key = key.strip()
    if not key:
        raise InvalidRequest("Idempotency-Key must not be empty", param="Idempotency-Key")
    print_ = fingerprint(request.method, request.url.path, body)
    cutoff = utcnow() - TTL
    existing = session.scalar(select(IdempotencyRecord).where(IdempotencyRecord.owner == owner,
                                                              IdempotencyRecord.key == key))
    if existing is not None and existing.created_at <= cutoff:
        session.delete(existing)  # expired: the key may be used afresh
        session.flush()
        existing = None
    if existing is not None:
        if existing.fingerprint != print_:
            raise IdempotencyConflict(
                "this Idempotency-Key was already used with different parameters; use a new key",
                param="Idempotency-Key")
        if existing.body is None or existing.status_code is None:
            raise IdempotencyConflict("a request with this Idempotency-Key is still being processed; retry later",
                                      code="idempotency_key_in_use", param="Idempotency-Key")
        return Response(existing.body, existing.status_code, media_type="application/json",
                        headers={"Idempotent-Replayed": "true"})
    record = IdempotencyRecord(owner=owner, key=key, method=request.method.upper(), path=request.url.path,
                               fingerprint=print_)
    session.add(record)
    try:
        session.flush()  # claim the key first: a concurrent twin blocks here or fails on the unique index
    except IntegrityError:
        raise IdempotencyConflict("a request with this Idempotency-Key is being processed; retry later",
                                  code="idempotency_key_in_use", param="Idempotency-Key") from None
    content = render(produce())
    record.status_code = status_code
    record.body = content
    return Response(content, status_code, media_type="application/json")


def purge_expired(session: Session, now: datetime, limit: int) -> int:
    """Delete at most ``limit`` records older than 24 hours (oldest first); returns how many."""
    due = (select(IdempotencyRecord.id).where(IdempotencyRecord.created_at <= now - TTL)
           .order_by(IdempotencyRecord.created_at).limit(limit))
    ids = list(session.scalars(due))
    if ids:
        session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id.in_(ids)))
    return len(ids)
