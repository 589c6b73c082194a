"""Schemathesis hooks of the hostile profile (``test_openapi_fuzz.test_a_hostile_profile_gets_no_server_error``):
every generated body, query and path parameter is bent toward what an attacker sends —

- text: NUL and other control characters, RTL/LTR overrides and marks, combining characters
  piled on one letter, zero-width joiners, surrogate-free astral characters, half-width kana with
  stray voicing marks (the Zengin fields), full-width digits, very long strings;
- numbers: 2^63, 2^63 − 1, −2^63 − 1, 2^256, 1e308, floats where integers go, booleans;
- bodies: nested 40 levels deep (past the guard's limit) or over the body limit (300 KB).

Loaded with ``SCHEMATHESIS_HOOKS=tests.procedures.fuzz_hostile``; the shape check comes with
``tests.procedures.fuzz_hooks``.
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis
from hypothesis import strategies as st

import tests.procedures.fuzz_hooks  # noqa: F401 - registers the standard_error_shape check

HOSTILE_TEXT = [
    "\x00", "a\x00b", "\x1b[31m", "\x7f", "\u0085", "\u202eevil\u202c", "\u200f\u200e", "\u2066x\u2069",
    "e" + "\u0301" * 64, "Z\u0336\u0335\u0334" * 20, "\u200d\u200c\ufeff", "\U0001f4a9\U0001f1ef\U0001f1f5",
    "ｶﾞｶﾞ", "ﾟﾞｱ", "ｶ）ﾔﾏﾅｶ", "ヤマナカ", "１２３４５６７", "0146\u3000", "x" * 5000, "../../etc/passwd",
    "' OR 1=1 --", "${jndi:ldap://x}", "\ud7ff", "",
]
HOSTILE_NUMBERS: list[Any] = [2**63, 2**63 - 1, -(2**63) - 1, 2**256, -(2**256), 1e308, 0.5, True, False, -1]
#: Past the request guard's nesting limit (procedures.api.guard.MAX_JSON_DEPTH = 32).
DEPTH = 40
#: Past the default body limit (256 KB).
OVERSIZED = 300 * 1024


def _nested(value: Any, depth: int = DEPTH) -> Any:
    for _ in range(depth):
        value = [value]
    return value


def _bend(value: Any, draw: Any) -> Any:
    """``value`` with its strings and numbers swapped, each with some chance, for hostile ones."""
    if isinstance(value, bool) or isinstance(value, int | float):
        return draw(st.sampled_from([*HOSTILE_NUMBERS, value]))  # hostile first: what shrinking prefers
    if isinstance(value, str):
        return draw(st.sampled_from([*HOSTILE_TEXT, value]))
    if isinstance(value, dict):
        return {key: _bend(item, draw) for key, item in value.items()}
    if isinstance(value, list):
        return [_bend(item, draw) for item in value]
    return value


@st.composite
def _hostile_body(draw: Any, body: Any) -> Any:
    kind = draw(st.sampled_from(["bend", "bend", "bend", "deep", "oversized"]))
    if kind == "deep":
        return _nested(body)
    if kind == "oversized":
        return {"padding": "ｱ" * (OVERSIZED // 3 + 1), "body": body}
    return _bend(body, draw)


@st.composite
def _hostile_params(draw: Any, params: dict[str, Any]) -> dict[str, Any]:
    return {key: draw(st.sampled_from([*HOSTILE_TEXT[:-2], *map(str, HOSTILE_NUMBERS), value]))
            for key, value in params.items()}


@schemathesis.hook
def flatmap_body(ctx: Any, body: Any) -> Any:
    if not isinstance(body, dict | list):  # no body, or not JSON: left as generated
        return st.just(body)
    return _hostile_body(body)


@schemathesis.hook
def flatmap_query(ctx: Any, query: dict[str, Any]) -> Any:
    return _hostile_params(query) if query else st.just(query)


@schemathesis.hook
def flatmap_path_parameters(ctx: Any, path_parameters: dict[str, Any]) -> Any:
    return _hostile_params(path_parameters) if path_parameters else st.just(path_parameters)


@schemathesis.hook
def after_call(ctx: Any, case: Any, response: Any) -> None:
    """Each answer's status and error code, one line each, to ``$HOSTILE_LOG`` (the test reads them
    to see that the profile reached the guard and the validators)."""
    path = os.environ.get("HOSTILE_LOG")
    if not path:
        return
    code = ""
    if 400 <= response.status_code < 500:
        try:
            code = response.json()["error"]["code"]
        except (ValueError, KeyError, TypeError):
            code = "?"
    with open(path, "a", encoding="utf-8") as log:
        log.write(f"{response.status_code} {code}\n")
