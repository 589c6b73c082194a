"""Resident endpoints for money: coin parameters, balance, history, transfers."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, status
from pydantic import BaseModel, Field, field_validator
from web3 import Web3

from chain.contracts.authorization import Authorization
from chain.contracts.registry import AssuranceLevel, Kind
from procedures.deps import ResidentPrincipal, RuntimeDep, SessionDep
from procedures.errors import InvalidRequest, PermissionDenied
from procedures.pagination import CursorQuery, LimitQuery, Page
from procedures.transfers import service as transfers
from procedures.transfers.models import Transfer

router = APIRouter(prefix="/v1", tags=["wallet"])

HEX32 = r"^0x[0-9a-fA-F]{64}$"


class AuthorizationIn(BaseModel):
    """An ERC-3009 TransferWithAuthorization signed by the payer's wallet."""

    from_: str = Field(alias="from")
    to: str
    value: int = Field(gt=0, lt=2**63)
    valid_after: int = Field(ge=0, lt=2**63)
    valid_before: int = Field(ge=0, lt=2**63)
    nonce: str = Field(pattern=HEX32)
    v: int = Field(ge=0, le=255)
    r: str = Field(pattern=HEX32)
    s: str = Field(pattern=HEX32)

    model_config = {"populate_by_name": True}

    @field_validator("from_", "to")
    @classmethod
    def _address(cls, value: str) -> str:
        if not Web3.is_address(value):
            raise ValueError("not an Ethereum address")
        return Web3.to_checksum_address(value)

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


class TransferIn(BaseModel):
    authorization: AuthorizationIn
    memo: str | None = Field(None, max_length=140)


class TransferOut(BaseModel):
    object: str = "transfer"
    id: str
    kind: str
    status: str
    from_: str = Field(serialization_alias="from")
    to: str
    amount: int
    memo: str | None
    failure_code: str | None
    failure_message: str | None
    tx_hash: str | None
    created_at: datetime
    confirmed_at: datetime | None


def transfer_out(session: object, transfer: Transfer) -> TransferOut:
    return TransferOut(
        id=transfer.id,
        kind=transfer.kind,
        status=transfers.status_of(session, transfer),  # type: ignore[arg-type]
        from_=transfer.from_wallet,
        to=transfer.to_wallet,
        amount=transfer.amount,
        memo=transfer.memo,
        failure_code=transfer.failure_code,
        failure_message=transfer.failure_message,
        tx_hash=transfer.tx_hash,
        created_at=transfer.created_at,
        confirmed_at=transfer.confirmed_at,
    )


class CoinOut(BaseModel):
    address: str
    chain_id: int
    name: str
    symbol: str
    version: str
    decimals: int


class BalanceOut(BaseModel):
    wallet: str
    balance: int
    pending_out: int
    pending_in: int
    available: int
    kind: str
    level: int
    verified: bool
    frozen: bool
    cap: int | None


@router.get("/coin", summary="The coin's address and EIP-712 domain (what wallets sign for)")
def coin_info(runtime: RuntimeDep, _: ResidentPrincipal) -> CoinOut:
    """Parameters a wallet needs to sign transfer authorizations."""
    coin = runtime.coin
    domain = coin.domain()
    return CoinOut(
        address=coin.address,
        chain_id=domain.chain_id,
        name=domain.name,
        symbol=coin.symbol(),
        version=domain.version,
        decimals=0,
    )


@router.get("/wallet/balance", summary="My balance, with payments in progress")
def balance(runtime: RuntimeDep, session: SessionDep, principal: ResidentPrincipal) -> BalanceOut:
    """On-chain balance and what accepted-but-unconfirmed transfers will change."""
    wallet = str(principal.wallet)
    coin, status_ = runtime.coin, runtime.registry.status(wallet)
    on_chain = coin.balance_of(wallet)
    out, incoming = transfers.pending_out(session, wallet), transfers.pending_in(session, wallet)
    cap = (
        coin.balance_cap(status_.level)
        if status_.kind is Kind.RESIDENT and status_.level is not AssuranceLevel.NONE
        else None
    )
    return BalanceOut(
        wallet=wallet,
        balance=on_chain,
        pending_out=out,
        pending_in=incoming,
        available=on_chain - out,
        kind=status_.kind.name.lower(),
        level=int(status_.level),
        verified=status_.verified,
        frozen=coin.is_frozen(wallet),
        cap=cap,
    )


@router.post("/transfers", status_code=status.HTTP_202_ACCEPTED, summary="Send coins (person to person, or any payee)")
def create_transfer(
    body: TransferIn, runtime: RuntimeDep, session: SessionDep, principal: ResidentPrincipal
) -> TransferOut:
    """Accept a signed authorization from the caller's own wallet; the relayer settles it."""
    auth = body.authorization.to_authorization()
    if auth.from_ != principal.wallet:
        raise PermissionDenied(
            "you can only send from your own wallet", code="not_your_wallet", param="authorization.from"
        )
    transfer = transfers.accept(session, runtime, auth, kind="p2p", memo=body.memo)
    return transfer_out(session, transfer)


@router.get("/transfers/{transfer_id}", summary="One of my transfers")
def get_transfer(transfer_id: str, session: SessionDep, principal: ResidentPrincipal) -> TransferOut:
    """Status of a transfer the caller sent or received."""
    return transfer_out(session, transfers.get_transfer(session, transfer_id, principal.wallet))


@router.get("/wallet/history", summary="My transfers, newest first")
def wallet_history(
    session: SessionDep, principal: ResidentPrincipal, limit: LimitQuery = 20, starting_after: CursorQuery = None
) -> Page[TransferOut]:
    """Cursor-paginated history."""
    rows = transfers.history(session, str(principal.wallet), limit + 1, starting_after)
    if starting_after and not rows and session.get(Transfer, starting_after) is None:
        raise InvalidRequest("unknown cursor", param="starting_after")
    page = [transfer_out(session, t) for t in rows[:limit]]
    return Page(data=page, has_more=len(rows) > limit, next_cursor=page[-1].id if page and len(rows) > limit else None)
