"""Batched purges of rows that have served their purpose (expired challenges, day-old idempotency
records): a worker that deletes in short transactions, so a large backlog never holds a long lock.

A room supplies ``purge(session, now, limit) -> int`` (delete at most ``limit`` due rows, return
how many); ``procedures/wiring.py`` turns it into a worker with ``purge_worker``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

from chain.storage import utcnow
from procedures.runtime import Runtime, Worker

log = logging.getLogger("machi.sweeps")

#: ``purge(session, now, limit)``: delete at most ``limit`` rows due at ``now``; returns how many.
Purge = Callable[[Session, datetime, int], int]


def purge_all(runtime: Runtime, purge: Purge, now: datetime | None = None) -> int:
    """Run ``purge`` in batches of ``settings.purge_batch_size``, one transaction each, until a batch
    comes back short; returns how many rows went."""
    now = now or utcnow()
    batch = runtime.settings.purge_batch_size
    total = 0
    while True:
        with runtime.sessions() as session, session.begin():
            removed = purge(session, now, batch)
        total += removed
        if removed < batch:
            return total


def purge_worker(purge: Purge) -> Worker:
    """A worker running ``purge_all(purge)`` every ``settings.purge_interval`` seconds."""

    def worker(runtime: Runtime, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                removed = purge_all(runtime, purge)
                if removed:
                    log.info("%s: purged %d rows", getattr(purge, "__qualname__", "purge"), removed)
            except Exception:  # noqa: BLE001 - keep sweeping; the next pass retries
                log.exception("purge %s failed", getattr(purge, "__qualname__", "purge"))
            stop.wait(runtime.settings.purge_interval)

    return worker
