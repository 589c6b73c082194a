"""Resident endpoints for money: coin parameters, balance, history, transfers."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, status

from chain.contracts.authorization import SEQUENCE_KEY, sequence_nonce
from chain.contracts.registry import AssuranceLevel, Kind
from procedures.deps import ResidentPrincipal, RuntimeDep, SessionDep
from procedures.errors import PermissionDenied
from procedures.pagination import CursorQuery, LimitQuery, Page, page_of
from procedures.transfers import pending
from procedures.transfers import service as transfers
from procedures.transfers.schemas import BalanceOut, CoinOut, NonceOut, TransferIn, TransferOut, transfer_out

router = APIRouter(prefix="/v1", tags=["wallet"])


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


@router.get("/wallet/balance", summary="My balance (coins and points), with payments in progress")
def balance(runtime: RuntimeDep, session: SessionDep, principal: ResidentPrincipal) -> BalanceOut:
    """On-chain coins and what accepted-but-unconfirmed transfers will change; points and their next expiry."""
    wallet = str(principal.wallet)
    coin, status_ = runtime.coin, runtime.registry.status(wallet)
    on_chain = coin.balance_of(wallet)
    out, incoming = pending.pending_out(session, wallet), pending.pending_in(session, wallet)
    cap = (
        coin.balance_cap(status_.level)
        if status_.kind is Kind.RESIDENT and status_.level is not AssuranceLevel.NONE
        else None
    )
    points = coin.points_of(wallet)
    return BalanceOut(
        wallet=wallet,
        points=points.unexpired,
        points_expired=points.expired,
        next_expiry=datetime.fromtimestamp(points.next_expiry, tz=UTC) if points.next_expiry else None,
        next_expiry_points=points.next_amount,
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


@router.get("/wallet/nonce", summary="The nonce to sign my next payment with")
def next_nonce(runtime: RuntimeDep, session: SessionDep, principal: ResidentPrincipal) -> NonceOut:
    """Key 1, the wallet's own sequence, kept by the coin beside the balance (a payment on it costs no extra
    storage): the chain's next number, or one past the wallet's last payment still in progress. Payments on it
    are relayed in order; a payment signed with another number is refused (``nonce_used``, ``nonce_ahead``)."""
    wallet = str(principal.wallet)
    sequence, in_progress = transfers.next_sequence(session, runtime, wallet)
    return NonceOut(wallet=wallet, key=SEQUENCE_KEY, sequence=sequence, nonce="0x" + sequence_nonce(sequence).hex(),
                    in_progress=in_progress)


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
    window = transfers.history(session, str(principal.wallet), limit, starting_after)
    return page_of(window, lambda transfer: transfer_out(session, transfer))
