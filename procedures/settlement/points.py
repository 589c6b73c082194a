"""Points (issue 15): top-up premiums, benefits and civic rewards reach a resident as points on chain.

Every credit is ``RegionalCoin.creditPoints(wallet, amount, expiryMonth)`` sent by one key, the benefits
minter (``POINTS_ISSUER_ROLE``, within its minter allowance), through the outbox: a premium, a childcare
benefit and a snow-report reward have the same sender, the same function and the same events, so the chain
does not say which is which (only the amount may: ``docs/privacy.md``). The expiry is computed from the
chain's clock when the credit is queued (``protocol.points.expiry_month``: the days rounded up to the end of
that JST month).

The sweep gives expired points back to the fund: ``sweepExpiredPoints`` over the wallets that hold expired
points (found among those the chain index saw receive points), in batches, sent by the same key through the
outbox (anyone may call it; the service uses its own key). A second sweep finds nothing and queues nothing.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from chain.index_store import points_holders
from chain.outbox import TxIntent, enqueue
from procedures.runtime import Runtime
from procedures.sweeps import run_every
from protocol.points import expires_at, expiry_month, month_of

log = logging.getLogger("machi.points")

#: Accounts per ``sweepExpiredPoints`` transaction (≈ 12.7k gas each: a batch stays far below a block).
SWEEP_BATCH = 100
#: The outbox kind of sweep transactions (nothing to do once final: the next sweep reads the chain again).
SWEEP_KIND = "points.sweep"


def expiry_for(runtime: Runtime, days: int | None = None) -> int:
    """The expiry month of points credited now (the chain's clock) that must last ``days`` (default
    ``points_expiry_days``)."""
    return expiry_month(runtime.coin.block_time(), days or runtime.settings.points_expiry_days)


def expiry_datetime(month: int) -> datetime:
    """When points of expiry month ``month`` stop counting (the next JST month's first second), in UTC."""
    return datetime.fromtimestamp(expires_at(month), tz=UTC)


def queue_credit(session: Session, runtime: Runtime, wallet: str, amount: int, expiry: int, *, kind: str,
                 reference: str) -> TxIntent:
    """Queue a points credit of ``amount`` to ``wallet`` with expiry month ``expiry`` (``expiry_for``), once per
    ``reference`` (a second call returns the first intent)."""
    call = runtime.coin.credit_points_call(wallet, amount, expiry)
    return enqueue(session, sender=runtime.keys.benefits_minter.address, to=call.to, data=call.data, kind=kind,
                   reference=reference)


def points_budget(runtime: Runtime) -> int:
    """What the points key may still credit (its minter allowance: every credit counts against it)."""
    return runtime.coin.minter_allowance(runtime.keys.benefits_minter.address)


@dataclass(frozen=True)
class SweepResult:
    """One sweep: the wallets looked at, those holding expired points, the points and the queued transactions."""

    checked: int
    wallets: int
    points: int
    intents: list[int]


def sweep_expired(session: Session, runtime: Runtime, wallets: Iterable[str] | None = None,
                  batch: int = SWEEP_BATCH) -> SweepResult:
    """Queue ``sweepExpiredPoints`` for every wallet that holds expired points now (default: every wallet the
    index saw receive points), ``batch`` wallets per transaction, sent by the points key through the outbox.

    Idempotent: a wallet without expired points is not queued (a second run after the first was mined queues
    nothing), and a batch queued again before it was mined is the same intent (its reference is the JST month
    and the batch's wallets). Wallets are read in one JSON-RPC batch per ``batch`` wallets.
    """
    coin = runtime.coin
    candidates = list(dict.fromkeys(wallets if wallets is not None else points_holders(session)))
    due: list[tuple[str, int]] = []
    for start in range(0, len(candidates), batch):
        chunk = candidates[start:start + batch]
        due += [(w, p.expired) for w, p in zip(chunk, coin.points_of_many(chunk), strict=True) if p.expired]
    month = month_of(coin.block_time())
    intents = []
    for start in range(0, len(due), batch):
        chunk = sorted(w for w, _ in due[start:start + batch])
        call = coin.sweep_expired_points_call(chunk)
        digest = hashlib.sha256(",".join(chunk).encode()).hexdigest()[:24]
        intent = enqueue(session, sender=runtime.keys.benefits_minter.address, to=call.to, data=call.data,
                         kind=SWEEP_KIND, reference=f"{SWEEP_KIND}:{month}:{digest}")
        intents.append(intent.id)
    points = sum(p for _, p in due)
    if due:
        log.info("queued the sweep of %d expired points of %d wallets (%d transactions)", points, len(due),
                 len(intents))
    return SweepResult(checked=len(candidates), wallets=len(due), points=points, intents=intents)


def sweep_worker(runtime: Runtime, stop: threading.Event) -> None:
    """Queue the sweep of expired points every ``points_sweep_interval`` seconds (hourly by default: points
    expire at the start of a JST month, and a pass that finds nothing queues nothing)."""
    def one_pass() -> None:
        with runtime.sessions.begin() as session:
            sweep_expired(session, runtime)

    run_every(runtime, stop, lambda r: r.settings.points_sweep_interval, one_pass, "points sweep",
              first_after=runtime.settings.points_sweep_interval)
