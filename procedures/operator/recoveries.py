"""Lost-wallet recovery as the counter sees it, and a retry of a failed execution.

A resident who lost their wallet (phone lost, keystore gone) recovers it with the My Number card
(``machi-wallet recover``): ``RegionalCoin.requestRecovery`` announces the move, and after the delay
``executeRecovery`` re-binds the identity and moves the whole balance in one transaction
(``procedures.identity.recovery``). The execution can fail — the new wallet frozen, the coin paused,
the new wallet's balance cap exceeded — and then nothing moved and the request stays pending. Once the
cause is fixed, the operator retries it here: the same ``executeRecovery`` call (which anyone may send;
it gives no power of its own), queued again through the outbox, audited with the operator's id.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from chain.contracts.coin import FreezeKind, PendingRecovery
from chain.contracts.registry import AssuranceLevel, Kind
from chain.outbox import IntentStatus, TxIntent, enqueue
from procedures.addresses import checksum
from procedures.errors import Conflict, NotFound
from procedures.identity import recovery
from procedures.identity.models import IdentityStatus, WalletIdentity
from procedures.identity.records import pending_of
from procedures.operator import wallet_actions
from procedures.operator.wallet_actions import ActionView
from procedures.runtime import Runtime
from procedures.transfers.pending import lock_wallet

__all__ = ["RecoveryView", "RetryRefused", "StepView", "blocker_message", "cancel", "check_retry", "get_recovery",
           "recovery_state", "retry_balance_move"]

log = logging.getLogger("machi.operator.recoveries")


@dataclass(frozen=True)
class StepView:
    """One chain step of a recovery (the request, or the execution that moves identity and balance)."""

    kind: str
    status: str
    tx_hash: str | None
    error_code: str | None


@dataclass(frozen=True)
class RecoveryView:
    """A recovery: which wallet replaced which, how its chain steps went, and whether a retry of the
    balance move is possible now (``blocker`` names why not)."""

    identity_id: str
    lost_wallet: str
    new_wallet: str
    identity_status: str
    recovered_at: datetime
    eta: datetime | None
    rebind: StepView | None
    move: StepView | None
    lost_balance: int
    new_balance: int
    blocker: str | None

    @property
    def can_retry(self) -> bool:
        return self.blocker is None


class RetryRefused(Conflict):
    """The balance move cannot be retried now (see ``RecoveryView.blocker``)."""

    code = "recovery_retry_refused"


_BLOCKERS = {
    "move_pending": "the recovery's execution is still on its way to the chain",
    "move_confirmed": "the recovery already ran",
    "recovery_failed": "the recovery was cancelled or never requested on chain; the resident must recover again",
    "not_due": "the recovery's delay has not passed yet; it runs by itself when due",
    "not_pending": "the chain shows no pending recovery of the lost wallet to the new wallet",
    "coin_paused": "the coin is paused",
    "wallet_frozen": "the new wallet is frozen; unfreeze it first",
    "lost_wallet_frozen": "the lost wallet is frozen (not as reported lost)",
    "balance_cap_exceeded": "the new wallet cannot hold the lost wallet's balance under its cap",
}


def _find(session: Session, wallet: str) -> WalletIdentity | None:
    """The newest recovery in which ``wallet`` is the lost or the new wallet."""
    return session.scalar(
        select(WalletIdentity).where(
            WalletIdentity.recovered_from.is_not(None),
            or_(WalletIdentity.wallet == wallet, WalletIdentity.recovered_from == wallet))
        .order_by(WalletIdentity.created_at.desc()).limit(1))


def _step(session: Session, intent_id: int | None) -> StepView | None:
    intent = session.get(TxIntent, intent_id) if intent_id is not None else None
    if intent is None:
        return None
    return StepView(intent.kind, intent.status, intent.tx_hash, intent.error_code)


def _blocker(runtime: Runtime, row: WalletIdentity, pending: PendingRecovery | None, move: StepView | None,
             lost_balance: int, new_balance: int) -> str | None:
    if row.status == IdentityStatus.LINKED or (move is not None and move.status == IntentStatus.CONFIRMED):
        return "move_confirmed"
    if move is not None and move.status != IntentStatus.FAILED:
        return "move_pending"
    if row.status != IdentityStatus.RECOVERING:
        return "recovery_failed"
    assert row.recovered_from is not None
    coin = runtime.coin
    if pending is None:
        return "not_pending"
    if move is None or coin.block_time() < pending.eta:
        return "not_due"
    if coin.paused():
        return "coin_paused"
    if coin.freeze_kind(row.recovered_from) is FreezeKind.FROZEN:
        return "lost_wallet_frozen"
    if coin.is_frozen(row.wallet):
        return "wallet_frozen"
    status = runtime.registry.status(row.wallet)
    if status.kind is Kind.RESIDENT and status.level is not AssuranceLevel.NONE:
        if new_balance + lost_balance > coin.balance_cap(status.level):
            return "balance_cap_exceeded"
    return None


def recovery_state(session: Session, runtime: Runtime, wallet: str) -> RecoveryView | None:
    """The newest recovery involving ``wallet`` (as the lost or the new wallet), or ``None``.

    Raises:
        InvalidRequest: not an address.
    """
    row = _find(session, checksum(wallet))
    if row is None or row.recovered_from is None:
        return None
    move = _step(session, row.recover_intent_id)
    pending = pending_of(runtime, row) if row.status == IdentityStatus.RECOVERING else None
    lost_balance = runtime.coin.balance_of(row.recovered_from)
    new_balance = runtime.coin.balance_of(row.wallet)
    return RecoveryView(
        identity_id=row.id, lost_wallet=row.recovered_from, new_wallet=row.wallet, identity_status=row.status,
        recovered_at=row.created_at,
        eta=row.recovery_eta or (datetime.fromtimestamp(pending.eta, tz=UTC) if pending is not None else None),
        rebind=_step(session, row.attest_intent_id), move=move,
        lost_balance=lost_balance, new_balance=new_balance,
        blocker=_blocker(runtime, row, pending, move, lost_balance, new_balance))


def blocker_message(code: str) -> str:
    """A sentence for a blocker code."""
    return _BLOCKERS.get(code, code)


def get_recovery(session: Session, runtime: Runtime, wallet: str) -> RecoveryView:
    """The newest recovery involving ``wallet`` (as the lost or the new wallet).

    Raises:
        InvalidRequest: not an address.  NotFound: the wallet was never recovered (``no_recovery``).
    """
    state = recovery_state(session, runtime, wallet)
    if state is None:
        raise NotFound("this wallet was not part of a lost-wallet recovery", code="no_recovery", param="wallet")
    return state


def check_retry(session: Session, runtime: Runtime, wallet: str) -> RecoveryView:
    """The recovery whose balance move can be retried now (a page's confirmation step calls this).

    Raises:
        InvalidRequest: not an address.  NotFound: the wallet was never recovered (``no_recovery``).
        RetryRefused: the move did not fail, or would fail again (the message says why).
    """
    state = get_recovery(session, runtime, wallet)
    if state.blocker is not None:
        raise RetryRefused(f"cannot retry the balance move: {blocker_message(state.blocker)}", param="wallet")
    return state


def cancel(session: Session, runtime: Runtime, wallet: str, *, operator: str) -> ActionView:
    """Cancel the pending recovery involving ``wallet`` (lost or new) with the freezer's power, audited.

    Raises:
        InvalidRequest: not an address.  NoPendingRecovery: nothing pending on chain.
    """
    address = checksum(wallet)
    intent = recovery.cancel_by_staff(session, runtime, address, operator=operator)
    row = recovery.pending_for(session, address)
    assert row is not None and row.recovered_from is not None
    action = wallet_actions.record(session, wallet=row.recovered_from, action="recovery_cancel", reason=None,
                                   operator=operator, intent=intent)
    return wallet_actions.view(session, action)


def retry_balance_move(session: Session, runtime: Runtime, wallet: str, *, operator: str) -> ActionView:
    """Queue ``RegionalCoin.executeRecovery(lost)`` again for the newest recovery involving ``wallet``.

    Raises:
        InvalidRequest, NotFound, RetryRefused: as ``check_retry``.
    """
    address = checksum(wallet)
    lock_wallet(session, address)
    state = check_retry(session, runtime, address)
    row = session.get(WalletIdentity, state.identity_id, with_for_update=True)
    assert row is not None and row.recovered_from is not None
    number = wallet_actions.count(session, row.wallet, "recover_retry")
    call = runtime.coin.execute_recovery_call(row.recovered_from)
    intent = enqueue(session, sender=runtime.keys.recovery.address, to=call.to, data=call.data,
                     kind="coin.execute_recovery", reference=f"identity:coin.execute_recovery:{row.id}:retry{number}")
    row.recover_intent_id = intent.id  # the identity's recovery now reports this attempt
    action = wallet_actions.record(session, wallet=row.wallet, action="recover_retry", reason=None,
                                   operator=operator, intent=intent)
    log.info("recovery %s: balance move retried by %s (intent %d)", row.id, operator, intent.id)
    return wallet_actions.view(session, action)
