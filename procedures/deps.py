"""Request dependencies as ``Annotated`` aliases: the session, settings, vault, the caller."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from procedures.auth.models import StaffAccount
from procedures.auth.service import Principal, resolve_token
from procedures.config import Settings
from procedures.crypto import Vault
from procedures.errors import NotAuthenticated, PermissionDenied
from procedures.runtime import Runtime


# Dependencies that never block are ``async``: FastAPI runs a sync dependency in the thread pool,
# one hand-off (and GIL switch) per dependency per request.
async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_settings_dep(runtime: RuntimeDep) -> Settings:
    return runtime.settings


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


def get_session(runtime: RuntimeDep) -> Iterator[Session]:
    """One database transaction per request: committed on success, rolled back on error."""
    session = runtime.sessions()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


#: ``scope="function"``: commit when the endpoint returns, before the response is sent — a client
#: that uses what it was just given (a token, a challenge) must find it committed.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


async def get_vault(runtime: RuntimeDep) -> Vault:
    return runtime.vault


VaultDep = Annotated[Vault, Depends(get_vault)]

_bearer = HTTPBearer(auto_error=False, description="Bearer token: staff/resident access token or merchant API key")

#: Resolvers for other credential kinds by token prefix (the payments package registers API keys).
TOKEN_RESOLVERS: dict[str, Callable[[Session, str], Principal]] = {}


def current_principal(
    session: SessionDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)]
) -> Principal:
    """The authenticated caller.

    Raises:
        NotAuthenticated: no or bad credentials.
    """
    if credentials is None or not credentials.credentials:
        raise NotAuthenticated("authentication required: send 'Authorization: Bearer <token>'")
    token = credentials.credentials
    for prefix, resolver in TOKEN_RESOLVERS.items():
        if token.startswith(prefix):
            return resolver(session, token)
    row = resolve_token(session, token)
    if row.principal_type == "resident":
        return Principal(type="resident", subject=row.subject, role="resident", wallet=row.subject)
    account = session.get(StaffAccount, int(row.subject))
    if account is None or not account.active:
        raise NotAuthenticated("this account is disabled", code="account_disabled")
    return Principal(type="staff", subject=str(account.id), role=account.role, department=account.department)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


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
