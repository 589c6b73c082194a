"""The procedure catalog: procedure types as data, one JSON file each, checked when loaded.

A catalog file (``procedures/catalog/<code>.json``, or ``MACHI_APPLICATIONS_CATALOG_DIR``) holds:

``code``            kebab-case id (also the file name), never shown on chain
``version``         form version; residents sign it, clerks see it; bump it when the form changes
``title``           ``{"ja", "en"}``; ``description`` likewise (optional)
``assurance_level`` on-chain identity level the wallet needs: 1 card-authenticated, 2 resident of the city
``fee``             coins paid to the treasury with the submission (refunded on rejection);
                    ``fee_per`` optionally names an integer form field multiplying it (e.g. copies)
``benefit``         coins paid to the applicant on approval, from the benefits minter's budget
``department``      the routing department (clerks of it work the application); its name in ja/en is
                    data too, in the directory's ``_departments.json``
``deadline_days``   processing deadline in the city's business days (the end of the n-th business day after
                    the submission, city time; the queue's *overdue* filter)
``retention_years`` after the application closes, its data key is erased (crypto-erasure)
``attachments``     ``{"min", "max", "max_bytes", "types": [MIME types]}``
``inside_city``     ``[{"lat": "/ptr", "long": "/ptr"}]``: JSON pointers of coordinates that must lie in
                    the city's bounding box (``MACHI_APPLICATIONS_CITY_BBOX``)
``form``            a JSON Schema (draft 2020-12) object; every property carries
                    ``"x-titles": {"ja", "en"}`` for the wallet's prompts and the console's labels; a
                    choice names each value — ``"x-enum-titles": {value: {"ja", "en"}}`` beside ``enum``,
                    or ``"x-titles"`` on each ``oneOf`` option with a ``const``
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError, ValidationError

from procedures.errors import InvalidRequest, NotFound, Unavailable
from protocol.points import DEFAULT_EXPIRY_DAYS

SHIPPED = Path(__file__).resolve().parent.parent / "catalog"

_I18N = {
    "type": "object",
    "required": ["ja", "en"],
    "properties": {"ja": {"type": "string", "minLength": 1}, "en": {"type": "string", "minLength": 1}},
    "additionalProperties": False,
}

#: The shape of a catalog file (checked at load; the form itself is checked as a JSON Schema).
CATALOG_FILE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["code", "version", "title", "assurance_level", "fee", "benefit", "department", "deadline_days",
                 "retention_years", "attachments", "form"],
    "properties": {
        "code": {"type": "string", "pattern": "^[a-z][a-z0-9-]{2,47}$"},
        "version": {"type": "integer", "minimum": 1, "maximum": 65535},
        "title": _I18N,
        "description": _I18N,
        "assurance_level": {"enum": [1, 2]},
        "fee": {"type": "integer", "minimum": 0, "maximum": 10_000_000},
        "fee_per": {"type": "string", "minLength": 1},
        "benefit": {"type": "integer", "minimum": 0, "maximum": 10_000_000},
        "benefit_expiry_days": {"type": "integer", "minimum": 1, "maximum": DEFAULT_EXPIRY_DAYS},
        "department": {"type": "string", "pattern": "^[a-z][a-z0-9-]{1,63}$"},
        "deadline_days": {"type": "integer", "minimum": 1, "maximum": 365},
        "retention_years": {"type": "integer", "minimum": 1, "maximum": 100},
        "attachments": {
            "type": "object",
            "additionalProperties": False,
            "required": ["min", "max", "max_bytes", "types"],
            "properties": {
                "min": {"type": "integer", "minimum": 0},
                "max": {"type": "integer", "minimum": 0, "maximum": 10},
                "max_bytes": {"type": "integer", "minimum": 0, "maximum": 10_000_000},
                "types": {"type": "array", "items": {"type": "string", "pattern": "^[a-z]+/[a-z0-9.+-]+$"}},
            },
        },
        "inside_city": {
            "type": "array",
            "items": {
                "type": "object", "required": ["lat", "long"], "additionalProperties": False,
                "properties": {"lat": {"type": "string", "pattern": "^/"}, "long": {"type": "string", "pattern": "^/"}},
            },
        },
        "form": {"type": "object", "required": ["type", "properties"],
                 "properties": {"type": {"const": "object"}, "properties": {"type": "object"}}},
    },
}


class CatalogError(Unavailable):
    """A catalog file is malformed: named with the problem at start-up, and every request that needs
    the catalog gets a 503 saying so until the file is fixed."""

    code = "catalog_invalid"

    def __init__(self, message: str) -> None:
        super().__init__(f"the procedure catalog is invalid: {message}")


@dataclass(frozen=True)
class AttachmentRules:
    """How many files of which types and sizes a procedure accepts."""

    min: int
    max: int
    max_bytes: int
    types: tuple[str, ...]


@dataclass(frozen=True)
class ProcedureType:
    """One catalog entry (see the module docstring for the fields)."""

    code: str
    version: int
    title: dict[str, str]
    description: dict[str, str]
    assurance_level: int
    fee: int
    fee_per: str | None
    benefit: int
    benefit_expiry_days: int | None  # how long the benefit's points last (None: the city's points_expiry_days)
    department: str
    deadline_days: int
    retention_years: int
    attachments: AttachmentRules
    inside_city: tuple[tuple[str, str], ...]
    form: dict[str, Any]
    validator: Draft202012Validator

    def fee_for(self, form: Mapping[str, Any]) -> int:
        """The fee for these answers (``fee`` × the ``fee_per`` field when set)."""
        if self.fee_per is None:
            return self.fee
        return self.fee * int(form.get(self.fee_per, 1))

    def public(self) -> dict[str, Any]:
        """The entry as the API shows it."""
        return {
            "code": self.code, "version": self.version, "title": self.title, "description": self.description,
            "assurance_level": self.assurance_level, "fee": self.fee, "fee_per": self.fee_per,
            "benefit": self.benefit, "benefit_expiry_days": self.benefit_expiry_days,
            "department": self.department, "deadline_days": self.deadline_days,
            "retention_years": self.retention_years,
            "attachments": {"min": self.attachments.min, "max": self.attachments.max,
                            "max_bytes": self.attachments.max_bytes, "types": list(self.attachments.types)},
            "form": self.form,
        }

    def validate(self, form: Any, bbox: tuple[float, float, float, float]) -> None:
        """Check answers against the form schema and the city's bounding box.

        Raises:
            InvalidRequest: the first problem (code ``invalid_form``, ``param`` = ``form.<field path>``),
                or a location outside the city (code ``outside_city``).
        """
        if not isinstance(form, dict):
            raise InvalidRequest("the form must be a JSON object", code="invalid_form", param="form")
        errors = sorted(self.validator.iter_errors(form), key=lambda e: (list(e.absolute_path), e.validator))
        if errors:
            error = errors[0]
            path = _error_path(error)
            field = "form" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
            more = f" ({len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
            raise InvalidRequest(f"{field}: {_error_message(error)}{more}", code="invalid_form", param=field)
        south, west, north, east = bbox
        for lat_ptr, long_ptr in self.inside_city:
            lat, long = _pointer(form, lat_ptr), _pointer(form, long_ptr)
            if lat is None or long is None:
                continue  # optional location not given; "required" is the schema's business
            if not (south <= float(lat) <= north and west <= float(long) <= east):
                raise InvalidRequest("the location is outside the city", code="outside_city",
                                     param="form" + lat_ptr.replace("/", "."))


def _error_path(error: ValidationError) -> list[str | int]:
    path: list[str | int] = list(error.absolute_path)
    instance = error.instance
    if error.validator == "required" and isinstance(instance, dict):
        missing = [name for name in error.validator_value if name not in instance]
        if missing:
            path.append(missing[0])
    elif error.validator == "additionalProperties" and isinstance(instance, dict):
        allowed = set((error.schema.get("properties") or {}).keys()) if isinstance(error.schema, dict) else set()
        extra = sorted(str(k) for k in instance if k not in allowed)
        if extra:
            path.append(extra[0])
    return path


def _error_message(error: ValidationError) -> str:
    if error.validator == "required":
        return "this field is required"
    if error.validator == "additionalProperties":
        return "unknown field"
    if error.validator == "enum":
        return "must be one of " + ", ".join(json.dumps(v, ensure_ascii=False) for v in error.validator_value)
    if error.validator in ("oneOf", "anyOf") and all(isinstance(o, dict) and "const" in o
                                                    for o in error.validator_value):
        return "must be one of " + ", ".join(json.dumps(o["const"], ensure_ascii=False) for o in error.validator_value)
    return str(error.message)


def _pointer(document: Any, pointer: str) -> Any:
    node = document
    for part in pointer.lstrip("/").split("/"):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


_FILE_VALIDATOR = Draft202012Validator(CATALOG_FILE_SCHEMA)


def _titles_everywhere(schema: Mapping[str, Any], where: str) -> Iterable[str]:
    for name, prop in (schema.get("properties") or {}).items():
        here = f"{where}.{name}"
        if not isinstance(prop, dict):
            yield f"{here} is not a schema object"
            continue
        if not _FILE_VALIDATOR.evolve(schema=_I18N).is_valid(prop.get("x-titles")):
            yield f"{here} needs \"x-titles\": {{\"ja\": …, \"en\": …}}"
        yield from _choice_titles(prop, here)
        if prop.get("type") == "object":
            yield from _titles_everywhere(prop, here)
        items = prop.get("items")
        if isinstance(items, dict) and items.get("type") == "object":
            yield from _titles_everywhere(items, here + "[]")


def _choice_titles(prop: Mapping[str, Any], here: str) -> Iterable[str]:
    """Every value of a choice field has ja/en titles (``x-enum-titles``, or ``x-titles`` on ``oneOf`` options)."""
    i18n = _FILE_VALIDATOR.evolve(schema=_I18N)
    if isinstance(prop.get("enum"), list):
        titles = prop.get("x-enum-titles") or {}
        for value in prop["enum"]:
            if not i18n.is_valid(titles.get(str(value))):
                yield f"{here} needs \"x-enum-titles\" with ja/en for {json.dumps(value, ensure_ascii=False)}"
    for key in ("oneOf", "anyOf"):
        for option in prop.get(key) or []:
            if isinstance(option, dict) and "const" in option and not i18n.is_valid(option.get("x-titles")):
                yield f"{here}.{key} option {json.dumps(option['const'], ensure_ascii=False)} needs \"x-titles\""


def parse_entry(data: Any, source: str = "<entry>") -> ProcedureType:
    """A checked catalog entry.

    Raises:
        CatalogError: the file does not follow ``CATALOG_FILE_SCHEMA``, its form is not a valid JSON
            Schema, a property lacks ja/en titles, or a pointer names no form property.
    """
    problems = [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
                for e in _FILE_VALIDATOR.iter_errors(data)]
    if problems:
        raise CatalogError(f"{source}: " + "; ".join(problems))
    try:
        Draft202012Validator.check_schema(data["form"])
    except SchemaError as exc:
        raise CatalogError(f"{source}: the form is not a valid JSON Schema: {exc.message}") from None
    problems = list(_titles_everywhere(data["form"], "form"))
    properties = data["form"]["properties"]
    if data.get("fee_per") is not None and (properties.get(data["fee_per"]) or {}).get("type") != "integer":
        problems.append(f"fee_per names {data['fee_per']!r}, which is not an integer form field")
    for pair in data.get("inside_city", []):
        for pointer in pair.values():
            if pointer.lstrip("/").split("/")[0] not in properties:
                problems.append(f"inside_city pointer {pointer} names no form field")
    rules = data["attachments"]
    if rules["min"] > rules["max"]:
        problems.append("attachments.min exceeds attachments.max")
    if problems:
        raise CatalogError(f"{source}: " + "; ".join(problems))
    return ProcedureType(
        code=data["code"], version=data["version"], title=dict(data["title"]),
        description=dict(data.get("description") or data["title"]), assurance_level=data["assurance_level"],
        fee=data["fee"], fee_per=data.get("fee_per"), benefit=data["benefit"],
        benefit_expiry_days=data.get("benefit_expiry_days"), department=data["department"],
        deadline_days=data["deadline_days"], retention_years=data["retention_years"],
        attachments=AttachmentRules(rules["min"], rules["max"], rules["max_bytes"], tuple(rules["types"])),
        inside_city=tuple((p["lat"], p["long"]) for p in data.get("inside_city", [])),
        form=data["form"], validator=Draft202012Validator(data["form"], format_checker=FormatChecker()),
    )


#: The file of a catalog directory that names its departments (code → {"ja", "en"}); files whose
#: name starts with ``_`` are not procedure types.
DEPARTMENTS_FILE = "_departments.json"

_DEPARTMENTS_SCHEMA: dict[str, Any] = {
    "type": "object", "propertyNames": {"pattern": "^[a-z][a-z0-9-]{1,63}$"}, "additionalProperties": _I18N,
}


class Catalog:
    """The loaded procedure types, by code, and the names of the departments they are routed to."""

    def __init__(self, entries: Iterable[ProcedureType],
                 departments: Mapping[str, Mapping[str, str]] | None = None) -> None:
        self.departments: dict[str, dict[str, str]] = {k: dict(v) for k, v in (departments or {}).items()}
        self._entries: dict[str, ProcedureType] = {}
        for entry in entries:
            if entry.code in self._entries:
                raise CatalogError(f"procedure {entry.code!r} is defined twice")
            self._entries[entry.code] = entry

    @classmethod
    def load(cls, directory: Path | None = None) -> Catalog:
        """Every ``*.json`` file of ``directory`` (default: the shipped catalog).

        Raises:
            CatalogError: a file is unreadable or malformed, or its name differs from its code.
        """
        directory = directory or SHIPPED
        entries = []
        departments = _departments(directory)
        for path in sorted(directory.glob("*.json")):
            if path.name.startswith("_"):
                continue
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise CatalogError(f"{path.name}: cannot read: {exc}") from None
            entry = parse_entry(data, path.name)
            if path.stem != entry.code:
                raise CatalogError(f"{path.name}: the file must be named after its code ({entry.code}.json)")
            if entry.department not in departments:
                raise CatalogError(f"{path.name}: department {entry.department!r} has no name in {DEPARTMENTS_FILE}")
            entries.append(entry)
        if not entries:
            raise CatalogError(f"no procedure types in {directory}")
        return cls(entries, departments)

    def department_name(self, code: str | None, lang: str) -> str:
        """A department's name in ``lang`` (its code only if the catalog does not name it, e.g. a staff
        account's department that no procedure is routed to)."""
        if not code:
            return ""
        names = self.departments.get(code) or {}
        return names.get(lang) or names.get("ja") or code

    def __iter__(self) -> Any:
        return iter(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, code: str) -> ProcedureType:
        """The procedure type ``code``.

        Raises:
            NotFound: no such procedure (code ``unknown_procedure``).
        """
        entry = self._entries.get(code)
        if entry is None:
            raise NotFound(f"no procedure {code!r} in the catalog", code="unknown_procedure", param="procedure")
        return entry

    def find(self, code: str) -> ProcedureType | None:
        """The procedure type ``code``, or ``None`` (e.g. removed from the catalog since filing)."""
        return self._entries.get(code)


def _departments(directory: Path) -> dict[str, dict[str, str]]:
    path = directory / DEPARTMENTS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}  # every procedure's department is then reported as unnamed
    except (OSError, ValueError) as exc:
        raise CatalogError(f"{DEPARTMENTS_FILE}: cannot read: {exc}") from None
    problems = [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
                for e in _FILE_VALIDATOR.evolve(schema=_DEPARTMENTS_SCHEMA).iter_errors(data)]
    if problems:
        raise CatalogError(f"{DEPARTMENTS_FILE}: " + "; ".join(problems))
    return {code: dict(names) for code, names in data.items()}


_loaded: dict[Path, Catalog] = {}
_lock = threading.Lock()


def catalog_for(directory: Path | None) -> Catalog:
    """The catalog of ``directory`` (default: shipped), loaded once per process."""
    key = (directory or SHIPPED).resolve()
    with _lock:
        if key not in _loaded:
            _loaded[key] = Catalog.load(key)
        return _loaded[key]
