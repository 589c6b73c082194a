"""The merchant's own rows: one lookup for every object a merchant (or the operator) asks for by id."""

from __future__ import annotations

from typing import Protocol, TypeVar

from sqlalchemy.orm import Session

from procedures.rows import row_or_404


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
    return row_or_404(session, model, row_id, what=what, lock=lock,
                      visible=None if merchant_id is None else lambda row: row.merchant_id == merchant_id)
