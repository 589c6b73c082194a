"""A row by id, or the one "not found" answer — also when the row exists but is not the caller's,
so that ids of other people's objects cannot be probed."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.orm import Session

from procedures.errors import NotFound

RowT = TypeVar("RowT")


def row_or_404(session: Session, model: type[RowT], row_id: str | int, *, what: str, param: str = "id",
               lock: bool = False, visible: Callable[[RowT], bool] | None = None) -> RowT:
    """The row ``row_id`` of ``model``.

    Args:
        what: the object's name in the error (``payout batch``).
        param: the request field that named it.
        lock: ``SELECT … FOR UPDATE`` (PostgreSQL; SQLite serialises writers anyway).
        visible: whether the caller may see the row (e.g. one of its parties).

    Raises:
        NotFound: no such row, or one ``visible`` refuses.
    """
    row = session.get(model, row_id, with_for_update=lock or None)
    if row is None or (visible is not None and not visible(row)):
        raise NotFound(f"no {what} {row_id}", param=param)
    return row
