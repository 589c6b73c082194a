"""Request and response bodies of the operator's wallet actions: freezes, recoveries, the audit trail.
(The operator's merchant, top-up and payout bodies live with their rooms' schemas.)"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from procedures.operator.freezes import MAX_REASON, FreezeState
from procedures.operator.recoveries import RecoveryView
from procedures.operator.wallet_actions import ActionView
from procedures.schemas import RequestModel, from_row


class WalletActionIn(RequestModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(None, max_length=MAX_REASON, description="why (kept in the audit trail)")


class FreezeIn(WalletActionIn):
    reported_lost: bool = Field(False, description="the owner reported the wallet lost: frozen all the same, but a "
                                                  "recovery (requested with the owner's card) may still move it")


class WalletActionOut(BaseModel):
    id: str
    wallet: str
    action: str = Field(description="freeze, freeze_lost, unfreeze, recover_retry or recovery_cancel")
    reason: str | None
    operator: str
    approved_by: str | None = Field(description="the second staff member (an unfreeze needs one)")
    status: str = Field(description="awaiting (a second staff member's approval), or the outbox intent: "
                                    "queued … confirmed or failed")
    tx_hash: str | None
    error_code: str | None
    created_at: datetime


def action_out(view: ActionView) -> WalletActionOut:
    """The API object of one audited action."""
    return from_row(WalletActionOut, view)


class WalletStateOut(BaseModel):
    wallet: str
    frozen: bool = Field(description="the coin's freeze flag now")
    pending: str | None = Field(description="a freeze or unfreeze still on its way to the chain")
    actions: list[WalletActionOut]


def wallet_state_out(state: FreezeState, actions: list[ActionView]) -> WalletStateOut:
    """A wallet's freeze state with its audit trail."""
    return from_row(WalletStateOut, state, actions=[action_out(a) for a in actions])


class RecoveryStepOut(BaseModel):
    kind: str
    status: str
    tx_hash: str | None
    error_code: str | None


class RecoveryOut(BaseModel):
    identity_id: str
    lost_wallet: str
    new_wallet: str
    identity_status: str
    recovered_at: datetime = Field(description="when the recovery was requested")
    eta: datetime | None = Field(description="from when the recovery may run (None until requested on chain)")
    rebind: RecoveryStepOut | None = Field(description="the request (requestRecovery)")
    move: RecoveryStepOut | None = Field(description="the execution (executeRecovery: identity and balance)")
    lost_balance: int
    new_balance: int
    can_retry: bool
    blocker: str | None = Field(description="why the balance move cannot be retried now")


def recovery_out(view: RecoveryView) -> RecoveryOut:
    """The API object of a recovery: its chain steps, balances, and whether a retry is possible."""
    return RecoveryOut.model_validate({**asdict(view), "can_retry": view.can_retry})
