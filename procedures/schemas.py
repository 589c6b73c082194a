"""What every room's ``schemas.py`` shares: API objects filled from table rows.

The placement rule (``docs/architecture.md``): a request or response model lives in the
``schemas.py`` of the room whose objects it describes, whichever routes use it; a room's routes
import models from there and never define their own.

Every request model derives from ``RequestModel``: strict types (``true`` is not ``1``, ``"100"``
is not ``100``), no control characters in any string, date-times only as ISO 8601 text
(``IsoDatetime``, ``IsoDate``).

A response model whose fields are the row's columns is filled by ``from_row``: each field takes
the row's attribute of the same name, or the one its ``Column`` marker names, so the field list is
written once — in the model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, TypeAdapter, model_validator

from procedures.errors import InvalidRequest

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


#: The control characters (Unicode category Cc: C0, DEL, C1) a text field may not hold — all but
#: tab and the newlines. One regular expression: attachments are megabytes of base64.
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
#: ISO 8601 starts with the year; anything else (a unix time, ``"600"``) is not a date.
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _refuse_controls(value: Any, path: str) -> None:
    """Raise ``InvalidRequest`` naming the field of the first string (or key) with a control character."""
    if isinstance(value, str):
        found = _CONTROLS.search(value)
        if found is not None:
            index = found.start()
            raise InvalidRequest(
                f"{path or 'body'}: control character U+{ord(value[index]):04X} at position {index} is not allowed",
                code="control_character", param=path or None)
    elif isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            _refuse_controls(key, where)
            _refuse_controls(item, where)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _refuse_controls(item, f"{path}.{index}" if path else str(index))


class RequestModel(BaseModel):
    """Base of every request body: strict JSON types, no control characters in text.

    ``strict``: a boolean is not an integer and a numeric string is not a number (``{"amount":
    true}`` made a ¥1 payment request). Control characters (NUL, ESC, …; tab and newlines allowed)
    are refused with ``422 control_character`` naming the field — no field holds one, and
    PostgreSQL text cannot hold NUL.
    """

    model_config = ConfigDict(strict=True)

    @model_validator(mode="before")
    @classmethod
    def _no_control_characters(cls, data: Any) -> Any:
        # InvalidRequest is not a ValueError: pydantic lets it through to the one error mapping
        _refuse_controls(data, "")
        return data


def _iso(kind: type[Any], example: str) -> BeforeValidator:
    lax = TypeAdapter(kind)

    def parse(value: Any) -> Any:
        if isinstance(value, str):
            if not _ISO_DATE.match(value):
                raise ValueError(f"expected ISO 8601 text like {example}")
            return lax.validate_python(value)
        return value  # a date-time object passes; a number fails the strict check after this

    return BeforeValidator(parse)


#: A date-time of a request body, as ISO 8601 text (strict models take no numbers for it).
IsoDatetime = Annotated[datetime, _iso(datetime, "2026-04-01T09:00:00+09:00")]
#: A date of a request body, as ISO 8601 text (``2026-04-01``).
IsoDate = Annotated[date, _iso(date, "2026-04-01")]
