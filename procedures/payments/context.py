"""Find the ``Runtime`` from a database session.

Relayer hooks (``TRANSFER_HOOKS``, ``FINAL_HANDLERS``) and token resolvers receive only a
session, yet some of them must sign (refunds from a custodial wallet), enqueue calls to the coin,
or hash with the service secret. Every runtime that serves the API or runs workers binds itself
here (a start-up hook, and each payments worker on start), keyed by its database engine.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from chain.errors import MachiError
from procedures.runtime import STARTUP_HOOKS, Runtime

_RUNTIMES: dict[Engine, Runtime] = {}


class RuntimeNotBound(MachiError):
    """No runtime was bound to this database yet (the hook is retried by the relayer)."""

    code = "runtime_not_bound"


def bind(runtime: Runtime) -> None:
    """Make ``runtime`` the one sessions on its engine resolve to."""
    _RUNTIMES[runtime.engine] = runtime


def runtime_of(session: Session) -> Runtime:
    """The runtime serving ``session``'s database.

    Raises:
        RuntimeNotBound: none bound yet.
    """
    bind_ = session.get_bind()
    runtime = _RUNTIMES.get(bind_.engine if isinstance(bind_, Connection) else bind_)
    if runtime is None:
        raise RuntimeNotBound("no service runtime is bound to this database yet")
    return runtime


STARTUP_HOOKS.insert(0, bind)  # first: later hooks may fail while the chain is down
