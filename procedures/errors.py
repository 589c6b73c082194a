"""Service exceptions and their one HTTP mapping.

Every error leaves the API as ``{"error": {"type", "code", "message", "param"}}`` with an honest
status code; messages are built in the exception classes, not at each raise.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from chain.errors import ChainError, ContractLogicError, MachiError
from chain.rpc import UNREACHABLE_ERRORS, is_unreachable
from protocol.errors import (
    CardError,
    CardLocked,
    InvalidAddress,
    InvalidPinFormat,
    NonceReused,
    ProtocolError,
    SignatureError,
    WrongPin,
)

log = logging.getLogger("machi.api")


class ServiceError(MachiError):
    """Root of the errors a request can end in. Subclasses set status, type and code."""

    status = 400
    type = "invalid_request_error"
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, param: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.param = param
        self.headers = headers or {}


class InvalidRequest(ServiceError):
    """The request is malformed or a value is out of range."""

    status = 422
    code = "invalid_parameter"


class NotAuthenticated(ServiceError):
    """No or bad credentials."""

    status = 401
    type = "authentication_error"
    code = "not_authenticated"


class PermissionDenied(ServiceError):
    """Authenticated, but this role may not do this."""

    status = 403
    type = "permission_error"
    code = "forbidden"


class NotFound(ServiceError):
    """No such resource (or not visible to the caller)."""

    status = 404
    type = "not_found_error"
    code = "not_found"


class Conflict(ServiceError):
    """The request conflicts with the resource's state (or an idempotency key's first use)."""

    status = 409
    type = "conflict_error"
    code = "conflict"


class RateLimited(ServiceError):
    """Too many requests; ``Retry-After`` says when to come back."""

    status = 429
    type = "rate_limit_error"
    code = "rate_limited"


class Unavailable(ServiceError):
    """A dependency (the chain, the database) is down; retry later."""

    status = 503
    type = "api_error"
    code = "service_unavailable"


#: Renders an error as an HTML page (the console): ``fn(request, status, code, message)`` returns a
#: response for requests it owns, else None (then the JSON error shape is used).
HtmlRenderer = Callable[[Request, int, str, str], Response | None]


class ErrorDetail(BaseModel):
    """What went wrong: ``type`` groups errors, ``code`` names this one, ``param`` points at the field."""

    type: str
    code: str
    message: str
    param: str | None = None


class ErrorResponse(BaseModel):
    """The one error shape of every endpoint."""

    error: ErrorDetail


#: The error answers any API route may give, for OpenAPI (``include_router(..., responses=API_ERRORS)``).
API_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in (
        (400, "Malformed request"),
        (401, "Not authenticated"),
        (403, "Not allowed (role, scope, CSRF)"),
        (404, "Not found (or not yours)"),
        (409, "Conflict with the current state"),
        (413, "Request too large"),
        (415, "Not a JSON body"),
        (422, "Invalid parameters (``param`` names the field)"),
        (429, "Too many requests (``Retry-After``)"),
        (503, "Temporarily unavailable: database busy or chain unreachable (``Retry-After``)"),
    )
}


def error_body(type_: str, code: str, message: str, param: str | None = None) -> dict[str, Any]:
    """The one error shape."""
    return {"error": {"type": type_, "code": code, "message": message, "param": param}}


_HTTP_CODES = {
    400: ("invalid_request_error", "bad_request"),
    401: ("authentication_error", "not_authenticated"),
    403: ("permission_error", "forbidden"),
    404: ("not_found_error", "not_found"),
    405: ("invalid_request_error", "method_not_allowed"),
    409: ("conflict_error", "conflict"),
    413: ("invalid_request_error", "payload_too_large"),
    415: ("invalid_request_error", "unsupported_media_type"),
    429: ("rate_limit_error", "rate_limited"),
}


#: The HTTP status of each error of the shared protocol (which knows nothing of HTTP); the most specific
#: class listed wins, the type follows from the status.
PROTOCOL_STATUS: dict[type[ProtocolError], int] = {
    ProtocolError: 400,
    NonceReused: 409,
    SignatureError: 401,
    InvalidAddress: 422,
    CardError: 502,
    WrongPin: 401,
    CardLocked: 423,
    InvalidPinFormat: 400,
}


def protocol_answer(exc: ProtocolError) -> tuple[int, str]:
    """``(status, type)`` of a protocol error's HTTP answer."""
    status = next(PROTOCOL_STATUS[cls] for cls in type(exc).__mro__ if cls in PROTOCOL_STATUS)
    fallback = "api_error" if status >= 500 else "invalid_request_error"
    return status, _HTTP_CODES.get(status, (fallback, ""))[0]


#: Seconds a client should wait before retrying a request the chain could not serve.
CHAIN_RETRY_AFTER = "5"


#: Seconds between two warnings about an unreachable chain (each request in an outage would log one).
CHAIN_WARNING_EVERY_S = 60.0
_last_chain_warning = [float("-inf")]


