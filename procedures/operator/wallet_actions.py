"""The operator's audit trail of chain actions on one wallet: freezes, unfreezes, and retried
balance moves after a lost-wallet recovery.

Each row names the operator (``operator:<staff id>`` or ``staff:<id>``), the reason given and the
outbox intent that carries the call; the intent's own status tells whether it reached the chain,
so a row never goes stale.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chain.outbox import TxIntent
from chain.storage import utcnow
from procedures.four_eyes import AWAITING
from procedures.operator.models import WalletAction
from procedures.pagination import newest_first

__all__ = ["ActionView", "count", "history", "pending_action", "record", "view"]


@dataclass(frozen=True)
class ActionView:
    """A wallet action with its intent's outcome."""

    id: str
    wallet: str
    action: str
    reason: str | None
    operator: str
    approved_by: str | None
    status: str
    tx_hash: str | None
    error_code: str | None
    created_at: datetime




def record(session: Session, *, wallet: str, action: str, reason: str | None, operator: str,
           intent: TxIntent | None) -> WalletAction:
    """Add the audit row of an action whose intent was just enqueued (None: it waits for a second staff
    member's approval, ``approve``)."""
    row = WalletAction(id=f"wa_{secrets.token_hex(12)}", wallet=wallet, action=action, reason=reason, operator=operator,
                       intent_id=None if intent is None else intent.id, created_at=utcnow())
    session.add(row)
    session.flush()
    return row


def count(session: Session, wallet: str, action: str) -> int:
    """How many times ``action`` was taken on ``wallet`` (to make each intent reference unique)."""
    return int(session.scalar(select(func.count()).select_from(WalletAction)
                              .where(WalletAction.wallet == wallet, WalletAction.action == action)) or 0)


def view(session: Session, row: WalletAction) -> ActionView:
    """The row with its intent's status."""
    intent = None if row.intent_id is None else session.get(TxIntent, row.intent_id)
    status = AWAITING if row.intent_id is None else intent.status if intent is not None else "unknown"
    return ActionView(id=row.id, wallet=row.wallet, action=row.action, reason=row.reason, operator=row.operator,
                      approved_by=row.approved_by, status=status,
                      tx_hash=intent.tx_hash if intent is not None else None,
                      error_code=intent.error_code if intent is not None else None, created_at=row.created_at)


def history(session: Session, wallet: str, limit: int = 20) -> list[ActionView]:
    """The wallet's actions, newest first."""
    window = newest_first(session, WalletAction, select(WalletAction).where(WalletAction.wallet == wallet),
                          limit=limit)
    return [view(session, row) for row in window.rows]


def pending_action(session: Session, wallet: str, actions: tuple[str, ...]) -> WalletAction | None:
    """The newest of ``actions`` on ``wallet`` still awaiting approval or whose intent has not reached a
    final state, if any."""
    rows = session.scalars(select(WalletAction).where(WalletAction.wallet == wallet, WalletAction.action.in_(actions))
                           .order_by(WalletAction.created_at.desc(), WalletAction.id.desc()).limit(5))
    for row in rows:
        if row.intent_id is None:
            return row
        intent = session.get(TxIntent, row.intent_id)
        if intent is not None and not intent.done:
            return row
    return None
