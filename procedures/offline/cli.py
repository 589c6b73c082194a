"""``machi disaster …``: disaster mode from the operator's shell, as an ``admin`` staff member.

    machi disaster start --limit 20000 --hours 72 --reason "…" --staff USER   raise the offline limit city-wide
    machi disaster end dis_… --staff USER                                       end a period early
    machi disaster status                                                      the limit now, the periods, and
                                                                               the offline payments waiting

``start`` and ``end`` check the staff member's password (prompted, hidden, or ``--password-file``) and role
like the endpoints (``POST /v1/admin/offline/disaster``): the record names who did it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.table import Table
from sqlalchemy.orm import Session

from procedures.auth.service import authenticate_staff
from procedures.commands import fail, out, runtime_or_exit
from procedures.errors import ServiceError
from procedures.offline import limits, service

__all__ = ["disaster"]

F = TypeVar("F", bound=Callable[..., Any])


def _staff_options(function: F) -> F:
    function = click.option("--password-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                            default=None, help="read the staff password from this file (else prompted)")(function)
    return click.option("--staff", "username", required=True, help="your admin staff username")(function)


def _operator(session: Session, username: str, password_file: Path | None) -> str:
    """``operator:<staff id>`` of an admin staff member, their password checked (throttled like a login)."""
    password = (password_file.read_text(encoding="utf-8").splitlines() or [""])[0] if password_file else str(
        click.prompt("Staff password", hide_input=True))
    account = authenticate_staff(session, username, password, source="machi-cli")
    if account.role != "admin":
        fail("disaster mode needs an admin staff account")
    return f"operator:{account.id}"


@click.group()
def disaster() -> None:
    """Disaster mode: raise the offline payment limit city-wide for a period."""


@disaster.command("start")
@click.option("--limit", "reserve_limit", type=click.IntRange(1), required=True,
              help="the offline reserve limit (coins) while it lasts")
@click.option("--hours", type=click.IntRange(1), required=True, help="how long from now")
@click.option("--reason", required=True, help="why (kept in the audit record)")
@_staff_options
def start(reserve_limit: int, hours: int, reason: str, username: str, password_file: Path | None) -> None:
    """Declare disaster mode now."""
    runtime = runtime_or_exit()
    try:
        with runtime.sessions() as session, session.begin():
            period = limits.declare(session, runtime.settings, reserve_limit=reserve_limit, hours=hours,
                                    reason=reason, operator=_operator(session, username, password_file))
            out.print(f"disaster mode [bold]{period.id}[/]: offline reserves up to {period.reserve_limit:,} coins "
                      f"until {period.ends_at.isoformat(timespec='minutes')}")
    except ServiceError as exc:
        fail(exc.message)


@disaster.command("end")
@click.argument("period_id")
@_staff_options
def end(period_id: str, username: str, password_file: Path | None) -> None:
    """End a disaster period early."""
    runtime = runtime_or_exit()
    try:
        with runtime.sessions() as session, session.begin():
            period = limits.end(session, period_id, _operator(session, username, password_file))
            out.print(f"disaster mode {period.id} ended; the usual limit of "
                      f"{runtime.settings.offline_reserve_limit:,} coins applies")
    except ServiceError as exc:
        fail(exc.message)


@disaster.command("status")
def status() -> None:
    """The offline limit now, the disaster periods running, and the offline payments waiting to be settled."""
    runtime = runtime_or_exit()
    with runtime.sessions() as session:
        now_limit = limits.reserve_limit(session, runtime.settings)
        periods = limits.active_periods(session)
        count, coins, rows = service.waiting(session)
    out.print(f"offline reserve limit: {now_limit:,} coins (usual {runtime.settings.offline_reserve_limit:,})")
    for p in periods:
        out.print(f"  disaster {p.id}: {p.reserve_limit:,} until {p.ends_at.isoformat(timespec='minutes')} "
                  f"— {p.reason} ({p.declared_by})")
    out.print(f"offline payments waiting to be settled: {count} ({coins:,} coins)")
    if rows:
        table = Table("id", "merchant", "coins", "received")
        for row in rows:
            table.add_row(row.id, row.merchant_id, f"{row.amount:,}", row.created_at.isoformat(timespec="seconds"))
        out.print(table)
