"""Dashboard panels besides the day's payments: what each staff member sees at a glance."""

from __future__ import annotations

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from chain.errors import MachiError
from procedures.applications.models import Application, Status
from procedures.applications.service import overdue_condition
from procedures.console.pages import ConsoleUser
from procedures.role_keys import key_table
from procedures.runtime import Runtime

#: A panel: a title key (``procedures.console.i18n``) and its table rows.
Panel = dict[str, object]


def applications_panel(session: Session, user: ConsoleUser) -> Panel:
    """Open applications by department, with how many are overdue (one grouped query); a clerk
    sees their own department only."""
    open_statuses = [Status.SUBMITTED, Status.IN_REVIEW, Status.RESUBMITTED, Status.RETURNED]
    query = (select(Application.department, func.count(),
                    func.coalesce(func.sum(case((overdue_condition(), 1), else_=0)), 0))
             .where(Application.status.in_(open_statuses))
             .group_by(Application.department).order_by(Application.department))
    if user.role != "admin" and user.account.department:
        query = query.where(Application.department == user.account.department)
    rows = [(department, int(n), f"{int(late)}") for department, n, late in session.execute(query)]
    return {"title": "open_applications", "rows": rows}


def keys_panel(runtime: Runtime) -> Panel:
    """The role table (admins only): each hot key, its address, the roles it holds on chain, ok or what
    is wrong (``procedures.role_keys.key_table``)."""
    try:
        table = key_table(runtime)
    except MachiError as exc:
        return {"title": "service_keys", "rows": [("—", type(exc).__name__, "", "NG")]}
    rows = []
    for row in table["keys"]:
        wrong = [f"missing {r}" for r in row["missing"]] + [f"must not hold {r}" for r in row["forbidden"]]
        rows.append((row["key"], row["address"], ", ".join(row["roles"]) or "—", "; ".join(wrong) or "ok"))
    return {"title": "service_keys", "rows": rows}


def panels(session: Session, user: ConsoleUser, runtime: Runtime) -> list[Panel]:
    """Every panel of ``user``'s dashboard, in order (the role table for admins)."""
    return [applications_panel(session, user), *([keys_panel(runtime)] if user.role == "admin" else [])]
