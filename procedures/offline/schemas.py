"""Requests and answers of the offline endpoints: a resident's reserve, the counters' relay (merchant API),
disaster mode (operators)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from procedures.offline.models import DisasterPeriod, OfflinePaymentRow
from procedures.schemas import RequestModel, from_row
from procedures.transfers.schemas import AuthorizationIn

__all__ = ["DisasterIn", "DisasterOut", "OfflineConsoleOut", "OfflinePaymentIn", "OfflinePaymentOut", "ReleaseIn",
           "ReleaseOut", "ReserveIn", "ReserveOut", "ReserveSnapshotOut", "ReserveTopUpOut", "SnapshotEntry",
           "disaster_out", "offline_payment_out"]


class ReserveIn(RequestModel):
    """The resident's ERC-3009 ``ReceiveWithAuthorization`` of coins to the offline reserve."""

    authorization: AuthorizationIn


class ReleaseIn(RequestModel):
    """The resident's EIP-712 ``ReleaseRequest(payer, nonce)`` over the reserve's domain."""

    nonce: str = Field(pattern=r"^0x[0-9a-fA-F]{64}$")
    signature: str = Field(pattern=r"^0x[0-9a-fA-F]{130}$")


class ReleaseOut(BaseModel):
    object: str = "offline_release"
    status: str = Field(description="requested (due at ``due_at``) | releasing (the coins are on their way back)")
    due_at: int | None = None
    amount: int | None = None


class ReserveTopUpOut(BaseModel):
    object: str = "offline_reserve_topup"
    id: str
    amount: int
    status: str
    created_at: datetime


class ReserveOut(BaseModel):
    """My offline reserve, and what a wallet needs to sign offline payments against it."""

    object: str = "offline_reserve"
    wallet: str
    reserved: int = Field(description="coins locked in the reserve on chain")
    adding: int = Field(description="coins on their way into the reserve")
    release_at: int | None = Field(description="when a requested release is due (unix time), if any")
    limit: int = Field(description="most coins a reserve may hold now (raised in disaster mode)")
    chain_id: int
    reserve: str = Field(description="the OfflineReserve contract (the EIP-712 verifying contract)")
    max_validity: int = Field(description="longest validity (seconds) counters accept for an offline payment")


class SnapshotEntry(BaseModel):
    payer: str
    reserved: int
    release_at: int | None


class ReserveSnapshotOut(BaseModel):
    """What a counter keeps to check offline payments with no network."""

    object: str = "offline_snapshot"
    chain_id: int
    reserve: str
    merchant_wallet: str
    synced_at: int
    reserves: list[SnapshotEntry]
    has_more: bool = Field(False, description="more payers follow: ask again with `starting_after=next_cursor`")
    next_cursor: str | None = None


class OfflinePaymentIn(RequestModel):
    """One code a counter accepted offline (``machi-offline:1:…``), as scanned."""

    code: str = Field(min_length=1, max_length=4_000)


class OfflinePaymentOut(BaseModel):
    object: str = "offline_payment"
    id: str
    status: str = Field(description="relaying | paid | refused")
    payer: str
    amount: int
    nonce: str
    valid_before: int
    reason: str | None = Field(description="why it was refused (reserve_spent, expired…)")
    reason_message: str | None
    tx_hash: str | None
    created_at: datetime
    final_at: datetime | None


def offline_payment_out(row: OfflinePaymentRow) -> OfflinePaymentOut:
    return from_row(OfflinePaymentOut, row)


class DisasterIn(RequestModel):
    reserve_limit: int = Field(gt=0, lt=2**31, description="the offline reserve limit while it lasts (coins)")
    hours: int = Field(gt=0, lt=10_000, description="how long it lasts from now")
    reason: str = Field(min_length=1, max_length=200, description="why (kept in the audit record)")


class DisasterOut(BaseModel):
    object: str = "disaster_period"
    id: str
    reserve_limit: int
    reason: str
    declared_by: str
    starts_at: datetime
    ends_at: datetime
    ended_by: str | None
    ended_at: datetime | None


def disaster_out(row: DisasterPeriod) -> DisasterOut:
    return from_row(DisasterOut, row)


class OfflineConsoleOut(BaseModel):
    """Disaster mode and the offline payments waiting to be settled, for operators."""

    object: str = "offline_overview"
    reserve_limit: int
    usual_limit: int
    periods: list[DisasterOut]
    waiting_count: int
    waiting_coins: int
    waiting: list[OfflinePaymentOut]
