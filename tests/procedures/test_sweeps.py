"""Purges: expired challenges and day-old idempotency records are deleted in batches by workers,
live rows stay."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import func, select

from chain.storage import utcnow
from procedures import sweeps, wiring
from procedures.auth.models import Challenge
from procedures.auth.service import purge_challenges
from procedures.merchants import idempotency
from procedures.merchants.models import IdempotencyRecord
from procedures.runtime import Runtime

WALLET = "0x" + "11" * 20


def _runtime(settings, engine, batch: int = 3) -> Runtime:
    tuned = settings.model_copy(update={"purge_batch_size": batch, "purge_interval": 3600.0})
    return Runtime.create(tuned, engine=engine, run_migrations=False)


def _challenges(sessions, expired: int, live: int) -> None:
    now = utcnow()
    with sessions() as session, session.begin():
        for i in range(expired + live):
            ttl = timedelta(minutes=-1) if i < expired else timedelta(minutes=5)
            session.add(Challenge(nonce=f"0x{i:064x}", purpose="login", wallet=WALLET, expires_at=now + ttl,
                                  used_at=now if i % 2 else None))


def _count(sessions, column) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count(column))) or 0)


def test_expired_challenges_are_purged_in_batches_and_live_ones_stay(settings, engine, sessions):
    runtime = _runtime(settings, engine, batch=3)
    _challenges(sessions, expired=8, live=2)
    batches: list[int] = []

    def counting(session, now, limit):
        removed = purge_challenges(session, now, limit)
        batches.append(removed)
        return removed

    assert sweeps.purge_all(runtime, counting) == 8
    assert batches == [3, 3, 2]  # one transaction per batch of at most purge_batch_size rows
    with sessions() as session:
        left = list(session.scalars(select(Challenge).order_by(Challenge.nonce)))
    assert [c.expires_at > utcnow() for c in left] == [True, True]


def test_day_old_idempotency_records_are_purged_in_batches(settings, engine, sessions):
    runtime = _runtime(settings, engine, batch=2)
    old = utcnow() - idempotency.TTL - timedelta(seconds=1)
    with sessions() as session, session.begin():
        for i in range(5):
            session.add(IdempotencyRecord(owner="merchant:m", key=f"old-{i}", method="POST", path="/v1/x",
                                          fingerprint="f" * 64, created_at=old))
        session.add(IdempotencyRecord(owner="merchant:m", key="fresh", method="POST", path="/v1/x",
                                      fingerprint="f" * 64))
    assert sweeps.purge_all(runtime, idempotency.purge_expired) == 5
    with sessions() as session:
        assert list(session.scalars(select(IdempotencyRecord.key))) == ["fresh"]


def test_the_wired_purge_workers_clear_the_backlog(settings, engine, sessions):
    runtime = _runtime(settings, engine, batch=4)
    _challenges(sessions, expired=9, live=1)
    workers = wiring.workers()
    assert {"auth.challenges.purge", "merchants.idempotency.purge"} <= set(workers)
    stop = threading.Event()
    thread = threading.Thread(target=workers["auth.challenges.purge"], args=(runtime, stop), daemon=True)
    thread.start()
    try:
        for _ in range(400):  # the worker's first pass clears everything; wait for it, not for a time
            if _count(sessions, Challenge.nonce) == 1 or not thread.is_alive():
                break
            stop.wait(0.05)
    finally:
        stop.set()
        thread.join()
    assert _count(sessions, Challenge.nonce) == 1
