"""Wallet identity rows and how they follow the chain.

The database says who is linked where; the outbox says what reached the chain. These helpers find
the live row of a wallet or of a person, fold a link or recovery that never reached the chain back
into its rows, and describe a row's last operation from its intents — checking the registry itself
where the outbox's verdict alone would mislead (an at-least-once duplicate refused after the first
call took effect).
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from chain.contracts.coin import PendingRecovery
from chain.outbox import IntentStatus, IntentTimeout, TxIntent, wait_for_intent
from procedures.identity.certs import AssuranceLevel
from procedures.identity.errors import IdentityError, SubjectAlreadyLinked, WalletAlreadyLinked, WalletRetired
from procedures.identity.models import IdentityAction, IdentityStatus, IdentitySubject, WalletIdentity
from procedures.identity.views import IdentityView, IntentView, OperationStatus
from procedures.runtime import Runtime

__all__ = ["IdentityRecords", "race"]

log = logging.getLogger("machi.identity")


class IdentityRecords:
    """The identity rows of a ``Runtime``'s database, read together with its registry and outbox."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    # ------------------------------------------------------------------ live rows
    def live_for_subject(self, session: Session, subject_id: str) -> WalletIdentity | None:
        """The person's live (linked, settled) identity row, if any."""
        return self._live(session, WalletIdentity.subject_id == subject_id)

    def live_for_wallet(self, session: Session, wallet: str) -> WalletIdentity | None:
        """The wallet's live (linked, settled) identity row, if any."""
        return self._live(session, WalletIdentity.wallet == wallet)

    def _live(self, session: Session, condition: ColumnElement[bool]) -> WalletIdentity | None:
        # Settle before trusting "linked": a link whose attestation failed on chain is not live.
        rows = session.scalars(select(WalletIdentity).where(condition, WalletIdentity.status == IdentityStatus.LINKED))
        for row in rows.all():
            self.settle(session, row)
            if row.status == IdentityStatus.LINKED:
                return row
        return None

    def newest(self, session: Session, wallet: str) -> WalletIdentity | None:
        """The wallet's newest identity row (live or not), settled."""
        row = session.scalar(
            select(WalletIdentity).where(WalletIdentity.wallet == wallet)
            .order_by(WalletIdentity.created_at.desc()).limit(1)
        )
        if row is not None:
            self.settle(session, row)
        return row

    def ensure_wallet_free(self, session: Session, wallet: str) -> None:
        """No live identity here and none on chain (a merchant, say); never a retired wallet.

        Raises:
            WalletAlreadyLinked, WalletRetired: the wallet cannot take a new identity.
        """
        if self.live_for_wallet(session, wallet) is not None:
            raise WalletAlreadyLinked()
        retired = session.scalar(
            select(WalletIdentity.id).where(WalletIdentity.wallet == wallet,
                                            WalletIdentity.status == IdentityStatus.REBOUND).limit(1)
        )
        if retired is not None:
            raise WalletRetired()
        record = self.runtime.registry.record_of(wallet)
        if record.retired:
            raise WalletRetired()
        if record.live:
            raise WalletAlreadyLinked()

    # ------------------------------------------------------------------ following the chain
    def settle(self, session: Session, row: WalletIdentity) -> None:
        """Fold the outbox's outcome into the row: the tx hash, and a failed link or recovery."""
        intent = session.get(TxIntent, row.attest_intent_id)
        if intent is None:
            return
        if intent.tx_hash and row.attest_tx_hash != intent.tx_hash:
            row.attest_tx_hash = intent.tx_hash
        if intent.status != IntentStatus.FAILED or row.status not in (IdentityStatus.LINKED, IdentityStatus.RECOVERING):
            return
        if row.last_action not in (IdentityAction.LINK, IdentityAction.RECOVER):
            return
        if self.on_chain(session, row):
            # A duplicate of a call that already took effect was refused (at-least-once relaying):
            # the chain binds this subject here, so the database must keep doing so too.
            log.warning("identity %s of wallet %s: a repeated call was refused (%s) but the chain has it",
                        row.last_action, row.wallet, intent.error_code)
            return
        log.warning("identity %s of wallet %s never reached the chain (%s)", row.last_action, row.wallet,
                    intent.error_code)
        # A failed recovery request moved nothing: the lost wallet's row was never touched.
        row.status = IdentityStatus.FAILED
        session.flush()

    def on_chain(self, session: Session, row: WalletIdentity) -> bool:
        """Whether the registry already shows the row's last operation (its subject, its evidence;
        or its revocation), whatever the outbox says about the calls that carried it."""
        if row.status == IdentityStatus.RECOVERING and row.recovered_from is not None:
            return pending_of(self.runtime, row) is not None
        record = self.runtime.registry.record_of(row.wallet)
        if row.last_action == IdentityAction.REVOKE:
            return record.exists and not record.live
        subject = session.get(IdentitySubject, row.subject_id)
        return (
            subject is not None
            and record.live
            and record.holds_subject(subject.subject_key)
            and record.holds_evidence(row.evidence_commitment)
        )

    def wait(self, identity_id: str, timeout: float) -> None:
        """Block until the identity's last operation reached the chain (or ``timeout`` passed)."""
        with self.runtime.sessions() as session:
            row = session.get(WalletIdentity, identity_id)
            ids = [] if row is None else operation_intents(row)
        deadline = time.monotonic() + timeout
        for intent_id in ids:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            try:
                intent = wait_for_intent(self.runtime.sessions, intent_id, timeout=remaining)
            except IntentTimeout:
                return
            if intent.status == IntentStatus.FAILED:
                return

    # ------------------------------------------------------------------ views
    def view(self, session: Session, row: WalletIdentity, note: str | None = None) -> IdentityView:
        """The row and the state of its last operation."""
        intents = [session.get(TxIntent, i) for i in operation_intents(row)]
        views = [_intent_view(i) for i in intents if i is not None]
        failed = [v for v in views if v.status == IntentStatus.FAILED]
        if failed and not self._excused(session, row, views, failed):
            state = OperationStatus.FAILED
        elif views and all(v.status in (IntentStatus.CONFIRMED, IntentStatus.FAILED) for v in views):
            state = OperationStatus.CONFIRMED
        else:
            state = OperationStatus.PENDING
        return IdentityView(
            id=row.id, wallet=row.wallet, kind=row.kind, level=AssuranceLevel(row.level), status=row.status,
            action=row.last_action, expires_at=row.expires_at, evidence_commitment=row.evidence_commitment,
            attest_tx_hash=row.attest_tx_hash, operation_status=state, intents=views,
            recovered_from=row.recovered_from, rebound_to=row.rebound_to, revocation_reason=row.revocation_reason,
            created_at=row.created_at, note=note, recovery_eta=self._eta(row, views),
        )

    def _eta(self, row: WalletIdentity, views: list[IntentView]) -> datetime | None:
        """A waiting recovery's eta: recorded by the sweep, or read from the chain once the request is there."""
        if row.recovery_eta is not None or row.status != IdentityStatus.RECOVERING or row.recovered_from is None:
            return row.recovery_eta
        if not views or views[0].status != IntentStatus.CONFIRMED:
            return None
        pending = pending_of(self.runtime, row)
        return None if pending is None else datetime.fromtimestamp(pending.eta, tz=UTC)

    def _excused(self, session: Session, row: WalletIdentity, views: list[IntentView],
                 failed: list[IntentView]) -> bool:
        """Registry calls refused only because they had already taken effect count as done."""
        if any(not v.kind.startswith("registry.") for v in failed):
            return False
        if any(v.status not in (IntentStatus.CONFIRMED, IntentStatus.FAILED) for v in views):
            return False
        return self.on_chain(session, row)


