"""What every room's ``schemas.py`` shares: API objects filled from table rows.

The placement rule (``docs/architecture.md``): a request or response model lives in the
``schemas.py`` of the room whose objects it describes, whichever routes use it; a room's routes
import models from there and never define their own.

A response model whose fields are the row's columns is filled by ``from_row``: each field takes
the row's attribute of the same name, or the one its ``Column`` marker names, so the field list is
written once — in the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Column:
    """Marks a field filled from a differently named attribute:
    ``merchant: Annotated[str, Column("merchant_id")]``."""

    name: str


def from_row(model: type[M], row: object, /, **values: Any) -> M:
    """``model`` filled from ``row``: every field not in ``values`` from the row's attribute of the
    field's name (or its ``Column``); fields the row lacks keep their defaults.

    Raises:
        pydantic.ValidationError: a required field is neither on the row nor in ``values``.
    """
    for name, field in model.model_fields.items():
        if name in values:
            continue
        source = next((m.name for m in field.metadata if isinstance(m, Column)), name)
        if hasattr(row, source):
            values[name] = getattr(row, source)
    return model.model_validate(values)
