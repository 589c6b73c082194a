"""Console sessions: an opaque cookie → a server-side row (only the token's hash is stored),
with a per-session CSRF token every state-changing form must echo."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from chain.storage import Base, UTCDateTime, utcnow

COOKIE = "machi_console"
LIFETIME = timedelta(hours=8)


class ConsoleSession(Base):
    """A logged-in browser."""

    __tablename__ = "console_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    staff_id: Mapped[int] = mapped_column(Integer)
    csrf_token: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(session: Session, staff_id: int) -> tuple[str, ConsoleSession]:
    """A new session for a staff member; returns the cookie value (shown to the browser only)."""
    token = secrets.token_urlsafe(32)
    row = ConsoleSession(token_hash=_hash(token), staff_id=staff_id, csrf_token=secrets.token_urlsafe(32),
                         expires_at=utcnow() + LIFETIME)
    session.add(row)
    session.flush()
    return token, row


def resolve(session: Session, token: str | None) -> ConsoleSession | None:
    """The live session for a cookie value, or None."""
    if not token:
        return None
    row = session.scalar(select(ConsoleSession).where(ConsoleSession.token_hash == _hash(token)))
    if row is None or row.expires_at <= utcnow():
        return None
    return row


def end(session: Session, token: str | None) -> None:
    """Log out: the session row is deleted."""
    row = resolve(session, token)
    if row is not None:
        session.delete(row)


def csrf_ok(row: ConsoleSession, submitted: str | None) -> bool:
    """Constant-time check of a form's CSRF token."""
    return bool(submitted) and hmac.compare_digest(row.csrf_token, str(submitted))
