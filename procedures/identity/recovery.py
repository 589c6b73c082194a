"""Lost-wallet recovery after it was requested: slow, visible, stoppable.

``IdentityService.recover`` checks the card (with its signing certificate) and enqueues
``RegionalCoin.requestRecovery(lost, new, evidence)``; the new wallet's row waits as ``recovering``
while the lost wallet stays ``linked``. The chain announces the request (``RecoveryRequested`` with its
eta) and lets it run only after the delay. Meanwhile the lost wallet (``cancel_by_owner``: its EIP-712
signature, relayed) or the freezer (``cancel_by_staff``) can cancel it.

The sweep here (a worker, ``recovery_worker``) follows every ``recovering`` row against the chain:
it records the eta, queues ``executeRecovery`` once the chain's clock passed it, and folds the outcome
back: executed → the lost wallet's row ``rebound`` (retired everywhere: its tokens revoked, its records
handed to the successor by the ``on_replaced`` hooks wired in ``procedures.wiring``), the new row
``linked``; cancelled → the new row ``cancelled``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from chain.contracts.coin import PendingRecovery
from chain.contracts.registry import AssuranceLevel as ChainLevel
from chain.outbox import IntentStatus, TxIntent, enqueue
from chain.storage import utcnow
from procedures.addresses import checksum
from procedures.auth.service import revoke_wallet_tokens
from procedures.identity.errors import CancelSignatureInvalid, NoPendingRecovery
from procedures.identity.models import IdentityStatus, WalletIdentity
from procedures.identity.records import IdentityRecords, pending_of
from procedures.runtime import Runtime
from procedures.sweeps import run_every
from protocol.recovery import cancel_recovery_typed_data, cancel_signer

__all__ = ["PendingRecoveryView", "ReplacedHook", "cancel_by_owner", "cancel_by_staff", "cancel_typed_data",
           "follow", "pending_for", "pending_view", "recovery_sweep", "recovery_worker"]

log = logging.getLogger("machi.identity.recovery")

#: Runs when a recovery executed: ``(session, lost_wallet, successor)`` — the records that follow the person.
ReplacedHook = Callable[[Session, str, str], None]

#: A recovered identity expiring sooner than this is renewed as soon as the recovery ran.
_RENEW_MARGIN = timedelta(days=1)


@dataclass(frozen=True)
class PendingRecoveryView:
    """A requested recovery that has not run yet: who replaces whom, and from when it may run.

    ``eta`` is ``None`` until the request is on chain (the chain sets it).
    """

    identity_id: str
    lost_wallet: str
    new_wallet: str
    requested_at: datetime
    eta: datetime | None
    request_status: str
    cancel_requested: bool


def pending_for(session: Session, wallet: str) -> WalletIdentity | None:
    """The ``recovering`` row in which ``wallet`` is the lost or the new wallet, if any."""
    return session.scalar(
        select(WalletIdentity).where(
            WalletIdentity.status == IdentityStatus.RECOVERING,
            or_(WalletIdentity.wallet == wallet, WalletIdentity.recovered_from == wallet))
        .order_by(WalletIdentity.created_at.desc()).limit(1))


def pending_view(session: Session, runtime: Runtime, row: WalletIdentity,
                 pending: PendingRecovery | None = None) -> PendingRecoveryView:
    """The row as a ``PendingRecoveryView``: the eta the sweep recorded, else that of ``pending`` (what the
    caller read from the chain already) or, once the request is on chain, read now."""
    assert row.recovered_from is not None
    intent = session.get(TxIntent, row.attest_intent_id)
    status = intent.status if intent is not None else IntentStatus.PENDING
    eta = row.recovery_eta
    if eta is None and status == IntentStatus.CONFIRMED:
        pending = pending or pending_of(runtime, row)
        if pending is not None:
            eta = datetime.fromtimestamp(pending.eta, tz=UTC)
    return PendingRecoveryView(
        identity_id=row.id, lost_wallet=row.recovered_from, new_wallet=row.wallet, requested_at=row.created_at,
        eta=eta, request_status=status, cancel_requested=row.cancel_intent_id is not None)


# --------------------------------------------------------------------------- cancelling
def pending_on_chain(session: Session, runtime: Runtime, wallet: str) -> tuple[WalletIdentity, PendingRecovery]:
    """The ``recovering`` row in which ``wallet`` is the lost or the new wallet, and the chain's pending
    recovery of it (read once).

    Raises:
        NoPendingRecovery: no such row, or the chain shows nothing pending to the row's new wallet.
    """
    row = pending_for(session, wallet)
    pending = pending_of(runtime, row) if row is not None else None
    if row is None or pending is None:
        raise NoPendingRecovery()
    return row, pending


def _lost_wallets_pending(session: Session, runtime: Runtime, lost: str) -> tuple[WalletIdentity, PendingRecovery]:
    row, pending = pending_on_chain(session, runtime, lost)
    if row.recovered_from != lost:  # the owner's signature cancels only as the lost wallet
        raise NoPendingRecovery()
    return row, pending


def _cancel_typed(runtime: Runtime, row: WalletIdentity, pending: PendingRecovery) -> dict[str, Any]:
    assert row.recovered_from is not None
    domain = runtime.coin.domain()
    return cancel_recovery_typed_data(
        {"name": domain.name, "version": domain.version, "chainId": domain.chain_id,
         "verifyingContract": domain.verifying_contract}, row.recovered_from, row.wallet, pending.eta,
        pending.evidence)


def cancel_typed_data(session: Session, runtime: Runtime, lost_wallet: str) -> dict[str, Any]:
    """What the lost wallet signs to cancel its pending recovery (EIP-712 ``CancelRecovery``).

    Raises:
        InvalidRequest: not an address.  NoPendingRecovery: nothing pending on chain for this wallet.
    """
    return _cancel_typed(runtime, *_lost_wallets_pending(session, runtime, checksum(lost_wallet, "wallet")))


def cancel_by_owner(session: Session, runtime: Runtime, lost_wallet: str, signature: str) -> PendingRecoveryView:
    """Queue ``cancelRecoveryWithSignature``: the lost wallet's own signature stops its recovery.

    Raises:
        InvalidRequest: not an address.  NoPendingRecovery: nothing pending on chain.
        CancelSignatureInvalid: not signed by the lost wallet for the pending request.
    """
    lost = checksum(lost_wallet, "wallet")
    row, pending = _lost_wallets_pending(session, runtime, lost)
    signer = cancel_signer(_cancel_typed(runtime, row, pending), signature)
    if signer is None or signer != lost:
        raise CancelSignatureInvalid()
    call = runtime.coin.cancel_recovery_with_signature_call(lost, bytes.fromhex(signature.removeprefix("0x")))
    _queue_cancel(session, runtime, row, call.to, call.data, "owner")
    return pending_view(session, runtime, row, pending)


def cancel_by_staff(session: Session, runtime: Runtime, wallet: str, *, operator: str) -> TxIntent:
    """Queue ``cancelRecovery`` with the freezer's power (a staff decision, audited in ``wallet_actions``
    by the caller); ``wallet`` is the lost or the new wallet. Returns the intent.

    Raises:
        InvalidRequest: not an address.  NoPendingRecovery: nothing pending on chain for this wallet.
    """
    row, _ = pending_on_chain(session, runtime, checksum(wallet, "wallet"))
    assert row.recovered_from is not None
    call = runtime.coin.cancel_recovery_call(row.recovered_from)
    intent = _queue_cancel(session, runtime, row, call.to, call.data, "freezer")
    log.info("recovery %s: cancellation queued by staff %s", row.id, operator)
    return intent


def _queue_cancel(session: Session, runtime: Runtime, row: WalletIdentity, to: str, data: bytes,
                  who: str) -> TxIntent:
    if row.cancel_intent_id is not None:
        earlier = session.get(TxIntent, row.cancel_intent_id)
        if earlier is not None and earlier.status != IntentStatus.FAILED:
            return earlier  # already on its way
    # the owner's signed cancellation is relayed like any signed authorization; staff cancel with the freezer's power
    sender = runtime.keys.freezer if who == "freezer" else runtime.keys.relayer
    intent = enqueue(session, sender=sender.address, to=to, data=data, kind="coin.cancel_recovery",
                     reference=f"identity:coin.cancel_recovery:{row.id}:{who}:{utcnow().timestamp():.0f}")
    row.cancel_intent_id = intent.id
    session.flush()
    log.info("recovery %s of wallet %s: cancellation by the %s queued (intent %d)", row.id, row.recovered_from,
             who, intent.id)
    return intent


# --------------------------------------------------------------------------- following the chain
def follow(session: Session, runtime: Runtime, row: WalletIdentity, on_replaced: Sequence[ReplacedHook] = ()) -> None:
    """Advance one ``recovering`` row by what the chain shows (idempotent; the sweep calls it).

    The request not yet mined: nothing. Pending on chain: record the eta, and queue ``executeRecovery``
    once the chain's clock reached it. Gone from the chain: executed (the registry names the new wallet
    as the successor) or cancelled.
    """
    if row.status != IdentityStatus.RECOVERING or row.recovered_from is None:
        return
    lost = row.recovered_from
    request = session.get(TxIntent, row.attest_intent_id)
    if request is None or request.status == IntentStatus.FAILED:
        IdentityRecords(runtime).settle(session, row)
        return
    if request.status != IntentStatus.CONFIRMED:
        return
    coin, registry = runtime.coin, runtime.registry
    pending = pending_of(runtime, row)
    if pending is not None:
        eta = datetime.fromtimestamp(pending.eta, tz=UTC)
        if row.recovery_eta != eta:
            row.recovery_eta = eta
        # Due by the chain's clock (tests travel in time) or by ours: a node that mines only on demand keeps an
        # old latest block, and the execution's own block is stamped now.
        if max(coin.block_time(), int(time.time())) >= pending.eta and _needs_execute(session, row):
            call = coin.execute_recovery_call(lost)
            attempt = 0 if row.recover_intent_id is None else row.recover_intent_id
            intent = enqueue(session, sender=runtime.keys.recovery.address, to=call.to, data=call.data,
                             kind="coin.execute_recovery",
                             reference=f"identity:coin.execute_recovery:{row.id}:{attempt}")
            row.recover_intent_id = intent.id
            log.info("recovery %s: due, execution queued (intent %d)", row.id, intent.id)
        session.flush()
        return
    if registry.successor_of(lost) == row.wallet:
        _executed(session, runtime, row, on_replaced)
    else:
        row.status = IdentityStatus.CANCELLED
        log.info("recovery %s of wallet %s was cancelled", row.id, lost)
    session.flush()


def _needs_execute(session: Session, row: WalletIdentity) -> bool:
    if row.recover_intent_id is None:
        return True
    intent = session.get(TxIntent, row.recover_intent_id)
    if intent is None:
        return True
    # Sent a moment too early (clocks apart): try again. Any other failure stays failed until an operator
    # retries it, once its cause is fixed (a frozen successor, a cap, a pause).
    return intent.status == IntentStatus.FAILED and intent.error_code == "RegionalCoinRecoveryNotDue"


def _executed(session: Session, runtime: Runtime, row: WalletIdentity, on_replaced: Sequence[ReplacedHook]) -> None:
    assert row.recovered_from is not None
    lost, now = row.recovered_from, utcnow()
    old = session.scalar(select(WalletIdentity).where(WalletIdentity.wallet == lost,
                                                      WalletIdentity.subject_id == row.subject_id,
                                                      WalletIdentity.status == IdentityStatus.LINKED))
    if old is not None:
        old.status, old.rebound_to, old.revoked_at, old.revocation_reason = (
            IdentityStatus.REBOUND, row.wallet, now, "rebound")
        session.flush()  # the old row leaves the "one live wallet" index before the new row enters
    row.status = IdentityStatus.LINKED
    session.flush()
    revoke_wallet_tokens(session, lost)
    for hook in on_replaced:
        hook(session, lost, row.wallet)
    if row.expires_at <= now + _RENEW_MARGIN:
        row.expires_at = (now + timedelta(days=runtime.settings.identity_attestation_days)).replace(microsecond=0)
        call = runtime.registry.renew_call(row.wallet, ChainLevel(row.level), row.expires_at, row.evidence_commitment)
        intent = enqueue(session, sender=runtime.keys.registrar.address, to=call.to, data=call.data,
                         kind="registry.renew", reference=f"identity:registry.renew:{row.id}")
        row.renew_intent_id = intent.id
    log.info("recovery %s ran: wallet %s replaces %s", row.id, row.wallet, lost)


def recovery_sweep(runtime: Runtime, on_replaced: Sequence[ReplacedHook] = ()) -> int:
    """Follow every ``recovering`` row once, each in its own transaction; returns how many were seen."""
    with runtime.sessions() as session:
        ids = list(session.scalars(select(WalletIdentity.id).where(
            WalletIdentity.status == IdentityStatus.RECOVERING)))
    for identity_id in ids:
        with runtime.sessions() as session, session.begin():
            row = session.get(WalletIdentity, identity_id, with_for_update=True)
            if row is not None:
                follow(session, runtime, row, on_replaced)
    return len(ids)


def recovery_worker(runtime: Runtime, stop: threading.Event, *, on_replaced: Sequence[ReplacedHook] = ()) -> None:
    """Worker: the recovery sweep every ``recovery_sweep_interval`` seconds."""
    run_every(runtime, stop, lambda r: r.settings.recovery_sweep_interval,
              lambda: recovery_sweep(runtime, on_replaced), "recovery sweep")
