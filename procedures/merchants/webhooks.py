"""Events and the endpoints they go to.

``emit`` writes an event and one pending delivery per subscribed endpoint in the caller's
transaction (so an event exists exactly when the change it reports was committed); the delivery
worker (``procedures.merchants.webhook_delivery``) sends them, signed. Receivers dedupe by the
event ``id`` (a redelivery sends the same body).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import SplitResult, urlsplit, urlunsplit

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from chain.storage import utcnow
from procedures.config import Settings
from procedures.crypto import Vault
from procedures.errors import InvalidRequest
from procedures.ids import new_id
from procedures.merchants.models import Event, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from procedures.merchants.rows import merchant_row
from procedures.pagination import Window, newest_first

log = logging.getLogger("machi.merchants.webhooks")

EVENT_TYPES = (
    "payment_request.paid",
    "payment_request.expired",
    "payment_request.canceled",
    "refund.succeeded",
    "refund.failed",
    "payout.paid",
    "payout.failed",
    "offline_payment.paid",
    "offline_payment.refused",
)
MAX_ENDPOINTS = 16


# --------------------------------------------------------------------------- endpoints
def private_urls_allowed(settings: Settings) -> bool:
    """Whether endpoints may be on private networks (by default outside production only)."""
    if settings.webhook_allow_private_urls is not None:
        return settings.webhook_allow_private_urls
    return settings.environment != "production"


#: ``resolve(host, port)`` → the host's addresses (``socket.getaddrinfo`` by default).
Resolver = Callable[[str, int], list[str]]


def system_resolver(host: str, port: int) -> list[str]:
    """The host's addresses, as the system resolves them, in its order."""
    return list(dict.fromkeys(str(info[4][0]).split("%")[0] for info in socket.getaddrinfo(host, port)))


@dataclass(frozen=True)
class PinnedTarget:
    """Where a delivery connects: ``urls``, the URL with each address resolved once (all checked,
    in the resolver's order) in place of the host name, and the ``Host`` header and TLS server name
    (SNI, and the name the certificate must carry) of the original URL. Resolving again at connect
    time would let DNS rebinding swap in an internal address."""

    urls: tuple[str, ...]
    host_header: str
    server_name: str | None

    @property
    def url(self) -> str:
        """The first address's URL."""
        return self.urls[0]


class RefusedAddress(InvalidRequest):
    """The URL's host is, or resolves to, an address that is not on the public internet."""

    code = "invalid_url"


#: NAT64 prefixes: the well-known one embeds an IPv4 address (checked as such), the local-use one
#: (RFC 8215) leads into the operator's own network.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")


def is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether ``ip`` is on the public internet: ``is_global``, and for IPv6 forms that carry an
    IPv4 address (mapped, 6to4, Teredo, NAT64) the carried address too."""
    if not ip.is_global:
        return False
    if isinstance(ip, ipaddress.IPv4Address):
        return True
    if ip in _NAT64_LOCAL:
        return False
    carried = [ip.ipv4_mapped, ip.sixtofour, ip.teredo[1] if ip.teredo else None]
    if ip in _NAT64:
        carried.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return all(v4 is None or v4.is_global for v4 in carried)


def pin(url: str, settings: Settings, resolve: Resolver = system_resolver) -> PinnedTarget:
    """Resolve the URL's host once and check every address it has.

    Outside development and test (``private_urls_allowed``) every address must be global
    (``is_public``: no loopback, private, link-local, shared 100.64.0.0/10, reserved or
    documentation ranges, nor an IPv6 address carrying such an IPv4 address).

    Raises:
        InvalidRequest: a bad scheme, plain http in production, or a host that does not resolve.
        RefusedAddress: an address of the host is not global.
    """
    parts = _check_scheme(url, settings)
    host = str(parts.hostname)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = resolve(host, port)
    except (OSError, ValueError, UnicodeError):
        raise InvalidRequest("the URL's host does not resolve", code="invalid_url", param="url") from None
    if not addresses:
        raise InvalidRequest("the URL's host does not resolve", code="invalid_url", param="url")
    ips = [ipaddress.ip_address(address) for address in addresses]
    if not private_urls_allowed(settings) and not all(is_public(ip) for ip in ips):
        raise RefusedAddress("webhook URLs must be reachable on the public internet", param="url")
    urls = []
    for ip in ips:
        netloc = f"[{ip}]" if ip.version == 6 else str(ip)
        if parts.port:
            netloc += f":{parts.port}"
        urls.append(urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, "")))
    host_header = parts.netloc.rsplit("@", 1)[-1]
    return PinnedTarget(tuple(urls), host_header, host if parts.scheme == "https" else None)


def check_url(url: str, settings: Settings) -> None:
    """Refuse URLs the service must not call (see ``pin``).

    Raises:
        InvalidRequest: not acceptable.
    """
    if private_urls_allowed(settings):
        _check_scheme(url, settings)  # a development receiver need not resolve yet
        return
    pin(url, settings)


def _check_scheme(url: str, settings: Settings) -> SplitResult:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequest("the URL must be an http(s) URL with a host", code="invalid_url", param="url")
    if settings.environment == "production" and parts.scheme != "https":
        raise InvalidRequest("webhook URLs must use https", code="invalid_url", param="url")
    return parts


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
    return merchant_row(session, WebhookEndpoint, endpoint_id, merchant_id, what="webhook endpoint")


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
    return merchant_row(session, Event, event_id, merchant_id, what="event")


def list_events(session: Session, merchant_id: str, limit: int, starting_after: str | None,
                type_: str | None = None, object_id: str | None = None) -> Window[Event]:
    """The merchant's events, newest first, cursor-paginated.

    Raises:
        InvalidRequest: unknown cursor.
    """
    query = select(Event).where(Event.merchant_id == merchant_id)
    if type_:
        query = query.where(Event.type == type_)
    if object_id:
        query = query.where(Event.object_id == object_id)
    return newest_first(session, Event, query, limit=limit, starting_after=starting_after,
                        cursor_scope=Event.merchant_id == merchant_id)


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


def event_body(event: Event) -> dict[str, Any]:
    """The event as JSON (the exact body merchants receive, parsed)."""
    parsed: dict[str, Any] = json.loads(event.payload)
    return parsed
