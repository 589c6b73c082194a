"""Freezing a wallet on the coin: the city blocks a wallet from sending and receiving (a lost
card reported at the counter, a court order, suspected fraud) and lifts the block again.

``RegionalCoin.freeze`` / ``unfreeze`` need ``FREEZER_ROLE``, held by the freezer key: the call is
queued through the outbox like every other operator chain call, and the action is audited with the
operator's id in ``wallet_actions``. The freeze takes effect once the relayer's transaction is
confirmed; until then a second freeze or unfreeze of the same wallet is refused. Four eyes on the
unfreeze: one staff member asks for it, another approves it (``approve_unfreeze``), and only then is it
queued; both are in the audit row.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.orm import Session

from chain.contracts.registry import Kind
from chain.outbox import enqueue
from procedures.addresses import checksum
from procedures.errors import Conflict, InvalidRequest
from procedures.four_eyes import NotAwaitingApproval, check_approver
from procedures.operator import wallet_actions
from procedures.operator.models import WalletAction
from procedures.operator.wallet_actions import ActionView
from procedures.rows import row_or_404
from procedures.runtime import Runtime
from procedures.transfers.pending import lock_wallet

__all__ = ["FreezeState", "approve_unfreeze", "check", "freeze", "freeze_state", "unfreeze"]

log = logging.getLogger("machi.operator.freezes")

_ACTIONS = ("freeze", "freeze_lost", "unfreeze")
MAX_REASON = 200


@dataclass(frozen=True)
class FreezeState:
    """Whether the coin has a wallet frozen, and a freeze or unfreeze still on its way."""

    wallet: str
    frozen: bool
    pending: str | None


def freeze_state(session: Session, runtime: Runtime, wallet: str) -> FreezeState:
    """The coin's freeze flag for ``wallet`` and the pending action, if any.

    Raises:
        InvalidRequest: not an address.
    """
    address = checksum(wallet)
    pending = wallet_actions.pending_action(session, address, _ACTIONS)
    return FreezeState(address, runtime.coin.is_frozen(address), pending.action if pending is not None else None)


def freeze(session: Session, runtime: Runtime, wallet: str, *, reason: str | None, operator: str,
           reported_lost: bool = False) -> ActionView:
    """Queue ``RegionalCoin.freeze(wallet)`` — or ``freezeAsLost`` when the owner reported it lost (frozen all
    the same, but a recovery may still move it; action ``freeze_lost``).

    Raises:
        InvalidRequest: not an address, or a reason over 200 characters.
        Conflict: already frozen (``already_frozen``), a city account (``city_account``), or another
            freeze/unfreeze still pending (``wallet_action_pending``).
    """
    return _queue(session, runtime, wallet, "freeze_lost" if reported_lost else "freeze", reason, operator)


def unfreeze(session: Session, runtime: Runtime, wallet: str, *, reason: str | None, operator: str) -> ActionView:
    """Record a request to lift the freeze: four eyes — nothing is queued until another staff member
    approves it (``approve_unfreeze``).

    Raises:
        InvalidRequest: not an address, or a reason over 200 characters.
        Conflict: not frozen (``not_frozen``) or another freeze/unfreeze still pending or awaiting approval.
    """
    return _queue(session, runtime, wallet, "unfreeze", reason, operator)


def approve_unfreeze(session: Session, runtime: Runtime, action_id: str, *, approver: str) -> ActionView:
    """The second staff member's approval of an unfreeze: ``RegionalCoin.unfreeze`` is queued, once.

    Raises:
        NotFound: no such action.  SameStaffMember: the approver asked for it.
        NotAwaitingApproval: not an unfreeze awaiting approval.  Conflict: the wallet is no longer frozen
            (``not_frozen``).
    """
    row = row_or_404(session, WalletAction, action_id, what="wallet action", lock=True)
    if row.action != "unfreeze" or row.intent_id is not None:
        raise NotAwaitingApproval("unfreeze")
    check_approver(row.operator, approver, "unfreeze")
    lock_wallet(session, row.wallet)
    if not runtime.coin.is_frozen(row.wallet):
        raise Conflict("this wallet is not frozen", code="not_frozen")
    call = runtime.coin.unfreeze_call(row.wallet)
    number = wallet_actions.count(session, row.wallet, "unfreeze")
    intent = enqueue(session, sender=runtime.keys.freezer.address, to=call.to, data=call.data,
                     kind="wallet.unfreeze", reference=f"wallet-unfreeze:{row.wallet}:{number}:{row.id}")
    row.intent_id, row.approved_by = intent.id, approver
    log.info("wallet %s: unfreeze asked by %s approved by %s (intent %d)", row.wallet, row.operator, approver,
             intent.id)
    return wallet_actions.view(session, row)


def check(session: Session, runtime: Runtime, wallet: str, action: str) -> str:
    """Everything that would refuse a freeze or unfreeze now, without queueing it (a page's
    confirmation step calls this first); returns the checksummed address.

    Raises:
        InvalidRequest: not an address, or an unknown action.  Conflict: as ``freeze`` / ``unfreeze``.
    """
    if action not in _ACTIONS:
        raise InvalidRequest("the action is freeze, freeze_lost or unfreeze", param="action")
    address = checksum(wallet)
    if wallet_actions.pending_action(session, address, _ACTIONS) is not None:
        raise Conflict("a freeze or unfreeze of this wallet is still on its way to the chain (or awaiting a second "
                       "staff member's approval); wait for it", code="wallet_action_pending")
    frozen = runtime.coin.is_frozen(address)
    if action in ("freeze", "freeze_lost"):
        if frozen:
            raise Conflict("this wallet is already frozen", code="already_frozen")
        if runtime.registry.status(address).kind is Kind.CITY:
            raise Conflict("the city's own accounts cannot be frozen", code="city_account")
    elif not frozen:
        raise Conflict("this wallet is not frozen", code="not_frozen")
    return address


def _queue(session: Session, runtime: Runtime, wallet: str, action: str, reason: str | None,
           operator: str) -> ActionView:
    reason = (reason or "").strip() or None
    if reason is not None and len(reason) > MAX_REASON:
        raise InvalidRequest(f"the reason must be at most {MAX_REASON} characters", param="reason")
    address = checksum(wallet)
    lock_wallet(session, address)
    check(session, runtime, address, action)
    if action == "unfreeze":  # four eyes: the intent comes with the second staff member's approval
        row = wallet_actions.record(session, wallet=address, action=action, reason=reason, operator=operator,
                                    intent=None)
        log.info("wallet %s: unfreeze asked by %s, awaiting a second staff member", address, operator)
        return wallet_actions.view(session, row)
    coin = runtime.coin
    call = {"freeze": coin.freeze_call, "freeze_lost": coin.freeze_as_lost_call}[action](address)
    number = wallet_actions.count(session, address, action)
    intent = enqueue(session, sender=runtime.keys.freezer.address, to=call.to, data=call.data,
                     kind=f"wallet.{action}", reference=f"wallet-{action}:{address}:{number}")
    row = wallet_actions.record(session, wallet=address, action=action, reason=reason, operator=operator,
                                intent=intent)
    log.info("wallet %s: %s queued by %s (intent %d)", address, action, operator, intent.id)
    return wallet_actions.view(session, row)
