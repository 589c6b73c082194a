"""Events and signed webhooks.

``emit`` writes an event and one pending delivery per subscribed endpoint in the caller's
transaction (so an event exists exactly when the change it reports was committed). The delivery
worker POSTs the event's stored JSON body with

    Machi-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>

and retries failures (non-2xx, connection errors, timeouts) on ``Settings.webhook_retry_schedule``
(10 s, 1 min, then every 10 min) until ``webhook_retry_horizon`` (24 h) after the event. Every
attempt is logged. Receivers dedupe by the event ``id`` (a redelivery sends the same body).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from chain.storage import utcnow
from procedures.config import Settings
from procedures.crypto import Vault
from procedures.errors import InvalidRequest, NotFound
from procedures.merchants.accounts import new_id
from procedures.merchants.models import Event, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from procedures.runtime import Runtime

log = logging.getLogger("machi.merchants.webhooks")

EVENT_TYPES = (
    "payment_request.paid",
    "payment_request.expired",
    "payment_request.canceled",
    "refund.succeeded",
    "refund.failed",
    "payout.paid",
    "payout.failed",
)
SIGNATURE_HEADER = "Machi-Signature"
USER_AGENT = "MachiLedger-Webhooks/1"
MAX_BATCH = 50
MAX_ENDPOINTS = 16


# --------------------------------------------------------------------------- signatures
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


# --------------------------------------------------------------------------- endpoints
def _private_allowed(settings: Settings) -> bool:
    if settings.webhook_allow_private_urls is not None:
        return settings.webhook_allow_private_urls
    return settings.environment != "production"


def check_url(url: str, settings: Settings) -> None:
    """Refuse URLs the service must not call (bad scheme; plain http or private networks in production).

    Raises:
        InvalidRequest: not acceptable.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequest("the URL must be an http(s) URL with a host", code="invalid_url", param="url")
    if settings.environment == "production" and parts.scheme != "https":
        raise InvalidRequest("webhook URLs must use https", code="invalid_url", param="url")
    if _private_allowed(settings):
        return
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, parts.port or 443)}
    except OSError:
        raise InvalidRequest("the URL's host does not resolve", code="invalid_url", param="url") from None
    for address in addresses:
        ip = ipaddress.ip_address(str(address).split("%")[0])
        if ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved or ip.is_multicast:
            raise InvalidRequest("webhook URLs must be reachable on the public internet", code="invalid_url",
                                 param="url")


def create_endpoint(
    session: Session, vault: Vault, settings: Settings, merchant_id: str, *, url: str, enabled_events: list[str],
    description: str | None,
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it and its signing secret (shown once, sealed at rest).

    Raises:
        InvalidRequest: bad URL or unknown event type; too many endpoints.
    """
    check_url(url, settings)
    events = sorted(set(enabled_events)) or ["*"]
    unknown = [e for e in events if e != "*" and e not in EVENT_TYPES]
    if unknown:
        raise InvalidRequest(f"unknown event types: {', '.join(unknown)} (known: {', '.join(EVENT_TYPES)}, *)",
                             param="enabled_events")
    count = len(list_endpoints(session, merchant_id))
    if count >= MAX_ENDPOINTS:
        raise InvalidRequest(f"at most {MAX_ENDPOINTS} webhook endpoints per merchant", code="too_many_endpoints")
    secret = "whsec_" + secrets.token_urlsafe(32)
    key_id = vault.new_key(session, "webhook-secret")
    endpoint_id = new_id("we")
    endpoint = WebhookEndpoint(id=endpoint_id, merchant_id=merchant_id, url=url, description=description,
                               enabled_events=["*"] if "*" in events else events, secret_key_id=key_id,
                               secret_blob=vault.seal(session, key_id, secret.encode(), aad=endpoint_id.encode()),
                               status="enabled")
    session.add(endpoint)
    session.flush()
    return endpoint, secret


def endpoint_secret(session: Session, vault: Vault, endpoint: WebhookEndpoint) -> str:
    """Decrypt an endpoint's signing secret."""
    return vault.open(session, endpoint.secret_key_id, endpoint.secret_blob, aad=endpoint.id.encode()).decode()


def list_endpoints(session: Session, merchant_id: str) -> list[WebhookEndpoint]:
    """The merchant's endpoints (deleted ones are gone)."""
    return list(session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.merchant_id == merchant_id)
                                .order_by(WebhookEndpoint.created_at)))


def get_endpoint(session: Session, merchant_id: str, endpoint_id: str) -> WebhookEndpoint:
    """One of the merchant's endpoints.

    Raises:
        NotFound: not this merchant's.
    """
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or endpoint.merchant_id != merchant_id:
        raise NotFound(f"no webhook endpoint {endpoint_id}", param="id")
    return endpoint


def delete_endpoint(session: Session, vault: Vault, merchant_id: str, endpoint_id: str) -> None:
    """Remove an endpoint and erase its secret; its pending deliveries give up."""
    endpoint = get_endpoint(session, merchant_id, endpoint_id)
    for delivery in session.scalars(select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id,
                                                                  WebhookDelivery.status == "pending")):
        delivery.status = "failed"
        delivery.last_error = "endpoint deleted"
        delivery.next_attempt_at = None
    vault.erase(session, endpoint.secret_key_id)
    session.delete(endpoint)


