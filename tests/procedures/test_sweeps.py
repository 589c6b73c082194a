"""Purges: expired challenges and day-old idempotency records are deleted in batches by workers,
live rows stay."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import func, select

from chain.storage import utcnow
from procedures import sweeps, wiring
from procedures.auth.models import Challenge, StaffLoginThrottle, StaffNotice
from procedures.auth.service import (
    LOGIN_FAILURE_MEMORY,
    SEEN_NOTICE_RETENTION,
    create_staff,
    purge_challenges,
    purge_login_records,
)
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


def test_forgotten_login_throttles_and_old_seen_notices_are_purged(settings, engine, sessions):
    runtime = _runtime(settings, engine, batch=2)
    now = utcnow()
    forgotten = now - LOGIN_FAILURE_MEMORY - timedelta(seconds=1)
    with sessions() as session, session.begin():
        staff = create_staff(session, runtime.vault, username="clerk9", password="clerk password 9", role="clerk",
                             department="road-maintenance")
        for i, (last, blocked) in enumerate([(forgotten, None), (forgotten, forgotten), (forgotten, None),
                                             (now, now + timedelta(minutes=5)),  # counting: stays
                                             (forgotten, now + timedelta(minutes=5))]):  # still waiting: stays
            session.add(StaffLoginThrottle(staff_id=staff.id, source=f"10.0.0.{i}", failures=6,
                                           first_failed_at=last, last_failed_at=last, blocked_until=blocked))
        old_seen = now - SEEN_NOTICE_RETENTION - timedelta(seconds=1)
        for source, seen in [("a", old_seen), ("b", now), ("c", None)]:  # recent and unseen ones stay
            session.add(StaffNotice(staff_id=staff.id, kind="failed_logins", source=source, count=6,
                                    created_at=old_seen, seen_at=seen))
    assert sweeps.purge_all(runtime, purge_login_records) == 4
    with sessions() as session:
        assert sorted(session.scalars(select(StaffLoginThrottle.source))) == ["10.0.0.3", "10.0.0.4"]
        assert sorted(session.scalars(select(StaffNotice.source))) == ["b", "c"]
    assert "auth.logins.purge" in wiring.workers()
