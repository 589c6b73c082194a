"""The Payment Services Act report (資金決済法): the coin's unused balance at a base date and the deposit it
requires.

A prepaid payment instrument reports, for each base date (March 31 and September 30), its unused balance
(基準日未使用残高); once that exceeds ¥10,000,000 it deposits at least half of it (発行保証金, 第14条: half of
the whole balance, not of the part above the threshold). Here one coin is one yen.

The figures come from the chain, not from the service's records: the last block before the end of the
base date (24:00 in the city's time), and the indexed ``Transfer`` events up to that block — so the
report can be made long after the date, from a node that has pruned old state. Where the node still has
the state at that block, every indexed balance and the supply are checked against it (``chain_check``).

What counts as unused: coins held by residents — their wallets and what the offline reserve holds for
them. Coins at merchants are takings waiting for a payout (owed to the merchant, not unused), and coins
at city accounts (the treasury, the payout settlement account) are the city's own.

Points (premiums, benefits, rewards: given, not bought) are reported separately: unexpired points at the
instant, points expired but not yet swept, and what was credited, spent at shops and swept back during the
period, replayed from the indexed points events. The points fund (the coin's own account) holds the coins
backing them (``points_fund``); they are not residents' coins, and the mints that fill it are
``issued_to_points_fund``, not coins sold (``issued`` is the coins sold: top-ups).
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from web3.exceptions import Web3RPCError

from chain.index_store import (
    compare_balances,
    index_cursor,
    indexed_balances,
    last_block_at,
    points_position,
    supply_flow,
)
from chain.plan import COIN
from procedures.errors import InvalidRequest, Unavailable
from procedures.runtime import Runtime
from procedures.settlement.payouts import settlement_address
from procedures.transfers.models import CustodialWallet

#: The base dates (month, day) of a half-year report.
BASE_DATES = ((3, 31), (9, 30))
#: Unused balance above which half of it must be deposited (資金決済法 第14条, 基準額).
DEPOSIT_THRESHOLD = 10_000_000
#: An instant this recent may still gain blocks stamped before it (producers' clocks, whole seconds).
SETTLE_S = 3


def required_deposit(unused: int) -> int:
    """要供託額: once the unused balance exceeds ¥10,000,000, half of the **whole** unused balance (not of
    the part above it), rounded up to the yen; 0 at or below the threshold (資金決済法 第14条1項)."""
    return 0 if unused <= DEPOSIT_THRESHOLD else -(-unused // 2)


def period_start(as_of: datetime) -> datetime:
    """The start of the half-year that ends at or contains ``as_of`` (April 1 or October 1, 00:00, in
    ``as_of``'s zone): the report's issued and redeemed figures cover it."""
    moment = as_of - timedelta(microseconds=1)  # a base date's 24:00 belongs to the half it closes
    first = date(moment.year, 4, 1) if 4 <= moment.month <= 9 else (
        date(moment.year, 10, 1) if moment.month >= 10 else date(moment.year - 1, 10, 1))
    return datetime(first.year, first.month, first.day, tzinfo=as_of.tzinfo)


def recent_base_dates(today: date, count: int) -> list[date]:
    """The ``count`` most recent base dates before ``today``, the latest first."""
    years = range(today.year - (count + 1) // 2 - 1, today.year + 1)
    passed = [date(year, month, day) for year in years for month, day in BASE_DATES if date(year, month, day) < today]
    return sorted(passed, reverse=True)[:count]


def latest_base_date(today: date) -> date:
    """The most recent base date before ``today`` (the one a report is due for)."""
    return recent_base_dates(today, 1)[0]


def base_date_end(base_date: date, runtime: Runtime) -> datetime:
    """The end of a base date (the next day's 00:00 in the city's time).

    Raises:
        InvalidRequest: not March 31 or September 30.
    """
    if (base_date.month, base_date.day) not in BASE_DATES:
        raise InvalidRequest("a base date is March 31 or September 30 (use as_of for a figure on another day)",
                             code="not_a_base_date", param="base_date")
    following = base_date + timedelta(days=1)
    return datetime(following.year, following.month, following.day, tzinfo=runtime.settings.clock.zone)


def report_for(session: Session, runtime: Runtime, base_date: date | None = None,
               as_of: datetime | None = None) -> PrepaidReport:
    """The report for ``base_date``, or an interim figure at ``as_of`` (no zone: the city's time); neither:
    the most recent base date.

    Raises:
        InvalidRequest: both given, not a base date, in the future or before the chain.
        Unavailable: the index is behind.
    """
    clock = runtime.settings.clock
    if base_date is not None and as_of is not None:
        raise InvalidRequest("give a base date or an instant (as_of), not both", code="ambiguous_date",
                             param="as_of")
    if as_of is not None:
        return prepaid_report(session, runtime, clock.aware(as_of))
    base_date = base_date or latest_base_date(clock.today())
    return prepaid_report(session, runtime, base_date_end(base_date, runtime), base_date)


@dataclass(frozen=True)
class PrepaidReport:
    """The report's figures (coins = yen)."""

    base_date: str | None  # the legal base date; None for an interim figure at ``as_of``
    as_of: str  # the instant the figures are taken at (ISO 8601, the city's time)
    period_start: str
    block: int  # the last block before ``as_of``
    block_time: str
    unused_balance: int  # residents' coins, wallets and offline reserve together
    residents_wallets: int
    offline_reserve: int
    holders: int  # resident wallets with coins
    merchants_unredeemed: int
    city_accounts: int
    total_supply: int
    issued: int  # coins minted to residents during the period (top-ups)
    redeemed: int  # burned during the period (merchants' payouts)
    required_deposit: int
    chain_check: str  # matched | differs | unavailable (the node no longer has that block's state)
    chain_differences: int
    points_unused: int = 0  # unexpired points at as_of
    points_expired_unswept: int = 0  # expired, not yet swept back to the fund
    points_holders: int = 0  # wallets with unexpired points
    points_credited: int = 0  # during the period
    points_spent: int = 0  # at shops, during the period (the fund paid them in coins)
    points_swept: int = 0  # expired points back to the fund, during the period
    points_fund: int = 0  # the fund's coins (backing points, and free ones)
    issued_to_points_fund: int = 0  # coins minted to the fund during the period

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def prepaid_report(session: Session, runtime: Runtime, as_of: datetime, base_date: date | None = None) -> PrepaidReport:
    """The figures at ``as_of`` (aware), over the half-year it ends or falls in.

    Raises:
        InvalidRequest: ``as_of`` is in the future, or before the chain's first block.
        Unavailable: the index has not confirmed that far yet (retry when it has).
    """
    clock = runtime.settings.clock
    as_of = as_of.replace(microsecond=0)  # blocks carry whole seconds; the report shows whole seconds
    now = clock.now()
    if as_of > now:
        raise InvalidRequest("that time has not come yet", code="report_in_future",
                             param="base_date" if base_date else "as_of")
    if as_of > now - timedelta(seconds=SETTLE_S):
        # a block made in these seconds may still carry a time before as_of: the figure could change
        raise Unavailable(f"the figures of the last {SETTLE_S} seconds may still change; retry shortly",
                          code="too_recent", headers={"Retry-After": str(SETTLE_S)})
    w3 = runtime.w3
    block = last_block_at(w3, as_of.timestamp() - 1e-6)  # what stood just before as_of
    if block is None:
        raise InvalidRequest("the chain starts after that time: nothing was issued by then", code="before_chain",
                             param="base_date" if base_date else "as_of")
    cursor = index_cursor(session)
    confirmed = None if cursor is None or cursor.head is None else min(
        cursor.last_block or -1, cursor.head - runtime.settings.effective_confirmations + 1)
    if confirmed is None or confirmed < block:
        raise Unavailable(f"the chain index has not confirmed block {block} yet; retry shortly",
                          code="index_behind", headers={"Retry-After": "10"})
    start = period_start(clock.local(as_of))  # the half-year in the city's calendar, whatever zone as_of came in
    start_block = last_block_at(w3, start.timestamp() - 1e-6)  # the last block of the half before
    flow = supply_flow(session, -1 if start_block is None else start_block, block)

    balances = indexed_balances(session, block)
    custodial: dict[str, str] = dict(session.execute(
        select(CustodialWallet.address, CustodialWallet.owner_type)).all())
    # key-held city accounts are no CustodialWallet rows: the payout settlement account holds merchants'
    # coins between their transfer and the burn (and after a failed burn), the city's, not residents'
    for address in city_key_accounts(runtime):
        custodial.setdefault(address, "city")
    reserve, fund = runtime.reserve.address, runtime.coin.address
    residents = reserve_held = merchants = city = holders = fund_coins = 0
    for wallet, balance in balances.items():
        kind = custodial.get(wallet)
        if wallet == fund:
            fund_coins += balance
        elif wallet == reserve:
            reserve_held += balance
        elif kind == "merchant":
            merchants += balance
        elif kind == "city":
            city += balance
        else:
            residents += balance
            holders += balance > 0
    check, differences = _check(session, runtime, block, balances)
    unused = residents + reserve_held
    when = w3.eth.get_block(block)["timestamp"]
    points = points_position(session, w3, block, int(as_of.timestamp()), -1 if start_block is None else start_block)
    return PrepaidReport(
        base_date=None if base_date is None else base_date.isoformat(), as_of=clock.iso(as_of),
        period_start=clock.iso(start), block=block, block_time=clock.iso(datetime.fromtimestamp(int(when), clock.zone)),
        unused_balance=unused, residents_wallets=residents, offline_reserve=reserve_held, holders=holders,
        merchants_unredeemed=merchants, city_accounts=city, total_supply=sum(balances.values()),
        issued=flow.issued - flow.to_fund, redeemed=flow.redeemed, required_deposit=required_deposit(unused),
        chain_check=check, chain_differences=differences, points_unused=points.unexpired,
        points_expired_unswept=points.expired_unswept, points_holders=points.holders, points_credited=points.credited,
        points_spent=points.spent, points_swept=points.swept, points_fund=fund_coins,
        issued_to_points_fund=flow.to_fund)


def city_key_accounts(runtime: Runtime) -> list[str]:
    """City accounts whose key the service holds outside the custodial wallets (the payout settlement
    account)."""
    return [settlement_address(runtime)]


def _check(session: Session, runtime: Runtime, block: int, balances: dict[str, int] | None = None) -> tuple[str, int]:
    try:
        _, differences, supply = compare_balances(session, runtime.w3, runtime.manifest.address(COIN), block,
                                                  balances)
    except (ValueError, Web3RPCError):  # the node answered with an error: its state at that block is pruned
        return "unavailable", 0
    off = len(differences) + (supply["indexed"] != supply["chain"])
    return ("matched" if off == 0 else "differs"), off


#: CSV columns, with the Japanese heading a filing clerk reads.
CSV_HEADINGS = {
    "base_date": "基準日", "as_of": "集計時点", "period_start": "期間開始", "block": "ブロック",
    "block_time": "ブロック時刻", "unused_balance": "基準日未使用残高", "residents_wallets": "うち利用者ウォレット",
    "offline_reserve": "うちオフライン確保", "holders": "保有者数", "merchants_unredeemed": "加盟店未換金残高",
    "city_accounts": "市の口座", "total_supply": "発行総額(残高)", "issued": "期間中の発行額",
    "redeemed": "期間中の換金額", "required_deposit": "要供託額", "chain_check": "チェーン照合",
    "chain_differences": "照合差異", "points_unused": "未使用ポイント",
    "points_expired_unswept": "期限切れ未回収ポイント", "points_holders": "ポイント保有者数",
    "points_credited": "期間中のポイント付与", "points_spent": "期間中のポイント利用",
    "points_swept": "期間中のポイント失効回収", "points_fund": "ポイント原資",
    "issued_to_points_fund": "期間中の原資への発行",
}


def csv_filename(report: PrepaidReport) -> str:
    """``prepaid_2026-09-30.csv`` (an interim figure: its day)."""
    return f"prepaid_{report.base_date or report.as_of[:10]}.csv"


def to_csv(report: PrepaidReport) -> str:
    """Two header rows (Japanese headings, field names) and the figures."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    row = report.to_dict()
    writer.writerow(CSV_HEADINGS[name] for name in row)
    writer.writerow(row)
    writer.writerow("" if value is None else value for value in row.values())
    return out.getvalue()
