"""Notices to residents whose points are about to expire (issue 15): ``points_notice_days`` (30) before their
earliest points stop counting, by the chain's clock, once per wallet and expiry month — an
``application_notifications`` row of kind ``points_expiring`` whose reference is ``points:YYYY-MM`` (the
notifications residents already read; the amount and the instant in its data, nothing personal). The
wallets looked at are those the chain index saw receive points.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from chain.index_store import points_holders
from procedures.applications.models import Notification
from procedures.runtime import Runtime
from procedures.settlement.points import SWEEP_BATCH, expiry_datetime
from procedures.sweeps import run_every
from protocol.points import month_label, month_of

log = logging.getLogger("machi.points")

#: The notification a holder gets ``points_notice_days`` before points expire.
EXPIRY_NOTICE = "points_expiring"


def notify_expiring(session: Session, runtime: Runtime, wallets: Iterable[str] | None = None) -> int:
    """Tell every holder whose earliest points expire within ``points_notice_days`` (by the chain's clock), once
    per wallet and expiry month (an ``application_notifications`` row of kind ``points_expiring``, its reference
    ``points:YYYY-MM``). Returns how many were added.
    """
    coin = runtime.coin
    holders = list(dict.fromkeys(wallets if wallets is not None else points_holders(session)))
    horizon = coin.block_time() + runtime.settings.points_notice_days * 86_400
    added = 0
    for start in range(0, len(holders), SWEEP_BATCH):
        chunk = holders[start:start + SWEEP_BATCH]
        for wallet, held in zip(chunk, coin.points_of_many(chunk), strict=True):
            if not held.next_expiry or held.next_expiry > horizon:
                continue
            reference = f"points:{month_label(month_of(held.next_expiry - 1))}"
            if session.scalar(select(Notification.id).where(
                    Notification.wallet == wallet, Notification.kind == EXPIRY_NOTICE,
                    Notification.application_id == reference)) is not None:
                continue
            session.add(Notification(wallet=wallet, application_id=reference, kind=EXPIRY_NOTICE, data={
                "points": held.next_amount, "expires_at": expiry_datetime(month_of(held.next_expiry - 1)).isoformat()}))
            added += 1
    if added:
        log.info("told %d wallets that points expire within %d days", added, runtime.settings.points_notice_days)
    return added




def notice_worker(runtime: Runtime, stop: threading.Event) -> None:
    """``notify_expiring`` every ``points_sweep_interval`` seconds (hourly by default)."""
    def one_pass() -> None:
        with runtime.sessions.begin() as session:
            notify_expiring(session, runtime)

    run_every(runtime, stop, lambda r: r.settings.points_sweep_interval, one_pass, "points expiry notices",
              first_after=runtime.settings.points_sweep_interval)
