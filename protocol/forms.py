"""A form's answers as a person reads them: labels and values from the form's JSON Schema, in ja or en.

The clerk's console and the resident's wallet show the same words for the same answers. A field's
label is its ``x-titles`` entry for the language (else its ``title``); a choice is shown by its
title — ``x-enum-titles`` next to an ``enum``, or the ``x-titles``/``title`` of a ``oneOf``/``anyOf``
option with a ``const``; a yes/no answer as はい/いいえ (Yes/No). Nothing falls back to a raw key
unless the schema has no words for it at all (an answer the form version no longer knows).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FieldRow", "choices", "field_title", "form_rows", "option_title", "shown_value"]

YES_NO: dict[str, tuple[str, str]] = {"ja": ("はい", "いいえ"), "en": ("Yes", "No")}


def _words(titles: Any, lang: str) -> str | None:
    if isinstance(titles, Mapping):
        text = titles.get(lang) or titles.get("ja") or titles.get("en")
        return str(text) if text else None
    return None


def field_title(prop: Mapping[str, Any], lang: str, name: str = "") -> str:
    """A field's label: ``x-titles`` in ``lang``, else ``title``, else ``name``."""
    return _words(prop.get("x-titles"), lang) or str(prop.get("title") or name)


def choices(prop: Mapping[str, Any], lang: str) -> list[tuple[Any, str]]:
    """The allowed values of a choice field with their titles, in the schema's order ([] if it is none)."""
    options = prop.get("oneOf") or prop.get("anyOf")
    if isinstance(options, list) and options and all(isinstance(o, Mapping) and "const" in o for o in options):
        return [(o["const"], _words(o.get("x-titles"), lang) or str(o.get("title") or o["const"])) for o in options]
    if isinstance(prop.get("enum"), list):
        titles = prop.get("x-enum-titles") or {}
        return [(v, _words(titles.get(str(v)), lang) or str(v)) for v in prop["enum"]]
    return []


def option_title(prop: Mapping[str, Any], value: Any, lang: str) -> str | None:
    """The title of ``value`` among a choice field's options (None if it is not one of them)."""
    for option, title in choices(prop, lang):
        if option == value and type(option) is type(value):
            return title
    return None


def shown_value(prop: Mapping[str, Any], value: Any, lang: str) -> str:
    """One scalar answer as text: a choice by its title, yes/no in words, anything else as written."""
    if isinstance(value, bool):
        yes, no = YES_NO.get(lang, YES_NO["en"])
        return yes if value else no
    title = option_title(prop, value, lang)
    if title is not None:
        return title
    if value is None:
        return ""
    return str(value)


@dataclass
class FieldRow:
    """One answer: its label and either its text or, for an object or a list of objects, the rows inside."""

    name: str
    label: str
    text: str | None = None
    groups: list[list[FieldRow]] = field(default_factory=list)


def form_rows(schema: Mapping[str, Any], form: Mapping[str, Any], lang: str) -> list[FieldRow]:
    """The answers of ``form`` as rows in the schema's order (answers the schema does not know come last)."""
    properties: Mapping[str, Any] = schema.get("properties") or {}
    names = [n for n in properties if n in form] + [n for n in form if n not in properties]
    rows = []
    for name in names:
        prop = properties.get(name) or {}
        rows.append(_row(name, prop, form[name], lang))
    return rows


def _row(name: str, prop: Mapping[str, Any], value: Any, lang: str) -> FieldRow:
    label = field_title(prop, lang, name)
    if isinstance(value, Mapping):
        return FieldRow(name, label, groups=[form_rows(prop, value, lang)])
    if isinstance(value, list):
        item = prop.get("items") or {}
        if all(isinstance(v, Mapping) for v in value):
            return FieldRow(name, label, groups=[form_rows(item, v, lang) for v in value])
        return FieldRow(name, label, text="、".join(shown_value(item, v, lang) for v in value) if lang == "ja"
                        else ", ".join(shown_value(item, v, lang) for v in value))
    return FieldRow(name, label, text=shown_value(prop, value, lang))
