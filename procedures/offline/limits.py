"""Disaster mode: an operator raises the offline reserve limit city-wide for a period.

Each declaration is a ``DisasterPeriod`` row — the audit record (who, why, from when to when, who ended it
early). The limit in force is the setting's (``MACHI_OFFLINE_RESERVE_LIMIT``) or, while a period runs, the
highest limit of the periods running; nothing is ever lowered below the setting.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from chain.storage import utcnow
from procedures.config import Settings
from procedures.errors import Conflict, InvalidRequest
from procedures.ids import new_id
from procedures.offline.models import DisasterPeriod
from procedures.rows import row_or_404

__all__ = ["MAX_PERIOD", "active_periods", "declare", "end", "reserve_limit"]

log = logging.getLogger("machi.offline")

#: The longest disaster period one declaration may run (declare again to extend).
MAX_PERIOD = timedelta(days=30)
#: The highest offline reserve limit disaster mode may set (coins).
MAX_LIMIT = 1_000_000


def active_periods(session: Session, now: datetime | None = None) -> list[DisasterPeriod]:
    """Disaster periods running now, the latest declared first."""
    now = now or utcnow()
    return list(session.scalars(select(DisasterPeriod).where(
        DisasterPeriod.starts_at <= now, DisasterPeriod.ends_at > now, DisasterPeriod.ended_at.is_(None))
        .order_by(DisasterPeriod.starts_at.desc())).all())


def reserve_limit(session: Session, settings: Settings, now: datetime | None = None) -> int:
    """The most coins one offline reserve may hold now."""
    return max([settings.offline_reserve_limit, *(p.reserve_limit for p in active_periods(session, now))])


def declare(session: Session, settings: Settings, *, reserve_limit: int, hours: int, reason: str,
            operator: str) -> DisasterPeriod:
    """Start disaster mode now for ``hours`` with ``reserve_limit`` (caller's transaction).

    Raises:
        InvalidRequest: a limit not above the setting's, or over ``MAX_LIMIT``; a period too long; no reason.
    """
    if not settings.offline_reserve_limit < reserve_limit <= MAX_LIMIT:
        raise InvalidRequest(f"disaster mode raises the offline limit above the usual "
                             f"{settings.offline_reserve_limit:,} coins, to at most {MAX_LIMIT:,}",
                             param="reserve_limit")
    if not 0 < hours <= MAX_PERIOD.total_seconds() // 3600:
        raise InvalidRequest(f"a disaster period lasts 1 to {int(MAX_PERIOD.total_seconds() // 3600)} hours "
                             "(declare again to extend)", param="hours")
    if not reason.strip():
        raise InvalidRequest("say why (the audit record keeps it)", param="reason")
    now = utcnow()
    period = DisasterPeriod(id=new_id("dis"), reserve_limit=reserve_limit, reason=reason.strip()[:200],
                            declared_by=operator, starts_at=now, ends_at=now + timedelta(hours=hours))
    session.add(period)
    session.flush()
    log.warning("disaster mode declared by %s until %s: offline reserve limit %d (%s)", operator,
                period.ends_at.isoformat(), reserve_limit, period.reason)
    return period


def end(session: Session, period_id: str, operator: str) -> DisasterPeriod:
    """End a running disaster period now.

    Raises:
        NotFound: no such period.  Conflict: it is over already.
    """
    period = row_or_404(session, DisasterPeriod, period_id, what="disaster period")
    now = utcnow()
    if period.ended_at is not None or period.ends_at <= now:
        raise Conflict("this disaster period is over already", code="period_over")
    period.ended_at, period.ended_by = now, operator
    log.warning("disaster mode %s ended early by %s", period.id, operator)
    return period
