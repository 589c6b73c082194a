"""Webhook delivery: the worker that POSTs each pending delivery, signed, and retries.

Every event's stored JSON body is sent with

    Machi-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>

to the address its host resolved to at that moment (resolved once, every address public outside
development: ``webhooks.pin``), and failures (non-2xx, connection errors, timeouts, refused
addresses) are retried on ``Settings.webhook_retry_schedule``
(10 s, 1 min, then every 10 min) until ``webhook_retry_horizon`` (24 h) after the event. Every
attempt is logged (``WebhookAttempt``).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

import httpx
from sqlalchemy import or_, select

from chain.storage import utcnow
from procedures.config import Settings
from procedures.errors import InvalidRequest
from procedures.merchants.models import Event, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from procedures.merchants.webhooks import RefusedAddress, endpoint_secret, pin
from procedures.runtime import Runtime

log = logging.getLogger("machi.merchants.webhooks")

SIGNATURE_HEADER = "Machi-Signature"
USER_AGENT = "MachiLedger-Webhooks/1"
MAX_BATCH = 50
#: What a delivery records when its host resolves to a non-public address (no connection was made).
REFUSED = "refused: the endpoint's host resolves to an address that is not public"
UNRESOLVED = "refused: the endpoint's host does not resolve"


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The ``Machi-Signature`` header value for ``body``."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(secret: str, header: str, body: bytes, tolerance: int = 300, now: float | None = None) -> bool:
    """Check a ``Machi-Signature`` header (what a merchant's receiver does; see the README).

    True when one ``v1`` signature matches and ``t`` is within ``tolerance`` seconds of now.
    """
    try:
        parts = [item.split("=", 1) for item in header.split(",")]
        timestamp = int(next(value for key, value in parts if key.strip() == "t"))
        candidates = [value for key, value in parts if key.strip() == "v1"]
    except (ValueError, StopIteration):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)


def next_delay(schedule: list[float], attempts: int) -> float:
    """Seconds before the next try after ``attempts`` failed tries (the last step repeats)."""
    if not schedule:
        return 600.0
    return schedule[min(attempts - 1, len(schedule) - 1)]


@dataclass
class _Job:
    delivery_id: int
    url: str
    secret: str
    body: bytes
    event_id: str


@dataclass
class _Result:
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _claim(runtime: Runtime, limit: int) -> list[_Job]:
    """Lock due deliveries for this worker for a while (other workers skip them)."""
    now = utcnow()
    lease = timedelta(seconds=runtime.settings.webhook_timeout * 2 + 10)
    jobs: list[_Job] = []
    with runtime.sessions() as session, session.begin():
        query = (select(WebhookDelivery)
                 .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now,
                        or_(WebhookDelivery.locked_until.is_(None), WebhookDelivery.locked_until < now))
                 .order_by(WebhookDelivery.next_attempt_at).limit(limit))
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        for delivery in session.scalars(query):
            endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
            event = session.get(Event, delivery.event_id)
            if endpoint is None or event is None or endpoint.status != "enabled":
                delivery.status = "failed"
                delivery.next_attempt_at = None
                delivery.last_error = "endpoint disabled or deleted"
                continue
            delivery.locked_until = now + lease
            jobs.append(_Job(delivery.id, endpoint.url, endpoint_secret(session, runtime.vault, endpoint),
                             event.payload, event.id))
    return jobs


def _post(client: httpx.Client, job: _Job, settings: Settings) -> _Result:
    """POST one delivery to the address its host resolves to now, resolved once (``webhooks.pin``).

    What is recorded — and shown to the merchant — says what went wrong without the remote's
    detail: a refused address is refused before any connection, a non-2xx answer is reported by
    its class (``HTTP 5xx``), connection failures without the exception's text. (The exact status
    code would tell which internal ports answer; it goes to the service's debug log only.)
    """
    started = time.perf_counter()

    def result(status: int | None, error: str | None) -> _Result:
        return _Result(status, error, int((time.perf_counter() - started) * 1000))

    try:
        target = pin(job.url, settings)  # DNS may have changed since registration: checked, then used
    except RefusedAddress:
        return result(None, REFUSED)
    except InvalidRequest:
        return result(None, UNRESOLVED)
    headers = {"Host": target.host_header, "Content-Type": "application/json", "User-Agent": USER_AGENT,
               SIGNATURE_HEADER: sign(job.secret, job.body), "Machi-Event-Id": job.event_id}
    extensions = {"sni_hostname": target.server_name} if target.server_name else None
    response = None
    for index, url in enumerate(target.urls):  # the next checked address only when one refuses to connect
        try:
            response = client.post(url, content=job.body, headers=headers, extensions=extensions)
            break
        except httpx.ConnectError as exc:
            if index == len(target.urls) - 1:
                log.debug("webhook delivery %s: %s", job.delivery_id, type(exc).__name__)
                return result(None, "connection failed")
        except httpx.TimeoutException:
            return result(None, "timeout")
        except httpx.HTTPError as exc:
            log.debug("webhook delivery %s: %s", job.delivery_id, type(exc).__name__)
            return result(None, "connection failed")
    assert response is not None
    if response.is_success:
        return result(response.status_code, None)
    log.debug("webhook delivery %s answered HTTP %d", job.delivery_id, response.status_code)
    return result(None, f"HTTP {response.status_code // 100}xx")


def _record(runtime: Runtime, job: _Job, result: _Result) -> None:
    now = utcnow()
    with runtime.sessions() as session, session.begin():
        delivery = session.get(WebhookDelivery, job.delivery_id, with_for_update=True)
        if delivery is None:
            return
        session.add(WebhookAttempt(delivery_id=delivery.id, attempted_at=now, status_code=result.status_code,
                                   error=result.error, duration_ms=result.duration_ms))
        delivery.attempts += 1
        delivery.last_status_code = result.status_code
        delivery.last_error = result.error
        delivery.locked_until = None
        if delivery.status != "pending":
            return  # deleted endpoint meanwhile
        if result.ok:
            delivery.status = "succeeded"
            delivery.delivered_at = now
            delivery.next_attempt_at = None
            return
        retry_at = now + timedelta(seconds=next_delay(runtime.settings.webhook_retry_schedule, delivery.attempts))
        if retry_at > delivery.retry_until:
            delivery.status = "failed"
            delivery.next_attempt_at = None
            log.warning("webhook delivery %s of %s gave up after %d attempts", delivery.id, job.event_id,
                        delivery.attempts)
        else:
            delivery.next_attempt_at = retry_at


def deliver_due(runtime: Runtime, client: httpx.Client, pool: ThreadPoolExecutor | None = None) -> int:
    """One pass: POST every due delivery (in parallel when ``pool`` is given); returns how many."""
    jobs = _claim(runtime, MAX_BATCH)
    if not jobs:
        return 0

    def attempt(job: _Job) -> None:
        _record(runtime, job, _post(client, job, runtime.settings))

    if pool is None:
        for job in jobs:
            attempt(job)
    else:
        list(pool.map(attempt, jobs))
    return len(jobs)


def delivery_worker(runtime: Runtime, stop: threading.Event) -> None:
    """Worker: deliver webhooks until ``stop`` is set."""
    timeout = httpx.Timeout(runtime.settings.webhook_timeout, connect=min(3.0, runtime.settings.webhook_timeout))
    # no kept-alive connections: each delivery connects to the address it pinned, with its own server name
    limits = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(timeout=timeout, follow_redirects=False, limits=limits) as client, \
            ThreadPoolExecutor(max_workers=8, thread_name_prefix="webhook") as pool:
        while not stop.is_set():
            try:
                worked = deliver_due(runtime, client, pool)
            except Exception as exc:  # noqa: BLE001 - keep delivering after a database hiccup
                log.warning("webhook pass failed: %s", exc)
                worked = 0
            if not worked:
                stop.wait(runtime.settings.webhook_poll_interval)
