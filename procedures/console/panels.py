"""Dashboard panels besides the day's payments: what each staff member sees at a glance."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from chain.errors import MachiError
from procedures.applications.models import Application, Status
from procedures.applications.service import overdue_condition
from procedures.console.pages import ConsoleUser, department_name
from procedures.role_keys import key_table
from procedures.runtime import Runtime

#: A panel: a title key (``procedures.console.i18n``), its column heading keys and its table rows.
Panel = dict[str, object]


def applications_panel(session: Session, runtime: Any, user: ConsoleUser, lang: str) -> Panel:
    """Open applications by department, with how many are overdue (one grouped query); a clerk
    sees their own department only."""
    open_statuses = [Status.SUBMITTED, Status.IN_REVIEW, Status.RESUBMITTED, Status.RETURNED]
    query = (select(Application.department, func.count(),
                    func.coalesce(func.sum(case((overdue_condition(), 1), else_=0)), 0))
             .where(Application.status.in_(open_statuses))
             .group_by(Application.department).order_by(Application.department))
    if user.role != "admin" and user.account.department:
        query = query.where(Application.department == user.account.department)
    rows = [(department_name(runtime.settings, department, lang), int(n), int(late))
            for department, n, late in session.execute(query)]
    return {"title": "open_applications", "columns": ("department", "open_count", "overdue"), "rows": rows}


KEY_COLUMNS = ("service_key", "key_address", "key_roles", "key_check")


def keys_panel(runtime: Runtime) -> Panel:
    """The role table (admins only): each hot key, its address, the roles it holds on chain, ok or what
    is wrong (``procedures.role_keys.key_table``)."""
    try:
        table = key_table(runtime)
    except MachiError as exc:
        return {"title": "service_keys", "columns": KEY_COLUMNS, "rows": [("—", type(exc).__name__, "", "NG")]}
    rows = []
    for row in table["keys"]:
        wrong = [f"missing {r}" for r in row["missing"]] + [f"must not hold {r}" for r in row["forbidden"]]
        rows.append((row["key"], row["address"], ", ".join(row["roles"]) or "—", "; ".join(wrong) or "ok"))
    return {"title": "service_keys", "columns": KEY_COLUMNS, "rows": rows}


def panels(session: Session, runtime: Runtime, user: ConsoleUser, lang: str) -> list[Panel]:
    """Every panel of ``user``'s dashboard, in order (the role table for admins)."""
    return [applications_panel(session, runtime, user, lang),
            *([keys_panel(runtime)] if user.role == "admin" else [])]
