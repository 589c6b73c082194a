"""Points' expiry months, as the coin counts them (issue 15; ``contracts/src/JstMonth.sol``).

Points are kept in the coin's account word in seven buckets, one per expiry month (docs/coin-storage.md
§1.1). A month is a calendar month in Japan Standard Time (UTC+9 all year: Japan has no daylight saving),
numbered from January 2000: ``(year - 2000) * 12 + (month - 1)`` (December 2026 is 323). Points credited with
expiry month ``m`` count until ``month_start(m + 1)``, the first second of the next JST month.

The rule for a credit: its expiry (by default 180 days after the credit) is rounded **up** to the end of
the JST month it falls in, so a resident always gets at least the promised days, and a 180-day expiry lands
at most six months after the credit's own month — inside the seven buckets.

This module is the Python mirror of the Solidity library; both are tested against ``zoneinfo("Asia/Tokyo")``.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

__all__ = ["BUCKETS", "DEFAULT_EXPIRY_DAYS", "JST", "expires_at", "expiry_month", "month_label", "month_of",
           "month_start"]

#: Japan Standard Time as a fixed offset (the calendar the coin's months follow).
JST = timezone(timedelta(hours=9), "JST")
#: Expiry months an account word holds at once: the credit's own month and the six after it.
BUCKETS = 7
#: The default lifetime of a credit (a campaign or benefit may set fewer days, at most what fits in BUCKETS).
DEFAULT_EXPIRY_DAYS = 180
_BASE_YEAR = 2000


def month_of(timestamp: int) -> int:
    """The month index of the JST month containing unix second ``timestamp`` (from 2000-01 JST on).

    Raises:
        ValueError: an instant before January 2000 in JST.
    """
    moment = datetime.fromtimestamp(timestamp, JST)
    if moment.year < _BASE_YEAR:
        raise ValueError(f"months are counted from January {_BASE_YEAR} (JST); got {moment.isoformat()}")
    return (moment.year - _BASE_YEAR) * 12 + moment.month - 1


def month_start(month: int) -> int:
    """The unix second at which JST month index ``month`` begins (its first day, 00:00 JST).

    Raises:
        ValueError: a negative month index.
    """
    if month < 0:
        raise ValueError(f"a month index is 0 (January {_BASE_YEAR}) or more; got {month}")
    year, index = divmod(month, 12)
    return int(datetime(_BASE_YEAR + year, index + 1, 1, tzinfo=JST).timestamp())


def expiry_month(credited_at: int, days: int = DEFAULT_EXPIRY_DAYS) -> int:
    """The expiry month of points credited at unix second ``credited_at`` that must last ``days`` days:
    the month the ``days``-th day after the credit falls in (the points count to that month's end).

    Raises:
        ValueError: ``days`` is below 1, or so long that the month would not fit in the seven buckets.
    """
    if days < 1:
        raise ValueError(f"points last at least one day; got {days}")
    month = month_of(credited_at + days * 86_400)
    if month - month_of(credited_at) >= BUCKETS:
        raise ValueError(f"{days} days from the credit ends beyond the {BUCKETS} expiry months a wallet holds")
    return month


def expires_at(month: int) -> int:
    """The first unix second at which points of expiry month ``month`` no longer count."""
    return month_start(month + 1)


def last_day(month: int) -> date:
    """The last JST day on which points of expiry month ``month`` count (how a person reads an expiry)."""
    return (datetime.fromtimestamp(expires_at(month), tz=JST) - timedelta(days=1)).date()


def month_label(month: int) -> str:
    """``2026-12`` for month index 323 (how a person reads an expiry month)."""
    year, index = divmod(month, 12)
    return f"{_BASE_YEAR + year:04d}-{index + 1:02d}"