def _chain_unavailable(request: Request, exc: BaseException, as_html: HtmlRenderer) -> Response:
    """503 ``chain_unavailable`` with ``Retry-After``: the node did not answer (refused, reset, timed out)."""
    now = time.monotonic()
    if now - _last_chain_warning[0] >= CHAIN_WARNING_EVERY_S:
        _last_chain_warning[0] = now
        log.warning("chain unreachable on %s %s (%s); answering 503 until it is back (logged once a minute)",
                    request.method, request.url.path, type(exc).__name__)
    else:
        log.debug("chain unreachable on %s %s: %s", request.method, request.url.path, type(exc).__name__)
    message = "the chain node is not reachable; retry shortly"
    html = as_html(request, 503, "chain_unavailable", message)
    if html is not None:
        return html
    return JSONResponse(error_body("api_error", "chain_unavailable", message), 503,
                        headers={"Retry-After": CHAIN_RETRY_AFTER})


def _json_error(error: Any, document: Any) -> str:
    """What is wrong with a body that is not JSON, and where: ``Expecting value at line 1, column 13``
    (FastAPI reports the parser's character offset as the location)."""
    reason = str((error.get("ctx") or {}).get("error") or "malformed JSON")
    loc = error.get("loc") or ()
    offset = loc[-1] if loc and isinstance(loc[-1], int) else None
    if offset is None or not isinstance(document, str | bytes):
        return f"the body is not valid JSON: {reason}"
    text = document.decode("utf-8", "replace") if isinstance(document, bytes) else document
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return f"the body is not valid JSON: {reason} at line {line}, column {column}"


def register_exception_handlers(app: FastAPI, pages: Sequence[HtmlRenderer] = ()) -> None:
    """Map every exception to the error shape in one place.

    Args:
        pages: renderers of HTML error pages for the requests they own (the console's).
    """

    def as_html(request: Request, status: int, code: str, message: str) -> Response | None:
        for render in pages:
            response = render(request, status, code, message)
            if response is not None:
                return response
        return None

    @app.exception_handler(ServiceError)
    async def _service(request: Request, exc: ServiceError) -> Response:
        html = as_html(request, exc.status, exc.code, exc.message)
        if html is not None:
            html.headers.update(exc.headers)  # e.g. Retry-After on a 429 page
            return html
        return JSONResponse(error_body(exc.type, exc.code, exc.message, exc.param), exc.status, headers=exc.headers)

    @app.exception_handler(ProtocolError)
    async def _protocol(request: Request, exc: ProtocolError) -> Response:
        status, type_ = protocol_answer(exc)
        html = as_html(request, status, exc.code, exc.message)
        if html is not None:
            return html
        return JSONResponse(error_body(type_, exc.code, exc.message), status)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        first = errors[0] if errors else {}
        if first.get("type") == "json_invalid":
            message = _json_error(first, exc.body)
            html = as_html(request, 400, "invalid_json", message)
            if html is not None:
                return html
            return JSONResponse(error_body("invalid_request_error", "invalid_json", message), 400)
        loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "header")]
        param = ".".join(loc) or None
        message = str(first.get("msg", "invalid request"))
        if param:
            message = f"{param}: {message}"
        html = as_html(request, 422, "invalid_parameter", message)
        if html is not None:
            return html
        return JSONResponse(error_body("invalid_request_error", "invalid_parameter", message, param), 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        type_, code = _HTTP_CODES.get(exc.status_code, ("api_error", "http_error"))
        html = as_html(request, exc.status_code, code, str(exc.detail))
        if html is not None:
            return html
        return JSONResponse(
            error_body(type_, code, str(exc.detail)), exc.status_code, headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(ContractLogicError)
    async def _revert(_: Request, exc: ContractLogicError) -> JSONResponse:
        return JSONResponse(error_body("conflict_error", "contract_reverted", str(exc)), 409)

    async def _node(request: Request, exc: Exception) -> Response:
        return _chain_unavailable(request, exc, as_html)

    for unreachable in UNREACHABLE_ERRORS:  # the transport failures chain.rpc.is_unreachable knows
        app.add_exception_handler(unreachable, _node)

    @app.exception_handler(ChainError)
    async def _chain(_: Request, exc: ChainError) -> JSONResponse:
        return JSONResponse(error_body("api_error", exc.code, str(exc)), 503,
                            headers={"Retry-After": CHAIN_RETRY_AFTER})

    @app.exception_handler(OperationalError)
    @app.exception_handler(PoolTimeout)
    async def _database(request: Request, exc: Exception) -> Response:
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, type(exc).__name__)
        html = as_html(request, 503, "database_unavailable", "the database is busy; retry shortly")
        if html is not None:
            return html
        return JSONResponse(error_body("api_error", "database_unavailable", "the database is busy or unreachable; "
                                       "retry shortly"), 503, headers={"Retry-After": "2"})

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        if is_unreachable(exc):  # a transport failure wrapped in another error on its way up
            return _chain_unavailable(request, exc, as_html)
        incident = uuid.uuid4().hex[:12]
        log.exception("unhandled error %s on %s %s", incident, request.method, request.url.path)
        html = as_html(request, 500, "internal_error", f"something went wrong on our side (incident {incident})")
        if html is not None:
            return html
        return JSONResponse(
            error_body("api_error", "internal_error", f"something went wrong on our side (incident {incident})"), 500
        )
