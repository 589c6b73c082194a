"""Schemathesis hooks for ``test_openapi_fuzz``: a check that every 4xx answer has the one error shape.

Loaded by the schemathesis CLI through ``SCHEMATHESIS_HOOKS=tests.procedures.fuzz_hooks`` and enabled
with ``--checks not_a_server_error,standard_error_shape``.
"""

from __future__ import annotations

import json
from typing import Any

import schemathesis

#: The fields of ``procedures.errors.error_body`` and the types they may hold.
ERROR_FIELDS: dict[str, tuple[type, ...]] = {"type": (str,), "code": (str,), "message": (str,),
                                             "param": (str, type(None))}


def shape_problem(status: int, content: bytes) -> str | None:
    """Why a 4xx body is not ``{"error": {"type", "code", "message", "param"}}`` (None when it is)."""
    if not 400 <= status < 500:
        return None
    try:
        body: Any = json.loads(content)
    except ValueError:
        return f"a {status} answer is not JSON: {content[:200]!r}"
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or set(body) != {"error"}:
        return f"a {status} answer is not {{'error': {{...}}}}: {body!r:.300}"
    if set(error) != set(ERROR_FIELDS):
        return f"a {status} error has the fields {sorted(error)}, not {sorted(ERROR_FIELDS)}"
    wrong = [name for name, types in ERROR_FIELDS.items() if not isinstance(error[name], types)]
    if wrong or not error["code"] or not error["message"]:
        return f"a {status} error has empty or mistyped fields {wrong or ['code/message']}: {error!r:.300}"
    return None


def open311_shape_problem(status: int, content: bytes) -> str | None:
    """Why a 4xx body of an Open311 route is not GeoReport's ``[{"code", "description"}]`` (None when it is)."""
    if not 400 <= status < 500:
        return None
    try:
        body: Any = json.loads(content)
    except ValueError:
        return f"a {status} answer is not JSON: {content[:200]!r}"
    if (not isinstance(body, list) or len(body) != 1 or not isinstance(body[0], dict)
            or set(body[0]) != {"code", "description"} or body[0]["code"] != status
            or not isinstance(body[0]["description"], str) or not body[0]["description"]):
        return f"a {status} answer of an Open311 route is not [{{'code', 'description'}}]: {body!r:.300}"
    return None


@schemathesis.check
def standard_error_shape(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every 4xx answer carries the service's one error shape (GeoReport's on the Open311 routes)."""
    if str(getattr(case, "path", "")).startswith("/open311/"):
        problem = open311_shape_problem(response.status_code, response.content)
    else:
        problem = shape_problem(response.status_code, response.content)
    if problem is not None:
        raise AssertionError(problem)
    return None
