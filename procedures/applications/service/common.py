"""What every e-application service shares: the catalog, the signing domain, input guards, the
shapes residents send (files, signatures) and reads of an application's history.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from chain.plan import LEDGER
from procedures.applications.catalog import Catalog, catalog_for
from procedures.applications.models import Application, ApplicationEvent
from procedures.applications.records import (
    open_details,
)
from procedures.crypto import CryptoError, Vault
from procedures.errors import InvalidRequest
from procedures.identity.errors import MyNumberRefused
from procedures.identity.mynumber import refuse_my_number
from procedures.runtime import Runtime
from protocol import applications as protocol

__all__ = [
    "ResidentSignature",
    "UploadedFile",
    "catalog",
    "days",
    "events_of",
    "finite_numbers",
    "latest_details",
    "no_my_number",
    "signing_domain",
]

# --------------------------------------------------------------------------- shared helpers
def catalog(runtime: Runtime) -> Catalog:
    """The procedure catalog this service runs with."""
    return catalog_for(runtime.settings.applications_catalog_dir)


def signing_domain(runtime: Runtime) -> dict[str, Any]:
    """The EIP-712 domain residents and clerks sign procedure acts in."""
    manifest = runtime.manifest  # checked against the chain when loaded; saves a chain-id round trip
    return protocol.domain(manifest.chain_id, manifest.address(LEDGER))


def no_my_number(value: Any, root: str) -> None:
    """Refuse input carrying a My Number, pointing at where it is (without echoing it).

    Raises:
        InvalidRequest: code ``my_number_refused``.
    """
    try:
        refuse_my_number(value)
    except MyNumberRefused as exc:
        paths = exc.details.get("paths") or ["$"]
        param = root + paths[0].removeprefix("$")
        raise InvalidRequest("the input appears to contain a My Number (個人番号); this service must not receive "
                             "it — remove it and retry", code="my_number_refused", param=param) from None


def finite_numbers(value: Any, path: str = "form") -> None:
    """Refuse NaN and infinities (JSON parsers accept them; canonical JSON and the schema do not).

    Raises:
        InvalidRequest: code ``invalid_form`` pointing at the number.
    """
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidRequest(f"{path}: numbers must be finite", code="invalid_form", param=path)
    if isinstance(value, dict):
        for key, item in value.items():
            finite_numbers(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            finite_numbers(item, f"{path}[{index}]")


@dataclass(frozen=True)
class UploadedFile:
    """An attachment as the resident sent it."""

    name: str
    content_type: str
    data_b64: str


@dataclass(frozen=True)
class ResidentSignature:
    """A resident's EIP-712 signature of an act, with its nonce and deadline."""

    nonce: str
    deadline: int
    signature: str



def events_of(session: Session, application: Application) -> list[ApplicationEvent]:
    """The application's events in order."""
    return list(session.scalars(select(ApplicationEvent).where(ApplicationEvent.application_id == application.id)
                                .order_by(ApplicationEvent.seq)))


def latest_details(session: Session, vault: Vault, application: Application, event_type: str) -> dict[str, Any] | None:
    """The decrypted details of the latest event of ``event_type`` (e.g. the correction reason)."""
    event = session.scalar(select(ApplicationEvent).where(
        ApplicationEvent.application_id == application.id, ApplicationEvent.type == event_type,
    ).order_by(ApplicationEvent.seq.desc()).limit(1))
    if event is None or event.details_blob is None:
        return None
    try:
        details: dict[str, Any] = open_details(session, vault, application, event.details_blob)
    except CryptoError:
        return None
    return details



def days(n: int) -> timedelta:
    """``n`` days."""
    return timedelta(days=n)
