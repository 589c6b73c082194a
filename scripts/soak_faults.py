"""The soak's fault driver: kill -9 the service at random moments and cut the chain RPC for a while.

Moments are drawn as fractions of the run's progress (payments done / planned), so they land
inside the load whatever the machine's speed. When there is an outage and at least two kills,
one kill falls inside the outage: the service must also come back up while the chain is down.
During the outage a probe checks that reads and database-only writes are still answered.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable

import httpx

from chain.faults import RpcProxy
from scripts.soak_service import ServiceProcess


class FaultDriver(threading.Thread):
    """Runs the schedule in its own thread; ``join()`` returns once every fault was carried out."""

    def __init__(self, service: ServiceProcess, proxy: RpcProxy, *, kills: int, outage_s: float,
                 progress: Callable[[], float], rng: random.Random, merchant_auth: str) -> None:
        super().__init__(name="soak-faults", daemon=True)
        self.service, self.proxy = service, proxy
        self.outage_s = outage_s
        self.kill_in_outage = outage_s > 0 and kills >= 2
        self.kill_at = sorted(rng.uniform(0.05, 0.95) for _ in range(kills - int(self.kill_in_outage)))
        self.outage_at: float | None = rng.uniform(0.25, 0.6) if outage_s > 0 else None
        self.progress = progress
        self.merchant_auth = merchant_auth
        self.rpc_outage_s = 0.0
        self.probes: Counter[str] = Counter()
        self.restart_s: list[float] = []
        self.error: BaseException | None = None
        #: Set when a fault could not be carried out (e.g. the service did not come back) or a client
        #: failed: every client stops.
        self.failed = threading.Event()
        #: Set by the soak when its clients failed: the remaining faults are skipped.
        self.cancelled = threading.Event()

    def run(self) -> None:
        try:
            while (self.kill_at or self.outage_at is not None) and not self.cancelled.is_set():
                done = self.progress()
                if self.outage_at is not None and done >= self.outage_at:
                    self.outage_at = None
                    self._outage()
                elif self.kill_at and done >= self.kill_at[0]:
                    self.kill_at.pop(0)
                    self._kill()
                else:
                    time.sleep(0.05)
        except BaseException as exc:  # noqa: BLE001 - reported by the soak, which then fails
            self.error = exc
            self.failed.set()
            self.proxy.up()

    def _kill(self) -> None:
        self.service.kill9()
        self._restart()

    def _restart(self) -> None:
        started = time.monotonic()
        self.service.start()
        self.restart_s.append(time.monotonic() - started)

    def _outage(self) -> None:
        """Refuse the RPC for ``outage_s``; a kill inside it restarts in the background, so the
        outage lasts what was asked however long the restart takes."""
        self.proxy.down("refuse")
        started = time.monotonic()
        kill_at = started + 0.4 * self.outage_s if self.kill_in_outage else None
        restarter: threading.Thread | None = None
        errors: list[BaseException] = []
        try:
            while time.monotonic() - started < self.outage_s:
                if kill_at is not None and time.monotonic() >= kill_at:
                    kill_at = None
                    self.service.kill9()
                    restarter = threading.Thread(target=_capture(self._restart, errors), daemon=True)
                    restarter.start()
                if kill_at is not None:
                    # Probe only once the kill is done: three requests to a busy service can take
                    # longer than the whole outage, and the kill inside it must not be skipped.
                    time.sleep(0.05)
                    continue
                self._probe()
                time.sleep(0.5)
        finally:
            self.proxy.up()
            self.rpc_outage_s = time.monotonic() - started
        if restarter is not None:
            restarter.join()
        if errors:
            raise errors[0]

    def _probe(self) -> None:
        """While the chain is down: reads and database-only writes answer; /healthz says the chain is down."""
        headers = {"Authorization": self.merchant_auth}
        base = self.service.base
        try:
            read = httpx.get(f"{base}/v1/payment_requests", params={"limit": 3}, headers=headers, timeout=10)
            self.probes[f"outage_read_{read.status_code}"] += 1
            write = httpx.post(f"{base}/v1/payment_requests", headers=headers, timeout=10,
                               json={"amount": 1, "description": "probe", "expires_in": 30 * 86400})
            self.probes[f"outage_create_request_{write.status_code}"] += 1
            health = httpx.get(f"{base}/healthz", timeout=10)
            down = health.status_code == 503 and health.json().get("status") == "down"  # anonymous: up or down only
            self.probes["outage_healthz_chain_down" if down else "outage_healthz_chain_up"] += 1
        except httpx.HTTPError:
            self.probes["outage_probe_no_answer"] += 1  # the service is restarting


def _capture(fn: Callable[[], None], errors: list[BaseException]) -> Callable[[], None]:
    """``fn`` for a thread, with whatever it raises kept in ``errors``."""
    def run() -> None:
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - handed back to the driver's thread
            errors.append(exc)
    return run
