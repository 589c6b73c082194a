"""``machi admin open311-keys`` — the API keys third-party reporting apps send with Open311 POSTs.

    machi admin open311-keys issue NAME   a key for the app NAME (its secret printed once)
    machi admin open311-keys list         every key, revoked ones marked
    machi admin open311-keys revoke ID    the key stops working at once
"""

from __future__ import annotations

import click
from rich.table import Table

from procedures.civic import keys
from procedures.commands import fail, out, runtime_or_exit
from procedures.errors import ServiceError
from procedures.runtime import Runtime

__all__ = ["open311_keys"]

def _runtime() -> Runtime:
    return runtime_or_exit(code=2)


@click.group("open311-keys")
def open311_keys() -> None:
    """Open311 API keys of third-party reporting apps."""


@open311_keys.command("issue")
@click.argument("name")
def issue(name: str) -> None:
    """Issue a key for the app NAME; the secret is shown once."""
    if not 1 <= len(name) <= 100:
        fail("NAME has 1 to 100 characters", 2)
    runtime = _runtime()
    with runtime.sessions() as session, session.begin():
        key, secret = keys.issue_key(session, runtime.settings, name=name, created_by="cli")
        out.print(f"issued {key.id} for [bold]{key.name}[/]; give the app this api_key (shown once):")
        out.print(secret, markup=False, highlight=False, soft_wrap=True)


@open311_keys.command("list")
def list_keys() -> None:
    """Every key, newest first."""
    runtime = _runtime()
    table = Table(title="Open311 API keys")
    for column in ("id", "name", "prefix", "created", "revoked"):
        table.add_column(column, no_wrap=column == "id")
    with runtime.sessions() as session:
        for key in keys.list_keys(session):
            table.add_row(key.id, key.name, key.prefix, key.created_at.isoformat(timespec="seconds"),
                          key.revoked_at.isoformat(timespec="seconds") if key.revoked_at else "")
    out.print(table)


@open311_keys.command("revoke")
@click.argument("key_id")
def revoke(key_id: str) -> None:
    """Revoke the key KEY_ID (reports it filed stay)."""
    runtime = _runtime()
    try:
        with runtime.sessions() as session, session.begin():
            key = keys.revoke_key(session, key_id)
            out.print(f"revoked {key.id} ({key.name})")
    except ServiceError as exc:
        fail(exc.message)
