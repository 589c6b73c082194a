"""The merchant's own rows: one lookup for every object a merchant (or the operator) asks for by id."""

from __future__ import annotations

from typing import Protocol, TypeVar

from sqlalchemy.orm import Session

from procedures.errors import NotFound


class Owned(Protocol):
    """A row that belongs to one merchant."""

    @property
    def merchant_id(self) -> str: ...


RowT = TypeVar("RowT", bound=Owned)


def merchant_row(session: Session, model: type[RowT], row_id: str, merchant_id: str | None, *, what: str,
                 lock: bool = False) -> RowT:
    """The row ``row_id`` of ``model``, if ``merchant_id`` owns it (any merchant's when ``None``: the
    operator, the resident paying, the relayer's hooks).

    Args:
        what: the object's name in the error (``payment request``).
        lock: ``SELECT … FOR UPDATE`` (PostgreSQL; SQLite serialises writers anyway).

    Raises:
        NotFound: no such row, or another merchant's — the same answer, so ids of other merchants'
            objects cannot be probed (``param`` id).
    """
    row = session.get(model, row_id, with_for_update=lock or None)
    if row is None or (merchant_id is not None and row.merchant_id != merchant_id):
        raise NotFound(f"no {what} {row_id}", param="id")
    return row