# --------------------------------------------------------------------------- events
def emit(session: Session, settings: Settings, merchant_id: str, type_: str, obj: BaseModel) -> Event:
    """Record an event for ``merchant_id`` and queue its deliveries (caller's transaction).

    Args:
        settings: the retry horizon and whether events are live (production).
        obj: the object the event is about (``data.object``: the same shape the API returns).
    """
    if type_ not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type_}")
    horizon = settings.webhook_retry_horizon
    now = utcnow()
    event_id = new_id("evt")
    data = json.loads(obj.model_dump_json(by_alias=True))
    payload = {"id": event_id, "object": "event", "type": type_, "created": int(now.timestamp()),
               "livemode": settings.environment == "production", "data": {"object": data}}
    event = Event(id=event_id, merchant_id=merchant_id, type=type_, object_id=str(data.get("id", "")),
                  payload=json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode(), created_at=now)
    session.add(event)
    for endpoint in list_endpoints(session, merchant_id):
        if endpoint.status == "enabled" and ("*" in endpoint.enabled_events or type_ in endpoint.enabled_events):
            session.add(WebhookDelivery(event_id=event_id, endpoint_id=endpoint.id, status="pending",
                                        next_attempt_at=now, retry_until=now + timedelta(seconds=horizon)))
    session.flush()
    return event


def get_event(session: Session, merchant_id: str, event_id: str) -> Event:
    """One of the merchant's events.

    Raises:
        NotFound: not this merchant's.
    """
    event = session.get(Event, event_id)
    if event is None or event.merchant_id != merchant_id:
        raise NotFound(f"no event {event_id}", param="id")
    return event


def list_events(session: Session, merchant_id: str, limit: int, starting_after: str | None,
                type_: str | None = None, object_id: str | None = None) -> list[Event]:
    """The merchant's events, newest first, cursor-paginated.

    Raises:
        InvalidRequest: unknown cursor.
    """
    query = select(Event).where(Event.merchant_id == merchant_id)
    if type_:
        query = query.where(Event.type == type_)
    if object_id:
        query = query.where(Event.object_id == object_id)
    if starting_after:
        cursor = session.get(Event, starting_after)
        if cursor is None or cursor.merchant_id != merchant_id:
            raise InvalidRequest("unknown cursor", param="starting_after")
        query = query.where(or_(Event.created_at < cursor.created_at,
                                (Event.created_at == cursor.created_at) & (Event.id < cursor.id)))
    return list(session.scalars(query.order_by(Event.created_at.desc(), Event.id.desc()).limit(limit)))


def deliveries_of(session: Session, event_id: str) -> list[tuple[WebhookDelivery, list[WebhookAttempt]]]:
    """Each delivery of an event with its attempt log (oldest attempt first)."""
    out = []
    for delivery in session.scalars(select(WebhookDelivery).where(WebhookDelivery.event_id == event_id)
                                    .order_by(WebhookDelivery.id)):
        attempts = list(session.scalars(select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery.id)
                                        .order_by(WebhookAttempt.id)))
        out.append((delivery, attempts))
    return out


def redeliver(session: Session, settings: Settings, merchant_id: str, event_id: str,
              endpoint_id: str | None = None) -> list[WebhookDelivery]:
    """Send an event again now (to one endpoint, or to every current subscriber), whatever happened before.

    Raises:
        NotFound: unknown event or endpoint.
        InvalidRequest: no enabled endpoint to send it to.
    """
    event = get_event(session, merchant_id, event_id)
    endpoints = [get_endpoint(session, merchant_id, endpoint_id)] if endpoint_id else [
        e for e in list_endpoints(session, merchant_id)
        if "*" in e.enabled_events or event.type in e.enabled_events]
    endpoints = [e for e in endpoints if e.status == "enabled"]
    if not endpoints:
        raise InvalidRequest("no enabled webhook endpoint to deliver this event to", code="no_endpoint")
    now = utcnow()
    touched = []
    for endpoint in endpoints:
        delivery = session.scalar(select(WebhookDelivery).where(WebhookDelivery.event_id == event.id,
                                                                WebhookDelivery.endpoint_id == endpoint.id))
        if delivery is None:
            delivery = WebhookDelivery(event_id=event.id, endpoint_id=endpoint.id, attempts=0)
            session.add(delivery)
        delivery.status = "pending"
        delivery.next_attempt_at = now
        delivery.locked_until = None
        delivery.retry_until = now + timedelta(seconds=settings.webhook_retry_horizon)
        touched.append(delivery)
    session.flush()
    return touched


# --------------------------------------------------------------------------- delivery
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
    started = time.perf_counter()
    try:
        if not _private_allowed(settings):
            check_url(job.url, settings)  # DNS may have changed since registration
        response = client.post(job.url, content=job.body, headers={
            "Content-Type": "application/json", "User-Agent": USER_AGENT,
            SIGNATURE_HEADER: sign(job.secret, job.body), "Machi-Event-Id": job.event_id,
        })
        return _Result(response.status_code, None if response.is_success else f"HTTP {response.status_code}",
                       int((time.perf_counter() - started) * 1000))
    except httpx.TimeoutException:
        return _Result(None, "timeout", int((time.perf_counter() - started) * 1000))
    except (httpx.HTTPError, InvalidRequest) as exc:
        return _Result(None, f"{type(exc).__name__}: {exc}"[:500], int((time.perf_counter() - started) * 1000))


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
    with httpx.Client(timeout=timeout, follow_redirects=False) as client, \
            ThreadPoolExecutor(max_workers=8, thread_name_prefix="webhook") as pool:
        while not stop.is_set():
            try:
                worked = deliver_due(runtime, client, pool)
            except Exception as exc:  # noqa: BLE001 - keep delivering after a database hiccup
                log.warning("webhook pass failed: %s", exc)
                worked = 0
            if not worked:
                stop.wait(runtime.settings.webhook_poll_interval)



def event_body(event: Event) -> dict[str, Any]:
    """The event as JSON (the exact body merchants receive, parsed)."""
    parsed: dict[str, Any] = json.loads(event.payload)
    return parsed
