"""Open311 services from the catalog: each civic procedure is a service, its form's fields its attributes.

GeoReport v2 carries the location and description in fields of its own (``lat``, ``long``,
``address_string``, ``description``); every other property of the procedure's JSON Schema form is an
attribute (``attribute[code]`` in a POST), with the spec's datatype: ``singlevaluelist`` for an enum
or a boolean, ``number`` for numbers and integers, ``text`` for long strings, ``string`` otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from procedures.applications.catalog import Catalog, ProcedureType
from procedures.config import Settings
from procedures.errors import InvalidRequest, NotFound
from protocol.forms import YES_NO, choices, field_title

#: Form fields that GeoReport v2 sends as fields of its own, not as attributes.
STANDARD_FIELDS = ("lat", "long", "address_string", "description")
#: Strings longer than this are ``text`` (a multi-line box) rather than ``string``.
TEXT_AFTER = 200


class UnknownService(NotFound):
    """No civic service of that code."""

    code = "unknown_service"

    def __init__(self, code: str) -> None:
        super().__init__(f"no service {code!r}; GET services.json lists them", param="service_code")


def civic_procedures(catalog: Catalog, settings: Settings) -> list[ProcedureType]:
    """The catalog's procedures offered as Open311 services, in the settings' order."""
    return [p for code in settings.civic_services if (p := catalog.find(code)) is not None]


def civic_procedure(catalog: Catalog, settings: Settings, code: str) -> ProcedureType:
    """The civic procedure ``code``.

    Raises:
        UnknownService: not a civic service.
    """
    procedure = catalog.find(code) if code in settings.civic_services else None
    if procedure is None:
        raise UnknownService(code)
    return procedure


def service_entry(procedure: ProcedureType, lang: str) -> dict[str, Any]:
    """The ``services.json`` entry of a procedure."""
    return {
        "service_code": procedure.code, "service_name": procedure.title[lang],
        "description": procedure.description[lang], "metadata": bool(attributes_of(procedure)), "type": "realtime",
        "keywords": procedure.code.replace("-", ","), "group": procedure.department,
    }


def _datatype(prop: Mapping[str, Any]) -> str:
    if choices(prop, "en") or prop.get("type") == "boolean":
        return "singlevaluelist"
    if prop.get("type") in ("number", "integer"):
        return "number"
    if prop.get("type") == "string" and int(prop.get("maxLength", 0)) > TEXT_AFTER:
        return "text"
    return "string"


def _described(prop: Mapping[str, Any], lang: str) -> str | None:
    limits = []
    if "minimum" in prop:
        limits.append(f"≥ {prop['minimum']}")
    if "maximum" in prop:
        limits.append(f"≤ {prop['maximum']}")
    if prop.get("type") == "integer":
        limits.append("整数" if lang == "ja" else "whole number")
    return ", ".join(limits) or None


def attributes_of(procedure: ProcedureType) -> list[tuple[str, dict[str, Any]]]:
    """``(code, JSON Schema property)`` of every attribute, in form order."""
    return [(name, prop) for name, prop in procedure.form.get("properties", {}).items() if name not in STANDARD_FIELDS]


def definition(procedure: ProcedureType, lang: str) -> dict[str, Any]:
    """``services/{code}.json``: the service's attributes."""
    required = set(procedure.form.get("required", ()))
    out = []
    for order, (code, prop) in enumerate(attributes_of(procedure), start=1):
        attribute: dict[str, Any] = {
            "variable": True, "code": code, "datatype": _datatype(prop), "required": code in required,
            "datatype_description": _described(prop, lang), "order": order,
            "description": field_title(prop, lang, code),
        }
        if options := choices(prop, lang):
            attribute["values"] = [{"key": str(v), "name": title} for v, title in options]
        elif prop.get("type") == "boolean":
            yes, no = YES_NO.get(lang, YES_NO["en"])
            attribute["values"] = [{"key": "true", "name": yes}, {"key": "false", "name": no}]
        out.append(attribute)
    return {"service_code": procedure.code, "attributes": out}


def _coerce(param: str, prop: Mapping[str, Any], raw: str) -> Any:
    kind = prop.get("type")
    try:
        if kind == "boolean":
            if raw.lower() not in ("true", "false"):
                raise ValueError
            return raw.lower() == "true"
        if kind == "integer":
            return int(raw)
        if kind == "number":
            value = float(raw)
            if not math.isfinite(value):
                raise ValueError
            return value
    except ValueError:
        raise InvalidRequest(f"{param} must be a {kind}", code="invalid_attribute", param=param) from None
    return raw


def form_from(procedure: ProcedureType, fields: Mapping[str, str | None],
              attributes: Mapping[str, str]) -> dict[str, Any]:
    """The procedure's form answers from GeoReport fields and ``attribute[...]`` values.

    Raises:
        InvalidRequest: an unknown attribute, a value of the wrong type, a missing or bad location.
    """
    properties = procedure.form.get("properties", {})
    form: dict[str, Any] = {}
    for name in ("lat", "long"):
        raw = fields.get(name)
        if raw is None or raw == "":
            raise InvalidRequest("lat and long are required (this city does not geocode addresses)",
                                 code="location_required", param=name)
        form[name] = _coerce(name, {"type": "number"}, raw)
    for name in ("address_string", "description"):
        value = fields.get(name)
        if value and name in properties:
            form[name] = value
    known = dict(attributes_of(procedure))
    for code, raw in attributes.items():
        if code not in known:
            raise InvalidRequest(f"attribute[{code}] is not an attribute of {procedure.code}",
                                 code="invalid_attribute", param=f"attribute[{code}]")
        form[code] = _coerce(f"attribute[{code}]", known[code], raw)
    return form
