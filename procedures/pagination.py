"""Typed cursor pages (Stripe style: ``limit`` + ``starting_after``), and the one query that makes them.

A service lists rows with ``newest_first`` (one page and whether more follow); its route turns
that into a ``Page`` of API objects with ``page_of``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import ColumnElement, Select, inspect, or_, select
from sqlalchemy.orm import Session

from procedures.errors import InvalidRequest

T = TypeVar("T")

MAX_LIMIT = 100


class Page(BaseModel, Generic[T]):
    """One page of results; pass the last item's id as ``starting_after`` for the next."""

    object: str = "list"
    data: list[T]
    has_more: bool
    next_cursor: str | None = None


LimitQuery = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="items per page (1–100)")]
CursorQuery = Annotated[str | None, Query(max_length=64, description="id of the last item of the previous page")]


R = TypeVar("R")


@dataclass(frozen=True)
class Window(Generic[R]):
    """One page of rows (at most the limit), and the cursor of the next page if more follow."""

    rows: list[R]
    next_cursor: str | None

    @property
    def has_more(self) -> bool:
        return self.next_cursor is not None

    @classmethod
    def cut(cls, rows: list[R], limit: int) -> Window[R]:
        """The window of ``rows`` fetched with one more than ``limit``: the extra one only says that
        more follow; the cursor is the last shown row's id."""
        shown = rows[:limit]
        return cls(shown, str(inspect(shown[-1]).identity[0]) if shown and len(rows) > limit else None)


def newest_first(session: Session, model: type[Any], query: Select[R], *, limit: int,
                 starting_after: str | None = None, cursor_scope: ColumnElement[bool] | None = None) -> Window[R]:
    """The rows of ``query`` newest first (``created_at``, then ``id``, descending), ``limit`` of them
    after the row whose id is ``starting_after``.

    Args:
        model: the table ``query`` selects from; its ``created_at`` and ``id`` columns order the page.
        cursor_scope: what the cursor row must satisfy to be usable (e.g. the merchant's own).

    Raises:
        InvalidRequest: ``starting_after`` names no row the caller may use (``param`` starting_after).
    """
    columns = inspect(model).columns
    created_at, id_ = columns["created_at"], columns["id"]
    if starting_after:
        lookup = select(created_at, id_).where(id_ == starting_after)
        cursor = session.execute(lookup if cursor_scope is None else lookup.where(cursor_scope)).first()
        if cursor is None:
            raise InvalidRequest("unknown cursor", param="starting_after")
        when, key = cursor
        query = query.where(or_(created_at < when, (created_at == when) & (id_ < key)))
    return Window.cut(list(session.scalars(query.order_by(created_at.desc(), id_.desc()).limit(limit + 1))), limit)


def page_of(window: Window[R], out: Callable[[R], T]) -> Page[T]:
    """The API page of ``window``, each row through ``out``."""
    return Page(data=[out(row) for row in window.rows], has_more=window.has_more, next_cursor=window.next_cursor)
