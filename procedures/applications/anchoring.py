"""Anchoring procedure events on chain, and the receipts residents verify.

The anchorer (a background worker) cuts a batch when ``applications_anchor_max_leaves`` events
wait, or when the oldest has waited ``applications_anchor_interval`` seconds: it builds the Merkle
tree, stores each leaf's proof, and enqueues ``ProcedureLedger.anchor(root, count)`` in the outbox
(sender: the relayer key, which holds ANCHOR_ROLE) in the same transaction. Once the relayer
confirms the transaction, the anchorer reads the ``Anchored`` event and records the anchor id on
the batch's leaves. A failed anchoring releases the leaves to the next batch. Only one anchorer
runs per database (``KeyLock``).
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from chain.contracts.ledger import ProcedureLedgerClient
from chain.merkle import MerkleTree
from chain.outbox import IntentStatus, TxIntent, enqueue
from chain.plan import LEDGER
from chain.receipts import fetch_receipt
from chain.storage import KeyLock, utcnow
from procedures.applications.models import AnchorBatch, Application, ApplicationEvent
from procedures.applications.records import opening_of
from procedures.runtime import Runtime
from protocol import applications as protocol

log = logging.getLogger("machi.applications.anchorer")

ANCHOR_KIND = "application_anchor"
#: The most leaves one anchor covers (its gas does not depend on the count; this bounds the proof work).
MAX_BATCH = 8192


def waiting(session: Session) -> tuple[int, Any]:
    """How many events wait for a batch, and when the oldest of them was recorded."""
    count, oldest = session.execute(select(func.count(ApplicationEvent.id), func.min(ApplicationEvent.created_at))
                                    .where(ApplicationEvent.batch_id.is_(None))).one()
    return int(count or 0), oldest


def cut_batch(session: Session, runtime: Runtime, ledger: ProcedureLedgerClient) -> AnchorBatch | None:
    """Batch every waiting event (up to ``MAX_BATCH``) and enqueue the anchoring of its root."""
    rows = list(session.execute(select(ApplicationEvent.id, ApplicationEvent.leaf)
                                .where(ApplicationEvent.batch_id.is_(None))
                                .order_by(ApplicationEvent.id).limit(MAX_BATCH)))
    if not rows:
        return None
    tree = MerkleTree([protocol.from_hex(leaf) for _, leaf in rows])
    batch = AnchorBatch(root=protocol.hex32(tree.root), leaf_count=len(rows), status="pending")
    session.add(batch)
    session.flush()
    session.execute(update(ApplicationEvent), [  # ORM bulk UPDATE by primary key
        {"id": event_id, "batch_id": batch.id, "proof": [protocol.hex32(node) for node in tree.proof(index)]}
        for index, (event_id, _) in enumerate(rows)])
    call = ledger.anchor_call(tree.root, len(rows))
    intent = enqueue(session, sender=runtime.keys.relayer.address, to=call.to, data=call.data, kind=ANCHOR_KIND,
                     reference=f"application-anchor:{batch.id}")
    batch.intent_id = intent.id
    return batch


def settle_batches(session: Session, runtime: Runtime, ledger: ProcedureLedgerClient) -> int:
    """Record the anchor ids of batches whose anchoring is final; release the leaves of failed ones."""
    settled = 0
    for batch in session.scalars(select(AnchorBatch).where(AnchorBatch.status == "pending").order_by(AnchorBatch.id)):
        intent = session.get(TxIntent, batch.intent_id) if batch.intent_id is not None else None
        if intent is None or not intent.done:
            continue
        if intent.status == IntentStatus.CONFIRMED and intent.tx_hash:
            receipt = fetch_receipt(runtime.w3, intent.tx_hash)
            anchors = [a for a in ledger.anchored(receipt) if protocol.hex32(a.root) == batch.root]
            if not anchors:
                batch.status, batch.error = "failed", "the transaction anchored another root"
            else:
                batch.status, batch.anchor_id = "anchored", anchors[0].anchor_id
                batch.tx_hash, batch.block_number = intent.tx_hash, intent.block_number
                batch.anchored_at = utcnow()
                session.execute(update(ApplicationEvent).where(ApplicationEvent.batch_id == batch.id)
                                .values(anchor_id=batch.anchor_id))
        else:
            batch.status, batch.error = "failed", f"{intent.error_code}: {intent.error_message}"
        if batch.status == "failed":
            log.error("anchoring batch %s failed (%s); its leaves go into the next batch", batch.id, batch.error)
            session.execute(update(ApplicationEvent).where(ApplicationEvent.batch_id == batch.id)
                            .values(batch_id=None, proof=None))
        settled += 1
    return settled


def ledger_client(runtime: Runtime) -> ProcedureLedgerClient:
    """A client of the deployed ProcedureLedger (build it once per worker: parsing the ABI costs ms)."""
    return ProcedureLedgerClient.from_compiled(runtime.w3, runtime.manifest.address(LEDGER), runtime.compiled)


def anchor_once(runtime: Runtime, *, force: bool = False, ledger: ProcedureLedgerClient | None = None) -> int:
    """One anchorer pass: settle finished batches, then cut a batch if one is due. Returns batches cut.

    Args:
        force: cut a batch of whatever waits, regardless of the interval and size thresholds.
        ledger: the ledger client to use (default: a new one).
    """
    ledger = ledger or ledger_client(runtime)
    settings = runtime.settings
    cut = 0
    with runtime.sessions() as session, session.begin():
        settle_batches(session, runtime, ledger)
    while True:
        with runtime.sessions() as session, session.begin():
            count, oldest = waiting(session)
            due = count >= settings.applications_anchor_max_leaves or (
                count > 0 and oldest is not None
                and oldest <= utcnow() - timedelta(seconds=settings.applications_anchor_interval))
            if not count or not (due or force):
                return cut
            cut_batch(session, runtime, ledger)
            cut += 1
        if count <= MAX_BATCH:
            return cut


def _lock_name(runtime: Runtime) -> str:
    """The anchorer's lock, per database *and schema* (several cities or test runs may share a server)."""
    if runtime.engine.dialect.name != "postgresql":
        return "applications-anchorer"
    with runtime.engine.connect() as connection:
        where = connection.execute(text("SELECT current_database() || '.' || current_schema()")).scalar()
    return f"applications-anchorer:{where}"


