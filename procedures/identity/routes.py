"""Identity endpoints (``/v1/identity``): link a wallet to a My Number card, recover, renew, revoke.

Every request is scanned for a 12-digit individual number first and refused if it carries one.
Identity and protocol errors leave through ``procedures.errors`` in the service's one error shape.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, replace
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response

from procedures.deps import AdminPrincipal, CurrentPrincipal, ResidentPrincipal, RuntimeDep, SessionDep
from procedures.errors import API_ERRORS
from procedures.identity import recovery
from procedures.identity.errors import IdentityError, IdentityNotFound, NoPendingRecovery
from procedures.identity.guard import NoMyNumber
from procedures.identity.models import RevokeReason
from procedures.identity.schemas import (
    CancelRecoveryIn,
    CardIn,
    ChallengeIn,
    ChallengeOut,
    IdentityOut,
    MeOut,
    PendingRecoveryOut,
    RecoverIn,
    RevokeIn,
)
from procedures.identity.service import IdentityService
from procedures.identity.views import IdentityView, OperationStatus
from procedures.ratelimit import limit
from protocol.errors import ProtocolError
from protocol.statement import CardSignatures, LinkStatement, Purpose

__all__ = ["install", "router"]

router = APIRouter(prefix="/v1/identity", tags=["identity"])

_service_lock = threading.Lock()
#: How long ``?wait=true`` holds a request for the chain (seconds).
MAX_WAIT = 60.0

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
                    operation: Callable[[LinkStatement, CardSignatures, bytes], IdentityView]) -> IdentityOut:
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


@router.post("/recover", status_code=202, summary="Request the recovery of a lost wallet (delayed, cancellable)",
             dependencies=[NoMyNumber])
def recover(body: RecoverIn, session: SessionDep, service: ServiceDep, request: Request, response: Response,
            wait: WaitQuery = False) -> IdentityOut:
    """A fresh card signature (with the signing certificate) from a new wallet requests the move of identity and
    balance: announced on chain, run after the recovery delay, cancellable until then."""
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
    return MeOut(wallet=principal.wallet, identity=None if view is None else IdentityOut.of(view), chain=chain)


@router.get("/recovery", summary="The pending recovery of my wallet (as the lost or the new wallet)")
def pending_recovery(principal: ResidentPrincipal, session: SessionDep, runtime: RuntimeDep) -> PendingRecoveryOut:
    """Its eta; for the lost wallet also the ``CancelRecovery`` typed data to sign to stop it."""
    assert principal.wallet is not None
    row = recovery.pending_for(session, principal.wallet)
    if row is None:
        raise NoPendingRecovery()
    view = recovery.pending_view(session, runtime, row)
    typed = None
    if row.recovered_from == principal.wallet and view.eta is not None:
        typed = recovery.cancel_typed_data(session, runtime, principal.wallet)
    return PendingRecoveryOut(**asdict(view), cancel_typed_data=typed)


@router.post("/recovery/cancel", status_code=202, summary="Cancel the pending recovery of my (lost) wallet")
def cancel_recovery(body: CancelRecoveryIn, principal: ResidentPrincipal, session: SessionDep,
                    runtime: RuntimeDep) -> PendingRecoveryOut:
    """Signed by the lost wallet itself; the city relays it (``cancelRecoveryWithSignature``)."""
    assert principal.wallet is not None
    view = recovery.cancel_by_owner(session, runtime, principal.wallet, body.signature)
    return PendingRecoveryOut(**asdict(view))


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
    view = service.revoke(session, body.wallet, RevokeReason(body.reason), actor=principal.subject)
    return _respond(response, service, session, view, wait)


# --------------------------------------------------------------------------- wiring
def install(app: FastAPI) -> None:
    """Mount the identity routes (their errors map to HTTP in ``procedures.errors``)."""
    app.include_router(router, responses=API_ERRORS)
