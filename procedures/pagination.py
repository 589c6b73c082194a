"""Typed cursor pages (Stripe style: ``limit`` + ``starting_after``)."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

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