def anchorer(runtime: Runtime, stop: threading.Event) -> None:
    """Worker: anchor batches until ``stop`` is set (only one anchorer per database holds the lock)."""
    lock = KeyLock(runtime.engine, _lock_name(runtime), runtime.settings.var_dir / "locks")
    poll = min(0.5, runtime.settings.applications_anchor_interval / 4)
    ledger = ledger_client(runtime)
    try:
        while not stop.is_set():
            if not lock.try_acquire():
                stop.wait(2.0)
                continue
            anchor_once(runtime, ledger=ledger)
            stop.wait(poll)
    finally:
        lock.release()



# --------------------------------------------------------------------------- receipts
def receipt(session: Session, runtime: Runtime, application: Application) -> dict[str, Any]:
    """The application's receipt: every event's opening, leaf, and — once anchored — proof and anchor.

    The holder verifies it against the chain alone (``protocol.receipts.verify_receipt``; ``machi-wallet receipt
    ID --verify``). Events still waiting for their anchor come without proof.
    """
    events = list(session.scalars(select(ApplicationEvent).where(ApplicationEvent.application_id == application.id)
                                  .order_by(ApplicationEvent.seq)))
    batch_ids = {e.batch_id for e in events if e.anchor_id is not None}
    batches = {b.id: b for b in session.scalars(select(AnchorBatch).where(AnchorBatch.id.in_(batch_ids)))} \
        if batch_ids else {}
    out = []
    for event in events:
        opening = opening_of(application, event)
        batch = batches.get(event.batch_id) if event.anchor_id is not None and event.batch_id is not None else None
        out.append({
            "seq": event.seq, "type": event.type, "from_status": event.from_status, "to_status": event.to_status,
            "occurred_at": event.occurred_at,
            "procedure": {"code": opening.procedure_code, "version": opening.procedure_version},
            "content_hash": event.content_hash, "actor": event.actor, "signature": event.signature,
            "nonce": event.nonce, "deadline": event.deadline, "salt": event.salt, "leaf": event.leaf,
            "details": event.public_details or {},
            "proof": list(event.proof or []) if batch else None,
            "anchor": {"anchor_id": batch.anchor_id, "root": batch.root, "tx_hash": batch.tx_hash,
                       "block_number": batch.block_number} if batch else None,
        })
    return {
        "object": "receipt",
        "application_id": application.id,
        "applicant": application.applicant,
        "chain_id": runtime.manifest.chain_id,
        "ledger": runtime.manifest.address(LEDGER),
        "events": out,
        "generated_at": int(time.time()),
    }
