"""The request guard: body size, JSON nesting and NUL characters are checked *before* anything parses a request.

One anonymous request used to kill the whole service: 100,000 nested ``[`` overflowed the C stack
of the JSON parser (py_ecc lifts the interpreter's recursion limit to 100,000 at import time, so
the parser's own guard never tripped). ``chain`` puts the recursion limit back; this middleware
refuses such bodies with the one error shape long before a parser sees them:

- ``413 payload_too_large`` when the body (declared or streamed) exceeds its route's limit — the
  rest of the body is never read;
- ``400 json_too_deep`` when a JSON body nests arrays/objects deeper than ``MAX_JSON_DEPTH``;
- ``415 unsupported_media_type`` when a JSON route (``json_paths``) gets a body declared as
  anything but JSON (``text/plain``, a form): FastAPI would hand the raw bytes to the model and
  answer a puzzling 422;
- ``400 nul_character`` when the URL (``%00``) or a JSON string (``\\u0000``) carries a NUL
  character: no field of the service holds one, and PostgreSQL cannot compare or store one in text
  (``GET /v1/admin/topups?wallet=%00`` was a 500).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from procedures.errors import error_body

#: Deepest nesting a request body may have. The deepest legitimate body (an application form
#: with a list of objects inside an object) is under 10 levels.
MAX_JSON_DEPTH = 32

#: JSON strings (escapes included), replaced by ``""`` before counting brackets.
_STRINGS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKETS = b"[]{}"
_NOT_BRACKETS = bytes(b for b in range(256) if b not in _BRACKETS)
_OPEN = frozenset(b"[{")
#: ``\u0000`` in a JSON body — but not ``\\u0000``, an escaped backslash followed by the text ``u0000``.
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


#: An error body of another shape for the routes of a rule: ``shape(status, code, message)`` (Open311's list).
ErrorShape = Callable[[int, str, str], Any]


@dataclass(frozen=True)
class BodyLimit:
    """The largest body a group of routes accepts: ``pattern`` matched against the path; ``shape``, when
    set, writes the refusals of these routes in their own error format."""

    pattern: re.Pattern[str]
    max_bytes: int
    shape: ErrorShape | None = None


def json_depth(body: bytes, stop_after: int = MAX_JSON_DEPTH) -> int:
    """How deeply ``body`` nests arrays and objects (brackets inside strings do not count).

    Counting stops once the depth passes ``stop_after``: a hostile body costs no more than a
    legitimate one.
    """
    brackets = _STRINGS.sub(b'""', body).translate(None, _NOT_BRACKETS)
    depth = deepest = 0
    for char in brackets:
        if char in _OPEN:
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > stop_after:
                    break
        else:
            depth -= 1
    return deepest


def _media_type(scope: Scope) -> bytes | None:
    """The request's media type (``application/json``), lower case, or ``None`` when undeclared."""
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            media: bytes = value.split(b";", 1)[0].strip().lower()
            return media
    return None


def _is_json(scope: Scope) -> bool:
    """Bodies FastAPI would parse as JSON: a JSON media type, or none at all."""
    media = _media_type(scope)
    return media is None or media == b"application/json" or (media.startswith(b"application/")
                                                              and media.endswith(b"+json"))


class RequestGuard:
    """ASGI middleware: bound the body of every request before the application reads it."""

    def __init__(self, app: ASGIApp, *, default_max_bytes: int, limits: Sequence[BodyLimit] = (),
                 json_paths: re.Pattern[str] | None = None) -> None:
        """
        Args:
            default_max_bytes: the body limit of routes no ``limits`` rule matches.
            limits: per-route body limits, the first match wins.
            json_paths: the routes that take only JSON bodies (others, e.g. the console's forms, any).
        """
        self.app = app
        self.default_max_bytes = default_max_bytes
        self.limits = tuple(limits)
        self.json_paths = json_paths

    def rule(self, path: str) -> BodyLimit | None:
        """The first rule matching ``path``."""
        return next((limit for limit in self.limits if limit.pattern.match(path)), None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rule = self.rule(scope["path"])
        shape = rule.shape if rule is not None else None
        if _url_has_nul(scope):
            await _refuse(send, shape, 400, "nul_character", "the URL may not contain NUL characters (%00)")
            return
        if scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        limit = rule.max_bytes if rule is not None else self.default_max_bytes
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(send, shape, 413, "payload_too_large", f"the request body may be at most {limit} bytes")
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _refuse(send, shape, 413, "payload_too_large", f"the request body may be at most {limit} bytes")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body and not _is_json(scope) and self.json_paths is not None and self.json_paths.match(scope["path"]):
            media = (_media_type(scope) or b"").decode("latin-1")
            await _refuse(send, shape, 415, "unsupported_media_type",
                          f"this endpoint takes a JSON body (Content-Type: application/json), not {media}")
            return
        if body and _is_json(scope) and json_depth(body) > MAX_JSON_DEPTH:
            await _refuse(send, shape, 400, "json_too_deep",
                          f"the JSON body nests arrays and objects more than {MAX_JSON_DEPTH} levels deep")
            return
        if body and _is_json(scope) and _JSON_NUL.search(body):
            await _refuse(send, shape, 400, "nul_character", "JSON strings may not contain NUL characters (\\u0000)")
            return
        await self.app(scope, _replay(body, receive), send)


def _url_has_nul(scope: Scope) -> bool:
    raw = bytes(scope.get("raw_path") or scope["path"].encode()) + b"?" + bytes(scope.get("query_string", b""))
    return b"%00" in raw or b"\x00" in raw


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the buffered body over once, then waits for the real disconnect."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _refuse(send: Send, shape: ErrorShape | None, status: int, code: str, message: str) -> None:
    body = shape(status, code, message) if shape is not None else error_body("invalid_request_error", code, message)
    payload = json.dumps(body).encode()
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
                    (b"connection", b"close")],
    })
    await send({"type": "http.response.body", "body": payload})
