"""Jobs outside requests: the catalog check at start-up, and the time-driven sweeps — correction
deadlines (lapse), owed refunds, and retention (crypto-erasure).

Each sweep handles one application per transaction, re-checking its status under the row lock, so
sweeps in several processes (or a sweep racing a resident) never act twice.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from chain.storage import utcnow
from procedures.applications import money, service, transitions
from procedures.applications.catalog import Catalog, CatalogError, catalog_for
from procedures.applications.models import Application, Status
from procedures.applications.records import close, lock_application, notify, record_event
from procedures.crypto import Vault
from procedures.runtime import Runtime
from protocol import applications as protocol

log = logging.getLogger("machi.applications.jobs")


@dataclass
class SweepResult:
    """What a sweep did."""

    lapsed: int = 0
    refunds: int = 0
    erased: int = 0


def lapse_one(session: Session, catalog: Catalog, application_id: str, now: datetime) -> bool:
    """Lapse one application whose correction deadline passed (``False`` if no longer due)."""
    application = lock_application(session, application_id)
    if application is None or application.status != Status.RETURNED:
        return False
    if application.correction_deadline is None or application.correction_deadline > now:
        return False
    transition = transitions.check("lapse", application.status, "system")
    facts = {"correction_deadline": application.correction_deadline.isoformat()}
    record_event(session, application, type=transition.event, to_status=transition.target,
                 content_hash=protocol.details_hash(facts), public_details=facts)
    close(application, catalog.find(application.procedure_code), now)
    notify(session, application, "lapsed")
    return True


def erase_one(session: Session, application_id: str, now: datetime) -> bool:
    """Crypto-erase one application whose retention ended: destroy its data key, record the fact."""
    application = lock_application(session, application_id)
    if application is None or application.erased_at is not None:
        return False
    if application.retain_until is None or application.retain_until > now:
        return False
    Vault.erase(session, application.key_id)
    application.erased_at = now
    facts = {"erased_at": now.isoformat()}
    record_event(session, application, type="erased", content_hash=protocol.details_hash(facts),
                 public_details=facts)
    return True


def deadline_sweep(runtime: Runtime, now: datetime | None = None) -> SweepResult:
    """Lapse returned applications past their correction deadline; refund fees owed on rejections."""
    now = now or utcnow()
    result = SweepResult()
    with runtime.sessions() as session:
        due = list(session.scalars(select(Application.id).where(
            Application.status == Status.RETURNED, Application.correction_deadline <= now)))
        owed = money.fee_due_for_refund(session)
    procedures = catalog_for(runtime.settings.applications_catalog_dir)
    for application_id in due:
        with runtime.sessions() as session, session.begin():
            result.lapsed += lapse_one(session, procedures, application_id, now)
    for application_id in owed:
        try:
            with runtime.sessions() as session, session.begin():
                application = lock_application(session, application_id)
                if application is not None and application.status == Status.REJECTED:
                    result.refunds += money.refund_fee(session, runtime, application)
        except Exception:  # noqa: BLE001 - one refund that cannot go now must not block the others
            log.exception("refund of the fee of %s failed; retrying at the next sweep", application_id)
    return result


def retention_sweep(runtime: Runtime, now: datetime | None = None) -> SweepResult:
    """Erase (crypto-erasure) every application whose retention period has ended."""
    now = now or utcnow()
    result = SweepResult()
    with runtime.sessions() as session:
        due = list(session.scalars(select(Application.id).where(
            Application.retain_until <= now, Application.erased_at.is_(None))))
    for application_id in due:
        with runtime.sessions() as session, session.begin():
            result.erased += erase_one(session, application_id, now)
    return result


def deadlines_worker(runtime: Runtime, stop: threading.Event) -> None:
    """Worker: the deadline sweep every ``applications_sweep_interval`` seconds."""
    while not stop.is_set():
        try:
            deadline_sweep(runtime)
        except Exception:  # noqa: BLE001 - keep sweeping; the next pass retries
            log.exception("deadline sweep failed")
        stop.wait(runtime.settings.applications_sweep_interval)


def retention_worker(runtime: Runtime, stop: threading.Event) -> None:
    """Worker: the retention sweep every ``applications_sweep_interval`` seconds."""
    while not stop.is_set():
        try:
            retention_sweep(runtime)
        except Exception:  # noqa: BLE001 - keep sweeping; the next pass retries
            log.exception("retention sweep failed")
        stop.wait(runtime.settings.applications_sweep_interval)


def load_catalog(runtime: Runtime) -> None:
    """Start-up hook: load and check the catalog, so a malformed file is reported at once (requests
    that need the catalog answer 503 until it is fixed; the rest of the service keeps running)."""
    try:
        catalog = service.catalog(runtime)
    except CatalogError:
        log.exception("the procedure catalog is invalid; e-applications are unavailable until it is fixed")
        return
    log.info("procedure catalog: %d procedure types", len(catalog))
