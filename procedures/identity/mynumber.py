"""Detect — and refuse — the 12-digit individual number (個人番号, "My Number").

The service must never read, accept or store a My Number (番号法 limits who may
collect it, and we are not among them).  ``refuse_my_number(value)`` scans a string or
any nested JSON-like value and raises ``MyNumberRefused`` if one appears.

What counts as a My Number here:

* 12 digits whose last digit is the check digit (番号法施行令 第8条, below);
* written contiguously (``123456789018``) or in the card's 4-4-4 grouping with spaces
  or hyphens (``1234 5678 9018``, ``1234-5678-9018``);
* ASCII, full-width (``１２３４…``) or any other Unicode decimal digits;
* not part of a longer digit run: a 13-digit run (e.g. a corporate number 法人番号) or
  a 4-4-4-4 group (a card number) is not a My Number even if 12 of its digits would
  pass the check.

Check digit: for the first 11 digits, let P(n) be the n-th digit counted from the
right (n = 1…11) and Q(n) = n + 1 for n ≤ 6, n − 5 for n ≥ 7; with
r = Σ P(n)·Q(n) mod 11 the check digit is 0 if r ≤ 1, else 11 − r.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from procedures.identity.errors import MyNumberRefused

__all__ = [
    "check_digit",
    "contains_my_number",
    "find_my_number_paths",
    "find_my_number_spans",
    "is_valid_my_number",
    "redact_my_numbers",
    "refuse_my_number",
]

#: Characters people put between digit groups (ASCII and full-width spaces/hyphens,
#: Unicode dashes and minus, and the long-vowel mark often typed for a hyphen).
_SEPARATORS = frozenset(
    " \t\u00a0\u3000-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\uff0d\ufe63\u30fc\uff70"
)
_MAX_SEPARATOR_RUN = 3
_SAFE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]{0,63}")


def check_digit(first11: str) -> int:
    """Check digit of an 11-digit prefix (ASCII digits)."""
    if len(first11) != 11 or not first11.isascii() or not first11.isdigit():
        raise ValueError("expected 11 ASCII digits")
    total = 0
    for n, ch in enumerate(reversed(first11), start=1):
        q = n + 1 if n <= 6 else n - 5
        total += int(ch) * q
    r = total % 11
    return 0 if r <= 1 else 11 - r


def is_valid_my_number(digits: str) -> bool:
    """True for exactly 12 decimal digits (any script) with a valid check digit."""
    ascii_digits = _to_ascii_digits(digits)
    if ascii_digits is None or len(ascii_digits) != 12:
        return False
    return check_digit(ascii_digits[:11]) == int(ascii_digits[11])


def _to_ascii_digits(s: str) -> str | None:
    out = []
    for ch in s:
        d = unicodedata.decimal(ch, None)
        if d is None:
            return None
        out.append(str(d))
    return "".join(out)


def find_my_number_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` spans of My Numbers in ``text`` (rules in the module doc)."""
    spans: list[tuple[int, int]] = []
    n = len(text)
    i = 0
    while i < n:
        if unicodedata.decimal(text[i], None) is None:
            i += 1
            continue
        # A run: digit groups joined by short separator sequences.
        groups: list[tuple[int, int]] = []
        j = i
        while True:
            start = j
            while j < n and unicodedata.decimal(text[j], None) is not None:
                j += 1
            groups.append((start, j))
            k = j
            while k < n and text[k] in _SEPARATORS and k - j < _MAX_SEPARATOR_RUN:
                k += 1
            if k > j and k < n and unicodedata.decimal(text[k], None) is not None:
                j = k
                continue
            break
        lengths = [e - s for s, e in groups]
        if lengths == [4, 4, 4]:
            s, e = groups[0][0], groups[-1][1]
            digits = "".join(text[a:b] for a, b in groups)
            if is_valid_my_number(digits):
                spans.append((s, e))
        else:
            for s, e in groups:
                if e - s == 12 and is_valid_my_number(text[s:e]):
                    spans.append((s, e))
        i = j
    return spans


def redact_my_numbers(text: str, replacement: str = "[REDACTED]") -> str:
    """``text`` with every My Number replaced (e.g. for a logging filter)."""
    out, last = [], 0
    for s, e in find_my_number_spans(text):
        out.append(text[last:s])
        out.append(replacement)
        last = e
    out.append(text[last:])
    return "".join(out)


def _key_path(parent: str, key: object) -> str:
    if isinstance(key, str) and _SAFE_KEY.fullmatch(key):
        return f"{parent}.{key}"
    return f"{parent}[…]"  # never echo an arbitrary key: it may be the number itself


def find_my_number_paths(value: Any) -> list[str]:
    """JSON-path-like locations (``$.a[0].b``) of My Numbers in a nested value.

    Walks mappings (keys and values), lists/tuples/sets, strings, integers, integral
    floats, bytes (as UTF-8) and objects with ``model_dump()`` (pydantic models).
    """
    found: list[str] = []
    stack: list[tuple[str, Any]] = [("$", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if find_my_number_spans(item):
                found.append(path)
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if find_my_number_spans(str(abs(item))):
                found.append(path)
        elif isinstance(item, float):
            if item.is_integer() and find_my_number_spans(str(abs(int(item)))):
                found.append(path)
        elif isinstance(item, bytes | bytearray):
            if find_my_number_spans(bytes(item).decode("utf-8", "ignore")):
                found.append(path)
        elif isinstance(item, Mapping):
            for key, sub in item.items():
                child = _key_path(path, key)
                stack.append((child, sub))
                if isinstance(key, str | int) and not isinstance(key, bool):
                    stack.append((child + "<key>", key))
        elif isinstance(item, list | tuple | set | frozenset):
            for idx, sub in enumerate(item):
                stack.append((f"{path}[{idx}]", sub))
        elif callable(getattr(item, "model_dump", None)):
            stack.append((path, item.model_dump()))
    return sorted(set(found))


def contains_my_number(value: Any) -> bool:
    return bool(find_my_number_paths(value))


def refuse_my_number(value: Any) -> None:
    """Raise ``MyNumberRefused`` (naming only the paths) if ``value`` carries one."""
    paths = find_my_number_paths(value)
    if paths:
        raise MyNumberRefused(paths=paths)
