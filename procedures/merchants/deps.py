"""Request dependencies of the merchant API: the calling merchant, checked for a scope (used by the
settlement routes too: payouts and statements are part of the merchant API)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends
from sqlalchemy.orm import Session

from procedures.auth.service import Principal
from procedures.deps import CurrentPrincipal
from procedures.errors import PermissionDenied
from procedures.merchants.accounts import get_merchant
from procedures.merchants.models import Merchant


def merchant_scope(*scopes: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency admitting merchant API keys that hold at least one of ``scopes`` (async: never blocks)."""

    async def check(principal: CurrentPrincipal) -> Principal:
        if principal.type != "merchant":
            raise PermissionDenied("this endpoint takes a merchant API key (Authorization: Bearer mk_…)",
                                   code="merchant_key_required")
        if not principal.scopes.intersection(scopes):
            raise PermissionDenied(f"this API key lacks the scope {' or '.join(scopes)}", code="missing_scope")
        return principal

    return check


AnyMerchant = Annotated[Principal, Depends(merchant_scope(
    "payments:read", "payments:write", "refunds:write", "payouts:read", "payouts:write", "webhooks:write",
    "keys:write"))]
PaymentsRead = Annotated[Principal, Depends(merchant_scope("payments:read"))]
PaymentsWrite = Annotated[Principal, Depends(merchant_scope("payments:write"))]
RefundsWrite = Annotated[Principal, Depends(merchant_scope("refunds:write"))]
PayoutsRead = Annotated[Principal, Depends(merchant_scope("payouts:read"))]
PayoutsWrite = Annotated[Principal, Depends(merchant_scope("payouts:write"))]
WebhooksWrite = Annotated[Principal, Depends(merchant_scope("webhooks:write"))]
KeysWrite = Annotated[Principal, Depends(merchant_scope("keys:write"))]
StatementsRead = Annotated[Principal, Depends(merchant_scope("payments:read", "payouts:read"))]


def merchant_of(session: Session, principal: Principal) -> Merchant:
    """The merchant a key belongs to.

    Raises:
        NotFound: the merchant is gone (a key outliving its merchant).
    """
    return get_merchant(session, principal.subject)


def merchant_ref(principal: Principal) -> str:
    """The calling merchant as an actor (``merchant:<id>``): its ``Idempotency-Key`` space, who made a key."""
    return f"merchant:{principal.subject}"
