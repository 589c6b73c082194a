"""Identity endpoints (``/v1/identity``): link a wallet to a My Number card, recover, renew, revoke.

Every request is scanned for a 12-digit individual number first and refused if it carries one.
Identity and protocol errors leave through ``procedures.errors`` in the service's one error shape.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from chain.contracts.registry import RevocationReason
from procedures.deps import AdminPrincipal, CurrentPrincipal, ResidentPrincipal, SessionDep
from procedures.errors import API_ERRORS, InvalidRequest
from procedures.identity.errors import IdentityError, IdentityNotFound
from procedures.identity.mynumber import refuse_my_number
from procedures.identity.service import IdentityService
from procedures.identity.views import CardProof, IdentityView, OperationStatus
from procedures.ratelimit import limit
from protocol.errors import ProtocolError
from protocol.statement import LinkStatement, Purpose

__all__ = ["install", "router"]

router = APIRouter(prefix="/v1/identity", tags=["identity"])

_service_lock = threading.Lock()
#: How long ``?wait=true`` holds a request for the chain (seconds).
MAX_WAIT = 60.0

_HEX = re.compile(r"0x[0-9a-fA-F]*")
_BASE64 = re.compile(r"[A-Za-z0-9+/=\s]*")
#: Fields that carry binary data as hex or base64 (see ``_scrub_binary``).
_BINARY_FIELDS = frozenset({
    "nonce", "wallet", "registry", "lost_wallet", "wallet_signature",
    "auth_certificate", "auth_signature", "signing_certificate", "signing_signature",
})


# --------------------------------------------------------------------------- My Number guard
def _binary_size(value: str) -> int:
    """Bytes a hex (``0x…``) or base64 value decodes to; 0 if it is neither."""
    if _HEX.fullmatch(value) and len(value) % 2 == 0:
        return (len(value) - 2) // 2
    if _BASE64.fullmatch(value):
        try:
            return len(base64.b64decode(value, validate=False))
        except (binascii.Error, ValueError):
            return 0
    return 0


def _scrub_binary(value: Any) -> Any:
    """Drop binary-encoded values of known binary fields before the My Number scan.

    Hex and base64 are mostly digits or letters at random: a 65-byte signature in hex holds a
    12-digit run with a valid check digit about once in 200.  Values that decode to at least
    20 bytes (an address; certificates and signatures are far longer) are binary data, not text,
    and are checked for their exact shape by the service; shorter values are scanned like text.
    """
    if isinstance(value, dict):
        return {
            k: None if k in _BINARY_FIELDS and isinstance(v, str) and _binary_size(v) >= 20 else _scrub_binary(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_scrub_binary(v) for v in value]
    return value


async def no_my_number(request: Request) -> None:
    """Refuse (422 ``my_number_refused``) any request whose query or body carries a My Number."""
    refuse_my_number(dict(request.query_params))
    body = await request.body()
    if not body:
        return
    try:
        payload = json.loads(body)
    except ValueError:
        payload = body.decode("utf-8", "replace")
    refuse_my_number(_scrub_binary(payload))


NoMyNumber = Depends(no_my_number)


# --------------------------------------------------------------------------- bodies
class StatementIn(BaseModel):
    """The signed statement, as returned by the challenge."""

    model_config = ConfigDict(extra="forbid")

    purpose: str
    wallet: str
    chain_id: int
    registry: str
    nonce: str
    issued_at: int

    def parse(self) -> LinkStatement:
        return LinkStatement.from_json(self.model_dump())


class CardIn(BaseModel):
    """Certificates (DER) and card signatures (PKCS#1 v1.5 / SHA-256), base64."""

    model_config = ConfigDict(extra="forbid")

    statement: StatementIn
    auth_certificate: str = Field(description="user-authentication certificate, base64 DER")
    auth_signature: str = Field(description="signature by the user-authentication key, base64")
    signing_certificate: str | None = Field(None, description="signing certificate, base64 DER (adults)")
    signing_signature: str | None = Field(None, description="signature by the signing key, base64")
    wallet_signature: str = Field(description="the wallet's EIP-712 signature over the statement, 0x-hex (65 bytes)")

    def proof(self) -> CardProof:
        return CardProof(
            auth_certificate=_b64("auth_certificate", self.auth_certificate),
            auth_signature=_b64("auth_signature", self.auth_signature),
            signing_certificate=_b64_opt("signing_certificate", self.signing_certificate),
            signing_signature=_b64_opt("signing_signature", self.signing_signature),
        )

    def wallet_sig(self) -> bytes:
        value = self.wallet_signature
        if not _HEX.fullmatch(value) or len(value) != 132:
            raise InvalidRequest("wallet_signature must be 0x and 65 bytes of hex", param="wallet_signature")
        return bytes.fromhex(value[2:])


class RecoverIn(CardIn):
    lost_wallet: str = Field(description="the wallet that was lost (its balance moves to the statement's wallet)")


class ChallengeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    wallet: str = Field(description="0x address that will sign the statement")
    purpose: Literal["link", "recover", "renew"] = "link"


class RevokeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    wallet: str
    reason: Literal["moved_out", "deceased", "card_revoked", "requested"]


def _b64(param: str, value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest(f"{param} is not base64", param=param) from None


def _b64_opt(param: str, value: str | None) -> bytes | None:
    return None if value is None else _b64(param, value)


# --------------------------------------------------------------------------- responses
class ChallengeOut(BaseModel):
    nonce: str
    purpose: str
    wallet: str
    expires_at: datetime
    statement: dict[str, Any] = Field(description="sign its canonical text with the card, post it back as is")
    canonical: str = Field(description="the exact text the card signs (UTF-8)")
    typed_data: dict[str, Any] = Field(description="EIP-712 data the wallet signs (eth_signTypedData_v4)")


class IntentOut(BaseModel):
    id: int
    kind: str
    status: str
    tx_hash: str | None
    block_number: int | None
    error_code: str | None
    error_message: str | None


class OperationOut(BaseModel):
    action: str
    status: Literal["pending", "confirmed", "failed"]
    intents: list[IntentOut]


class IdentityOut(BaseModel):
    id: str
    wallet: str
    kind: str
    level: Literal["card_authenticated", "resident_of_city"]
    status: str
    expires_at: datetime
    evidence_commitment: str
    attestation_tx_hash: str | None
    operation: OperationOut
    recovered_from: str | None = None
    rebound_to: str | None = None
    revocation_reason: str | None = None
    created_at: datetime
    note: str | None = Field(None, description="why this assurance level (link, recover and renew responses)")

    @classmethod
    def of(cls, view: IdentityView) -> IdentityOut:
        return cls(
            id=view.id, wallet=view.wallet, kind=view.kind, level=view.level.name.lower(),
            status=view.status, expires_at=view.expires_at, evidence_commitment=view.evidence_commitment,
            attestation_tx_hash=view.attest_tx_hash,
            operation=OperationOut(
                action=view.action, status=view.operation_status,
                intents=[IntentOut(**vars(i)) for i in view.intents],
            ),
            recovered_from=view.recovered_from, rebound_to=view.rebound_to,
            revocation_reason=view.revocation_reason, created_at=view.created_at, note=view.note,
        )


class ChainStatusOut(BaseModel):
    kind: str
    level: int
    verified: bool
    expires_at: datetime | None
    balance: int


class MeOut(BaseModel):
    wallet: str
    identity: IdentityOut | None
    chain: ChainStatusOut


# --------------------------------------------------------------------------- dependencies
def get_identity_service(request: Request) -> IdentityService:
    """The app's identity service (created on first use, shared by requests)."""
    state = request.app.state
    service: IdentityService | None = getattr(state, "identity_service", None)
    if service is None:
        with _service_lock:
            service = getattr(state, "identity_service", None)
            if service is None:
                service = IdentityService(state.runtime)
                state.identity_service = service
    return service


ServiceDep = Annotated[IdentityService, Depends(get_identity_service)]
WaitQuery = Annotated[bool, Query(description="hold the response until the operation reached the chain")]


def _respond(response: Response, service: IdentityService, session: SessionDep, view: IdentityView,
             wait: bool) -> IdentityOut:
    """Commit, optionally wait for the chain, and answer 202 while the operation is pending."""
    session.commit()  # before answering: clients poll, and the relayer only sees committed intents
    if wait and view.operation_status == OperationStatus.PENDING:
        service.wait(view.id, MAX_WAIT)
        note = view.note
        view = replace(service.get(session, view.id), note=note)
        session.commit()
    response.status_code = 202 if view.operation_status == OperationStatus.PENDING else 200
    return IdentityOut.of(view)


def _keep_nonce_on_failure(session: SessionDep) -> None:
    """A failed card check still uses its nonce up: commit the consumption (nothing else was written)."""
    session.commit()


# --------------------------------------------------------------------------- routes
@router.post("/challenge", summary="Get a nonce and the statement to sign", dependencies=[NoMyNumber])
def challenge(body: ChallengeIn, session: SessionDep, service: ServiceDep, request: Request) -> ChallengeOut:
    """A single-use nonce bound to the wallet and purpose, and the statement for card and wallet."""
    limit(request, "identity-challenge", per_minute=60)
    view = service.challenge(session, body.wallet, Purpose(body.purpose))
    session.commit()  # the client posts the signed statement right after this answer
    return ChallengeOut(
        nonce=view.nonce, purpose=view.purpose.value, wallet=view.wallet, expires_at=view.expires_at,
        statement=view.statement.to_json(), canonical=view.statement.canonical_bytes().decode(),
        typed_data=view.statement.typed_data(),
    )


def _card_operation(request: Request, session: SessionDep, service: IdentityService, response: Response,
                    body: CardIn, wait: bool,
                    operation: Callable[[LinkStatement, CardProof, bytes], IdentityView]) -> IdentityOut:
    """Parse the card-signed request, run ``operation`` and answer; a failed card check still uses up
    its nonce."""
    limit(request, "identity-link", per_minute=30)
    try:
        view = operation(body.statement.parse(), body.proof(), body.wallet_sig())
    except (IdentityError, ProtocolError):
        _keep_nonce_on_failure(session)
        raise
    return _respond(response, service, session, view, wait)


@router.post("/link", status_code=202, summary="Link a wallet to a My Number card", dependencies=[NoMyNumber])
def link(body: CardIn, session: SessionDep, service: ServiceDep, request: Request, response: Response,
         wait: WaitQuery = False) -> IdentityOut:
    """Verify card and wallet signatures and attest the link on chain (202 until confirmed)."""
    return _card_operation(request, session, service, response, body, wait,
                           lambda statement, proof, sig: service.link(session, statement, proof, sig))


@router.post("/recover", status_code=202, summary="Move a lost wallet's identity and coins to a new wallet",
             dependencies=[NoMyNumber])
def recover(body: RecoverIn, session: SessionDep, service: ServiceDep, request: Request, response: Response,
            wait: WaitQuery = False) -> IdentityOut:
    """A fresh card signature from a new wallet re-binds the identity and moves the balance."""
    return _card_operation(request, session, service, response, body, wait,
                           lambda statement, proof, sig: service.recover(session, statement, proof, sig,
                                                                         body.lost_wallet))


@router.post("/renew", status_code=202, summary="Re-verify the card: new level, expiry and evidence",
             dependencies=[NoMyNumber])
def renew(body: CardIn, session: SessionDep, service: ServiceDep, request: Request, response: Response,
          wait: WaitQuery = False) -> IdentityOut:
    """Renew the linked wallet's attestation with a fresh card signature."""
    return _card_operation(request, session, service, response, body, wait,
                           lambda statement, proof, sig: service.renew(session, statement, proof, sig))


@router.get("/me", summary="My identity, off and on chain")
def me(principal: ResidentPrincipal, session: SessionDep, service: ServiceDep) -> MeOut:
    """The caller's wallet identity (database) and its status and balance on chain."""
    assert principal.wallet is not None
    view = service.current(session, principal.wallet)
    chain = service.chain_status(principal.wallet)
    return MeOut(wallet=principal.wallet, identity=None if view is None else IdentityOut.of(view),
                 chain=ChainStatusOut(**vars(chain)))


@router.get("/links/{identity_id}", summary="One identity and its last operation")
def get_identity(identity_id: str, principal: CurrentPrincipal, session: SessionDep, service: ServiceDep,
                 response: Response, wait: WaitQuery = False) -> IdentityOut:
    """Poll a link, recovery, renewal or revocation until it reached the chain.

    Only the identity's own wallet (logged in) and administrators see it; anyone else gets the
    same 404 as for an unknown id (a recovery links two wallets of one person).
    """
    view = service.get(session, identity_id)
    if principal.role != "admin" and (principal.type != "resident" or principal.wallet != view.wallet):
        raise IdentityNotFound("no such identity")
    return _respond(response, service, session, view, wait)


@router.post("/admin/revoke", status_code=202, summary="Revoke a wallet's identity", dependencies=[NoMyNumber])
def revoke(body: RevokeIn, principal: AdminPrincipal, session: SessionDep, service: ServiceDep,
           response: Response, wait: WaitQuery = False) -> IdentityOut:
    """City decision: moved out, deceased, card revoked, or at the holder's request."""
    view = service.revoke(session, body.wallet, RevocationReason[body.reason.upper()], actor=principal.subject)
    return _respond(response, service, session, view, wait)


# --------------------------------------------------------------------------- wiring
def install(app: FastAPI) -> None:
    """Mount the identity routes (their errors map to HTTP in ``procedures.errors``)."""
    app.include_router(router, responses=API_ERRORS)