def pending_of(runtime: Runtime, row: WalletIdentity) -> PendingRecovery | None:
    """The chain's pending recovery of the row's lost wallet to the row's wallet (one read), or ``None``:
    nothing pending, or pending to another wallet."""
    if row.recovered_from is None:
        return None
    pending = runtime.coin.pending_recovery(row.recovered_from)
    return pending if pending.pending and pending.successor == row.wallet else None


def operation_intents(row: WalletIdentity) -> list[int]:
    """The intents of the row's last operation, in the order the relayer sends them."""
    if row.last_action == IdentityAction.REVOKE:
        return [i for i in (row.revoke_intent_id,) if i is not None]
    if row.last_action == IdentityAction.RENEW:
        return [i for i in (row.renew_intent_id,) if i is not None]
    ids = [row.attest_intent_id]
    if row.last_action == IdentityAction.RECOVER:
        ids += [i for i in (row.renew_intent_id, row.recover_intent_id) if i is not None]
    return ids


def _intent_view(intent: TxIntent) -> IntentView:
    return IntentView(
        id=intent.id, kind=intent.kind, status=intent.status, tx_hash=intent.tx_hash,
        block_number=intent.block_number, error_code=intent.error_code, error_message=intent.error_message,
    )


def race(exc: IntegrityError) -> IdentityError:
    """The error a unique index raised for a concurrent request doing the same thing."""
    text = str(exc.orig).lower()
    if "live_wallet" in text or "identity_wallets.wallet" in text:
        return WalletAlreadyLinked()
    return SubjectAlreadyLinked()
