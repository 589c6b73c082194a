"""Request and response bodies of the resident's wallet: signed authorizations in, transfers,
the coin's parameters and the balance out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from chain.contracts.authorization import Authorization
from procedures.addresses import WalletAddress
from procedures.schemas import Column, RequestModel, from_row
from procedures.transfers.models import Transfer
from procedures.transfers.service import status_of

HEX32 = r"^0x[0-9a-fA-F]{64}$"


class AuthorizationIn(RequestModel):
    """An ERC-3009 TransferWithAuthorization signed by the payer's wallet."""

    from_: WalletAddress = Field(alias="from")
    to: WalletAddress
    value: int = Field(gt=0, lt=2**63)
    valid_after: int = Field(ge=0, lt=2**63)
    valid_before: int = Field(ge=0, lt=2**63)
    nonce: str = Field(pattern=HEX32)
    v: int = Field(ge=0, le=255)
    r: str = Field(pattern=HEX32)
    s: str = Field(pattern=HEX32)

    model_config = {"populate_by_name": True}

    def to_authorization(self) -> Authorization:
        return Authorization(
            from_=self.from_,
            to=self.to,
            value=self.value,
            valid_after=self.valid_after,
            valid_before=self.valid_before,
            nonce=bytes.fromhex(self.nonce[2:]),
            v=self.v,
            r=bytes.fromhex(self.r[2:]),
            s=bytes.fromhex(self.s[2:]),
        )


class TransferIn(RequestModel):
    authorization: AuthorizationIn
    memo: str | None = Field(None, max_length=140)


class TransferOut(BaseModel):
    object: str = "transfer"
    id: str
    kind: str
    status: str
    from_: Annotated[str, Column("from_wallet")] = Field(serialization_alias="from")
    to: Annotated[str, Column("to_wallet")]
    amount: int
    memo: str | None
    failure_code: str | None
    failure_message: str | None
    tx_hash: str | None
    created_at: datetime
    confirmed_at: datetime | None


def transfer_out(session: Session, transfer: Transfer) -> TransferOut:
    """The API object of a transfer (``submitted`` while its intent is in a signed transaction)."""
    return from_row(TransferOut, transfer, status=status_of(session, transfer))


class CoinOut(BaseModel):
    address: str
    chain_id: int
    name: str
    symbol: str
    version: str
    decimals: int


class NonceOut(BaseModel):
    """The nonce the wallet signs its next payment with: key 1, its own sequence (see ``RegionalCoin``)."""

    wallet: str
    key: int
    sequence: int
    nonce: str
    in_progress: int


class BalanceOut(BaseModel):
    wallet: str
    balance: int = Field(description="coins (bought with yen or received; redeemable, transferable)")
    pending_out: int
    pending_in: int
    available: int = Field(description="coins less payments in progress")
    kind: str
    level: int
    verified: bool
    frozen: bool
    cap: int | None = Field(description="the most coins this wallet may hold (points do not count)")
    points: int = Field(0, description="unexpired points: spent first when paying a merchant, never sent to "
                                       "residents or redeemed")
    points_expired: int = Field(0, description="points past their expiry, going back to the city's fund")
    next_expiry: datetime | None = Field(None, description="when the earliest unexpired points stop counting")
    next_expiry_points: int = Field(0, description="how many points stop counting then")
