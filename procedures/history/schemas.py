"""Response bodies of the resident's history."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from procedures.history.movements import Movement, MovementPage


class MovementOut(BaseModel):
    """One movement of the wallet's balance."""

    object: Literal["movement"] = "movement"
    id: str = Field(description="mv_… for a movement read from the chain; the transfer's id until then")
    at: datetime = Field(description="the block's time (until the index has read it: when the service accepted it)")
    kind: str = Field(description="topup, benefit, mint, payment, refund, fee, fee_refund, p2p, payout, "
                                  "recovery, redemption or transfer; points rows: topup_bonus, benefit, reward, "
                                  "points, points_expired or recovery")
    unit: Literal["coins", "points"] = Field("coins", description="what amount counts: coins, or points (a "
                                                                  "credit, an expiry; the coin balance is unchanged)")
    amount: int = Field(description="signed: positive in, negative out")
    points: int = Field(0, description="of a payment's amount, what the wallet's points paid (the rest: coins)")
    balance_after: int | None = Field(description="the balance after this movement (null until the chain index "
                                                  "has read it)")
    counterparty: str | None = Field(description="the other side's address (null for a mint or a burn)")
    counterparty_kind: str = Field(description="city, merchant, resident, lost_wallet or new_wallet")
    counterparty_name: str | None = Field(description="the shop's display name or the city's name")
    status: Literal["confirmed", "pending"]
    tx_hash: str | None
    block_number: int | None
    memo: str | None
    title: dict[str, str] | None = Field(description="what it was for (a fee's or benefit's procedure), ja/en")
    transfer_id: str | None


class MovementsOut(BaseModel):
    """A page of movements, newest first, and the balance they add up to."""

    object: Literal["list"] = "list"
    data: list[MovementOut]
    has_more: bool
    next_cursor: str | None
    balance: int = Field(description="the running balance after the newest confirmed movement")
    indexed_block: int | None = Field(description="the last block the chain index has read")


def movement_out(movement: Movement) -> MovementOut:
    return MovementOut(**asdict(movement))


def movements_out(found: MovementPage) -> MovementsOut:
    return MovementsOut(data=[movement_out(m) for m in found.rows], has_more=found.next_cursor is not None,
                        next_cursor=found.next_cursor, balance=found.balance, indexed_block=found.indexed_block)
