"""Request and response bodies of settlement: payouts and their Zengin batches, top-up receipts."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from procedures.addresses import WalletAddress
from procedures.schemas import Column, IsoDate, RequestModel, from_row
from procedures.settlement.models import Payout, PayoutBatch, TopUp


# --------------------------------------------------------------------------- payouts
class PayoutIn(RequestModel):
    model_config = ConfigDict(extra="forbid")

    amount: int = Field(gt=0, le=10**12, description="coins to redeem; the fee is deducted from the yen paid out")


class PayoutOut(BaseModel):
    object: str = "payout"
    id: str
    merchant: Annotated[str, Column("merchant_id")]
    amount: int = Field(description="coins redeemed (burned)")
    fee: int
    fee_bps: int
    net_amount: int = Field(description="yen transferred to the bank account")
    status: str = Field(description="processing, redeemed, in_transit, paid, failed")
    batch: Annotated[str | None, Column("batch_id")]
    redeem_tx_hash: str | None
    failure_code: str | None
    failure_message: str | None
    created_at: datetime
    redeemed_at: datetime | None
    paid_at: datetime | None


def payout_out(payout: Payout) -> PayoutOut:
    """The API object of a payout."""
    return from_row(PayoutOut, payout)


class BatchIn(RequestModel):
    model_config = ConfigDict(extra="forbid")

    transfer_date: IsoDate | None = Field(None, description="取組日 (default: today in Japan)")


class PayoutBatchOut(BaseModel):
    object: str = "payout_batch"
    id: str
    status: str = Field(description="exported, transferred")
    transfer_date: date
    count: int
    total_amount: int
    payouts: list[str]
    created_at: datetime
    transferred_at: datetime | None


def payout_batch_out(batch: PayoutBatch, payout_ids: list[str]) -> PayoutBatchOut:
    """The API object of a payout batch."""
    return from_row(PayoutBatchOut, batch, payouts=payout_ids)


# --------------------------------------------------------------------------- top-ups
class TopUpIn(RequestModel):
    model_config = ConfigDict(extra="forbid")

    wallet: WalletAddress
    amount: int = Field(gt=0, le=10_000_000, description="yen received")
    channel: str = Field("counter", description="counter or atm")
    location: str | None = Field(None, max_length=80, description="e.g. 加賀市役所 1F 窓口")
    reference: str = Field(min_length=1, max_length=80,
                           description="the cash-receipt reference: counter slip or ATM transaction number (unique)")


class TopUpOut(BaseModel):
    object: str = "topup"
    id: str = Field(description="also the receipt number")
    wallet: str
    amount_paid: int = Field(description="yen received at the counter or ATM")
    bonus: int = Field(description="campaign premium, credited as points (spent first at merchants, not redeemable,"
                                   " expiring at points_expire_at)")
    amount_minted: int = Field(description="coins minted (the yen paid; before points, the bonus too)")
    points_status: str = Field(description="the bonus credit: none, pending, credited, failed")
    points_expire_at: datetime | None = Field(description="when the bonus points stop counting")
    channel: str
    location: str | None
    reference: str = Field(description="the cash-receipt reference of the yen received")
    status: str = Field(description="awaiting (a second staff member's approval), pending, confirmed, failed")
    operator: str = Field(description="the staff member who recorded it")
    approved_by: str | None = Field(description="the second staff member, for a top-up over the four-eyes amount")
    failure_code: str | None
    tx_hash: str | None
    city: str
    created_at: datetime
    confirmed_at: datetime | None


def topup_out(topup: TopUp, city: str) -> TopUpOut:
    """The receipt of a top-up."""
    return from_row(TopUpOut, topup, city=city)
