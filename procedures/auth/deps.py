"""The caller as a request dependency: staff and resident tokens, and other credential kinds
(merchant API keys) through the token resolvers ``procedures.wiring`` installs on the app."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated

from fastapi import Depends, FastAPI, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from procedures.api.deps import SessionDep, SettingsDep
from procedures.auth.models import StaffAccount
from procedures.auth.service import Principal, resolve_token
from procedures.config import Settings
from procedures.errors import NotAuthenticated, PermissionDenied

#: Resolves a credential of another kind (by token prefix) to the caller.
TokenResolver = Callable[[Session, Settings, str], Principal]

_bearer = HTTPBearer(auto_error=False, description="Bearer token: staff/resident access token or merchant API key")


def install_token_resolvers(app: FastAPI, resolvers: Mapping[str, TokenResolver]) -> None:
    """Let ``app`` accept the credential kinds of ``resolvers`` (token prefix → resolver)."""
    app.state.token_resolvers = dict(resolvers)


def current_principal(
    request: Request, session: SessionDep, settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> Principal:
    """The authenticated caller.

    Raises:
        NotAuthenticated: no or bad credentials.
    """
    if credentials is None or not credentials.credentials:
        raise NotAuthenticated("authentication required: send 'Authorization: Bearer <token>'")
    return principal_of(request, session, settings, credentials.credentials)


def principal_of(request: Request, session: Session, settings: Settings, token: str) -> Principal:
    """The caller a bearer ``token`` stands for.

    Raises:
        NotAuthenticated: the token is unknown, expired or its account disabled.
    """
    resolvers: dict[str, TokenResolver] = getattr(request.app.state, "token_resolvers", {})
    for prefix, resolver in resolvers.items():
        if token.startswith(prefix):
            return resolver(session, settings, token)
    row = resolve_token(session, token)
    if row.principal_type == "resident":
        return Principal(type="resident", subject=row.subject, role="resident", wallet=row.subject)
    account = session.get(StaffAccount, int(row.subject))
    if account is None or not account.active:
        raise NotAuthenticated("this account is disabled", code="account_disabled")
    return Principal(type="staff", subject=str(account.id), role=account.role, department=account.department)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def operations_access(request: Request) -> str | None:
    """Who may see the operational details (``/metrics``, the full ``/healthz``): ``"monitoring"``
    for the monitoring token ``MACHI_METRICS_TOKEN``, ``"admin"`` for an admin's token (who also sees
    the role table); ``None`` for no credentials or a caller who is not an admin. The token is
    resolved once per request.

    Raises:
        NotAuthenticated: credentials that are neither the token nor a valid access token.
    """
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if not token or scheme.lower() != "bearer":
        return None
    settings: Settings = request.app.state.settings
    expected = settings.metrics_token
    if expected is not None and hmac.compare_digest(token.encode(), expected.get_secret_value().encode()):
        return "monitoring"
    with request.app.state.runtime.sessions() as session:
        principal = principal_of(request, session, settings, token)
    return "admin" if principal.role == "admin" else None


def require_role(*roles: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency admitting only callers whose role is in ``roles``."""

    async def check(principal: CurrentPrincipal) -> Principal:
        if principal.role not in roles:
            raise PermissionDenied(f"this needs the role {' or '.join(roles)}", code="role_required")
        return principal

    return check


StaffPrincipal = Annotated[Principal, Depends(require_role("clerk", "supervisor", "admin"))]
AdminPrincipal = Annotated[Principal, Depends(require_role("admin"))]
ResidentPrincipal = Annotated[Principal, Depends(require_role("resident"))]
