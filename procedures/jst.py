"""Japan time: what the city's counters, banks and merchants mean by a date or a time without a zone."""

from __future__ import annotations

from datetime import date, datetime
from typing import overload
from zoneinfo import ZoneInfo

JST = ZoneInfo("Asia/Tokyo")


@overload
def aware(value: datetime) -> datetime: ...
@overload
def aware(value: None) -> None: ...
def aware(value: datetime | None) -> datetime | None:
    """``value`` with a zone: times given without one (query parameters, forms) are Japan time."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=JST)
    return value


def now() -> datetime:
    """Now, in Japan."""
    return datetime.now(JST)


def today() -> date:
    """Today in Japan (banks' calendar)."""
    return now().date()
