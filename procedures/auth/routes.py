"""Login endpoints: staff by password, residents by wallet signature."""

from __future__ import annotations

import time
from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from chain.plan import REGISTRY
from procedures.addresses import checksum, is_wallet
from procedures.api.deps import RuntimeDep, SessionDep
from procedures.auth import service
from procedures.auth.deps import CurrentPrincipal
from procedures.errors import InvalidRequest, NotAuthenticated, PermissionDenied
from procedures.ratelimit import client_address, limit
from procedures.schemas import RequestModel

router = APIRouter(prefix="/v1/auth", tags=["auth"])


class StaffLogin(RequestModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class NoticeOut(BaseModel):
    kind: str = Field(description="failed_logins: wrong passwords were tried for this account")
    source: str | None = Field(description="the address they came from")
    count: int
    created_at: datetime


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_at: datetime
    role: str
    department: str | None = None
    notices: list[NoticeOut] = Field(default_factory=list, description="what happened since the last login "
                                     "(e.g. failed logins from another address), shown once")


class WalletIn(RequestModel):
    wallet: str = Field(description="0x-prefixed address")


class ChallengeOut(BaseModel):
    nonce: str
    expires_at: datetime
    typed_data: dict[str, object] = Field(description="EIP-712 data to sign for /v1/auth/wallet/token")


class WalletLogin(RequestModel):
    wallet: str
    nonce: str = Field(pattern=r"^0x[0-9a-fA-F]{64}$")
    deadline: int = Field(ge=0)
    signature: str = Field(pattern=r"^0x[0-9a-fA-F]{130}$")


class Me(BaseModel):
    type: str
    subject: str
    role: str
    department: str | None = None
    wallet: str | None = None


@router.post("/staff/token", summary="Log a clerk, supervisor or admin in")
def staff_token(body: StaffLogin, session: SessionDep, request: Request) -> TokenOut:
    """Password login; wrong passwords slow down their source address (never lock the account)."""
    limit(request, "staff-login", per_minute=20)
    try:
        account = service.authenticate_staff(session, body.username, body.password, client_address(request))
    except Exception:
        session.commit()  # keep the failure count even though the request fails
        raise
    token, expires = service.issue_token(session, "staff", str(account.id), service.STAFF_TOKEN_TTL)
    notices = [NoticeOut(kind=n.kind, source=n.source, count=n.count, created_at=n.created_at)
               for n in service.take_notices(session, account.id)]
    return TokenOut(access_token=token, expires_at=expires, role=account.role, department=account.department,
                    notices=notices)


@router.post("/wallet/challenge", summary="Get a nonce to log a wallet in")
def wallet_challenge(body: WalletIn, session: SessionDep, runtime: RuntimeDep, request: Request) -> ChallengeOut:
    """Single-use nonce plus the EIP-712 data (chain id, registry, nonce, deadline) to sign."""
    limit(request, "challenge", per_minute=60)
    challenge = service.issue_challenge(session, "login", body.wallet)
    deadline = int(challenge.expires_at.timestamp())
    manifest = runtime.manifest  # verified against the chain once, then cached: no chain call per login
    typed = service.login_typed_data(manifest.chain_id, manifest.address(REGISTRY), challenge.wallet,
                                     challenge.nonce, deadline)
    return ChallengeOut(nonce=challenge.nonce, expires_at=challenge.expires_at, typed_data=typed)


@router.post("/wallet/token", summary="Log a wallet in with its signature")
def wallet_token(body: WalletLogin, session: SessionDep, runtime: RuntimeDep, request: Request) -> TokenOut:
    """Exchange a signed challenge for a resident access token."""
    limit(request, "wallet-login", per_minute=60)
    if not is_wallet(body.wallet):
        raise InvalidRequest("not an Ethereum address", param="wallet")
    if body.deadline < time.time():
        raise InvalidRequest("the signed deadline has passed", code="signature_expired", param="deadline")
    manifest = runtime.manifest
    typed = service.login_typed_data(manifest.chain_id, manifest.address(REGISTRY), body.wallet, body.nonce,
                                     body.deadline)
    signer = service.recover_typed_signer(typed, body.signature)
    if signer.lower() != body.wallet.lower():
        raise NotAuthenticated("the signature was not made by this wallet", code="wallet_signature_mismatch")
    service.consume_challenge(session, body.nonce, "login", body.wallet)
    wallet = checksum(body.wallet)
    record = runtime.registry.record_of(wallet)
    if record.exists and not record.live:
        # Retired everywhere: a wallet replaced by a recovery (a phone thief's copy) or revoked by the city.
        raise PermissionDenied("this wallet was retired (replaced by a recovery or revoked) and cannot log in",
                               code="wallet_retired", param="wallet")
    token, expires = service.issue_token(session, "resident", wallet, service.RESIDENT_TOKEN_TTL)
    return TokenOut(access_token=token, expires_at=expires, role="resident")


@router.get("/me", summary="Who am I")
def me(principal: CurrentPrincipal) -> Me:
    """The authenticated caller."""
    return Me(type=principal.type, subject=principal.subject, role=principal.role,
              department=principal.department, wallet=principal.wallet)
