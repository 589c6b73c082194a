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


def run_every(runtime: Runtime, stop: threading.Event, interval: Callable[[Runtime], float],
              one_pass: Callable[[], object], what: str, *, first_after: float | None = None) -> None:
    """A periodic worker's loop: ``one_pass()`` every ``interval(runtime)`` seconds (read each time: tests
    tune the settings) until ``stop`` is set, the first pass at once or after ``first_after`` seconds. A
    failing pass is logged and retried at the next one, never ends the worker."""
    if first_after is not None and stop.wait(first_after):
        return
    while not stop.is_set():
        try:
            one_pass()
        except Exception:  # noqa: BLE001 - keep sweeping; the next pass retries
            log.exception("%s failed", what)
        stop.wait(interval(runtime))


def purge_worker(purge: Purge) -> Worker:
    """A worker running ``purge_all(purge)`` every ``settings.purge_interval`` seconds."""
    name = getattr(purge, "__qualname__", "purge")

    def worker(runtime: Runtime, stop: threading.Event) -> None:
        def one_pass() -> None:
            removed = purge_all(runtime, purge)
            if removed:
                log.info("%s: purged %d rows", name, removed)

        run_every(runtime, stop, lambda r: r.settings.purge_interval, one_pass, f"purge {name}")

    return worker
