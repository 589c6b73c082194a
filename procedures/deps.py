"""Every request dependency as an ``Annotated`` alias, in one import for routes: the session,
settings, vault and runtime (``procedures.api.deps``) and the caller (``procedures.auth.deps``)."""

from __future__ import annotations

from procedures.api.deps import RuntimeDep, SessionDep, SettingsDep, VaultDep
from procedures.auth.deps import (
    AdminPrincipal,
    CurrentPrincipal,
    ResidentPrincipal,
    StaffPrincipal,
    require_role,
)

__all__ = [
    "AdminPrincipal",
    "CurrentPrincipal",
    "ResidentPrincipal",
    "RuntimeDep",
    "SessionDep",
    "SettingsDep",
    "StaffPrincipal",
    "VaultDep",
    "require_role",
]
