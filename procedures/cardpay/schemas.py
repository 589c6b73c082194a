"""Requests and answers of the card payment endpoints (merchant API) and the card wallet opt-in (operator)."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from procedures.cardpay.models import CardWallet
from procedures.errors import InvalidRequest
from procedures.merchants.schemas import PaymentRequestOut
from procedures.schemas import RequestModel, from_row
from protocol.counter import CardPaymentStatement, OptInStatement
from protocol.statement import CardSignatures

__all__ = ["CardPaymentChallengeIn", "CardPaymentIn", "CardPaymentOut", "CardWalletOut", "CounterChallengeOut",
           "OptInIn"]


def _b64(param: str, value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest(f"{param} is not base64", param=param) from None


class _CardSigned(RequestModel):
    model_config = ConfigDict(extra="forbid")

    statement: dict[str, Any] = Field(description="the statement as the challenge returned it")
    auth_certificate: str = Field(max_length=8_000, description="the card's user-authentication certificate, "
                                  "base64 DER")
    auth_signature: str = Field(max_length=2_000, description="its key's signature over the canonical statement, "
                                "base64")

    def proof(self) -> CardSignatures:
        return CardSignatures(auth_certificate=_b64("auth_certificate", self.auth_certificate),
                              auth_signature=_b64("auth_signature", self.auth_signature))


class CardPaymentChallengeIn(RequestModel):
    model_config = ConfigDict(extra="forbid")

    payment_request: str = Field(max_length=40, description="the open payment request the card is to pay")


class CounterChallengeOut(BaseModel):
    """A single-use nonce and the statement for the card to sign (``canonical``: the exact bytes, UTF-8)."""

    nonce: str
    statement: dict[str, Any]
    canonical: str
    expires_in: int = Field(description="seconds the statement may be signed and sent in")


class CardPaymentIn(_CardSigned):
    payment_request: str = Field(max_length=40)

    def parsed(self) -> CardPaymentStatement:
        return CardPaymentStatement.from_json(self.statement)


class CardPaymentOut(BaseModel):
    object: str = "card_payment"
    id: str
    amount: int
    transfer: str
    payment_request: PaymentRequestOut
    created_at: datetime


class OptInIn(_CardSigned):
    def parsed(self) -> OptInStatement:
        return OptInStatement.from_json(self.statement)


class CardWalletOut(BaseModel):
    object: str = "card_wallet"
    id: str
    wallet: str = Field(description="the card wallet's address (top-ups go here)")
    status: str
    created_at: datetime


def card_wallet_out(row: CardWallet) -> CardWalletOut:
    return from_row(CardWalletOut, row)
