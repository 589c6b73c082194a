"""JST months for points' expiry (issue 15): the Solidity library ``JstMonth`` and its Python mirror
``protocol.points`` agree with each other and with ``zoneinfo("Asia/Tokyo")`` for every month from 2000 to
2106 and for the seconds around every month's start; the expiry rule always gives at least the promised days
and fits in the account word's seven buckets.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractPanicError

from chain.compiler import compile_contracts
from chain.toolchain import PROJECT_ROOT
from protocol.points import BUCKETS, DEFAULT_EXPIRY_DAYS, expires_at, expiry_month, month_label, month_of, month_start
from tests.conftest import Keys, deploy_fixture

TOKYO = ZoneInfo("Asia/Tokyo")
FIRST, LAST = 0, (2106 - 2000) * 12 + 11  # January 2000 .. December 2106
EARLIEST = int(datetime(2000, 1, 1, tzinfo=TOKYO).timestamp())
LATEST = int(datetime(2107, 1, 1, tzinfo=TOKYO).timestamp()) - 1


@pytest.fixture(scope="module")
def probe(w3: Web3, keys: Keys) -> Contract:
    """``tests/fixtures/jst_month/JstMonthProbe.sol``, compiled with the contracts' sources it imports."""
    sources = [PROJECT_ROOT / "contracts" / "src", PROJECT_ROOT / "tests" / "fixtures" / "jst_month"]
    return deploy_fixture(w3, keys.deployer, compile_contracts(sources)["JstMonthProbe"])


def tokyo_start(month: int) -> int:
    """The oracle: the first second of the month in Asia/Tokyo, by the zone database."""
    year, index = divmod(month, 12)
    return int(datetime(2000 + year, index + 1, 1, tzinfo=TOKYO).timestamp())


def tokyo_month(timestamp: int) -> int:
    moment = datetime.fromtimestamp(timestamp, TOKYO)
    return (moment.year - 2000) * 12 + moment.month - 1


def test_every_month_start_from_2000_to_2106_matches_the_zone_database(probe: Contract) -> None:
    months = list(range(FIRST, LAST + 1))
    expected = [tokyo_start(m) for m in months]
    assert probe.functions.starts(months).call() == expected
    assert [month_start(m) for m in months] == expected
    assert month_start(323) == int(datetime(2026, 12, 1, tzinfo=TOKYO).timestamp()) and month_label(323) == "2026-12"


def test_the_seconds_around_every_month_start_fall_in_the_right_month(probe: Contract) -> None:
    around = [s + delta for s in (tokyo_start(m) for m in range(FIRST + 1, LAST + 1)) for delta in (-1, 0, 1)]
    expected = [tokyo_month(t) for t in around]
    assert expected[:3] == [0, 1, 1]  # the oracle itself: 1 s before February 2000 is still January
    assert probe.functions.monthsOf(around).call() == expected
    assert [month_of(t) for t in around] == expected


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(EARLIEST, LATEST), min_size=1, max_size=50))
def test_any_instant_is_in_the_same_month_on_chain_in_python_and_in_the_zone_database(
        probe: Contract, timestamps: list[int]) -> None:
    expected = [tokyo_month(t) for t in timestamps]
    assert probe.functions.monthsOf(timestamps).call() == expected
    assert [month_of(t) for t in timestamps] == expected


def test_instants_before_2000_are_refused_on_chain_and_in_python(probe: Contract) -> None:
    with pytest.raises(ContractPanicError, match="overflow"):  # checked arithmetic: year - 2000 < 0
        probe.functions.monthsOf([EARLIEST - 1]).call()
    with pytest.raises(ValueError, match="January 2000"):
        month_of(EARLIEST - 1)
    with pytest.raises(ValueError, match="month index"):
        month_start(-1)
    assert month_of(EARLIEST) == 0 and probe.functions.monthsOf([EARLIEST]).call() == [0]


def test_a_180_day_credit_lasts_at_least_180_days_and_fits_in_the_seven_buckets() -> None:
    rng = random.Random(15)
    start = datetime(2026, 1, 1, tzinfo=TOKYO)
    # every hour-ish of three years, month ends and leap days included (2028-02-29)
    credits = [int((start + timedelta(hours=h, seconds=rng.randrange(3600))).timestamp())
               for h in range(0, 3 * 366 * 24, 7)]
    for credited in credits:
        month = expiry_month(credited)
        assert expires_at(month) >= credited + DEFAULT_EXPIRY_DAYS * 86_400
        # rounded up to the end of that month, no further
        assert expires_at(month - 1) < credited + DEFAULT_EXPIRY_DAYS * 86_400
        assert 0 <= month - month_of(credited) < BUCKETS


def test_an_expiry_beyond_the_buckets_or_shorter_than_a_day_is_refused() -> None:
    jan31 = int(datetime(2027, 1, 31, 12, tzinfo=TOKYO).timestamp())
    assert month_label(expiry_month(jan31)) == "2027-07"  # 180 days: July 30
    with pytest.raises(ValueError, match="beyond the 7 expiry months"):
        expiry_month(jan31, days=215)  # August 2027: the seventh month after January
    with pytest.raises(ValueError, match="at least one day"):
        expiry_month(jan31, days=0)
    assert month_label(expiry_month(jan31, days=1)) == "2027-02"
