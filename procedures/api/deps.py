"""Request dependencies that need no caller: the runtime, settings, one transaction, the vault.

``procedures.auth.deps`` builds the caller on these; routes import both from ``procedures.deps``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from procedures.config import Settings
from procedures.crypto import Vault
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
