"""Open311 GeoReport v2 under ``/open311/v2``: services, requests (list, file, one), tokens, released photos.

Reads are public; a POST needs an ``api_key`` the city issued to the app, or a resident's token (the
report is then marked verified when the wallet is linked to a card). Every error on these routes is
GeoReport's list ``[{"code": 400, "description": "…"}]`` (``open311_error``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, Security
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException

from procedures import ratelimit
from procedures.applications import service as applications
from procedures.auth.deps import current_principal
from procedures.civic import keys, reports
from procedures.civic.reports import Photo, PublicFilter, Reporter
from procedures.civic.schemas import (
    OPEN311_ERRORS,
    PostedOut,
    RequestOut,
    ServiceDefinitionOut,
    ServiceOut,
    TokenOut,
)
from procedures.civic.services import UnknownService, civic_procedure, civic_procedures, definition, service_entry
from procedures.deps import RuntimeDep, SessionDep, SettingsDep
from procedures.errors import InvalidRequest, NotAuthenticated

PREFIX = "/open311/v2"
router = APIRouter(prefix=PREFIX, tags=["open311"], responses=OPEN311_ERRORS)
_bearer = HTTPBearer(auto_error=False, description="optional: a resident's access token (a verified report)")
#: Most files and fields one POST may carry (the catalog's ``attachments.max`` bounds the photos again).
MAX_FILES, MAX_FIELDS = 5, 64

#: The largest POST body: the photos of the most generous civic procedure (3 × 5 MB) and the fields.
MAX_POST_BYTES = 16 * 1024 * 1024
BODIES = re.compile(r"^/open311/v2/requests\.json$")
#: Every Open311 route (the request guard answers their refusals in GeoReport's error shape).
ALL = re.compile(r"^/open311/")
NOTICE_LISTED = {"ja": "通報を受け付けました。", "en": "Thank you: the report was received."}
NOTICE_REVIEW = {"ja": "通報を受け付けました。市が確認してから公開されます。",
                 "en": "Thank you: the report is public once the city has reviewed it."}

LangQuery = Annotated[str, Query(pattern="^(ja|en)$", description="language of names and notes")]


def open311_shape(status: int, code: str, message: str) -> list[dict[str, object]]:
    """GeoReport v2's error body (a 422 of this service is the spec's 400)."""
    return [{"code": 400 if status == 422 else status, "description": f"{message} ({code})"}]


def open311_error(request: Request, status: int, code: str, message: str) -> Response | None:
    """The app's error renderer for the Open311 routes (``register_exception_handlers(pages=…)``)."""
    if not request.url.path.startswith(PREFIX + "/"):
        return None
    return JSONResponse(open311_shape(status, code, message), 400 if status == 422 else status)


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


@router.get("/services.json", response_model=list[ServiceOut])
def list_services(runtime: RuntimeDep, lang: LangQuery = "ja") -> list[dict[str, object]]:
    """The civic procedures as Open311 services."""
    catalog = applications.catalog(runtime)
    return [service_entry(p, lang) for p in civic_procedures(catalog, runtime.settings)]


@router.get("/services/{service_code}.json", response_model=ServiceDefinitionOut)
def service_definition(service_code: str, runtime: RuntimeDep, lang: LangQuery = "ja") -> dict[str, object]:
    """A service's attributes, from its procedure's form."""
    return definition(civic_procedure(applications.catalog(runtime), runtime.settings, service_code), lang)


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in (value or "").split(",") if v.strip())


@router.get("/requests.json", response_model=list[RequestOut])
def list_requests(
    request: Request, session: SessionDep, runtime: RuntimeDep,
    service_request_id: Annotated[str | None, Query(max_length=2000)] = None,
    service_code: Annotated[str | None, Query(max_length=500)] = None,
    start_date: datetime | None = None, end_date: datetime | None = None,
    status: Annotated[str | None, Query(max_length=20)] = None, lang: LangQuery = "ja",
) -> list[dict[str, object]]:
    """Public service requests, newest first (GeoReport's filters; the last 90 days by default)."""
    clock = runtime.settings.clock
    filters = PublicFilter(ids=_split(service_request_id), service_codes=_split(service_code),
                           start=clock.aware(start_date), end=clock.aware(end_date), statuses=_split(status))
    catalog = applications.catalog(runtime)
    base = _base_url(request)
    return [reports.public_json(r, catalog.find(r.service_code), lang, base, clock)
            for r in reports.public_reports(session, filters)]


@router.get("/requests/{service_request_id}.json", response_model=list[RequestOut])
def get_request(service_request_id: str, request: Request, session: SessionDep, runtime: RuntimeDep,
                lang: LangQuery = "ja") -> list[dict[str, object]]:
    """One public service request (a list of one, as the spec has it)."""
    report = reports.public_report(session, service_request_id)
    procedure = applications.catalog(runtime).find(report.service_code)
    return [reports.public_json(report, procedure, lang, _base_url(request), runtime.settings.clock)]


@router.get("/requests/{service_request_id}/media", response_class=Response,
            responses={200: {"content": {"image/png": {}, "image/jpeg": {}}}})
def get_media(service_request_id: str, session: SessionDep, runtime: RuntimeDep) -> Response:
    """The request's photo, once a clerk checked it for faces and plates."""
    content_type, data = reports.public_photo(session, runtime, reports.public_report(session, service_request_id))
    return Response(data, media_type=content_type, headers={"Cache-Control": "public, max-age=300"})


@router.get("/tokens/{token}.json", response_model=list[TokenOut])
def get_token(token: str, session: SessionDep) -> list[dict[str, object]]:
    """The request id behind a POST's token (``null`` until the request is public)."""
    report = reports.by_token(session, token)
    return [{"token": report.token, "service_request_id": report.id if report.listed else None}]


@dataclass
class Open311Post:
    """A POST's form, read once: GeoReport fields, ``attribute[...]`` values, uploaded photos."""

    fields: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, str] = field(default_factory=dict)
    photos: list[Photo] = field(default_factory=list)


async def read_post(request: Request) -> Open311Post:
    """The POST body (``application/x-www-form-urlencoded`` or ``multipart/form-data`` with ``media``).

    Raises:
        InvalidRequest: a malformed body, too many parts, a repeated field, a photo under another name.
    """
    try:
        form = await request.form(max_files=MAX_FILES, max_fields=MAX_FIELDS)
    except MultiPartException as exc:
        raise InvalidRequest(f"the form cannot be read: {exc.message}", code="invalid_form") from None
    post = Open311Post()
    for name, value in form.multi_items():
        if isinstance(value, UploadFile):
            if name != "media":
                raise InvalidRequest(f"files go in the field 'media', not {name!r}", code="invalid_form", param=name)
            post.photos.append(Photo(value.filename or "", value.content_type or "", await value.read()))
            continue
        target = post.fields
        if name.startswith("attribute[") and name.endswith("]"):
            target, name = post.attributes, name[len("attribute["):-1]
        if name in target:
            raise InvalidRequest(f"{name} is given twice", code="invalid_form", param=name)
        target[name] = value
    return post


def _resident_wallet(request: Request, session: SessionDep, settings: SettingsDep,
                     credentials: HTTPAuthorizationCredentials | None) -> str | None:
    if credentials is None:
        return None
    principal = current_principal(request, session, settings, credentials)
    return principal.wallet if principal.role == "resident" else None


@router.post("/requests.json", response_model=list[PostedOut], status_code=201)
def post_request(
    request: Request, session: SessionDep, runtime: RuntimeDep,
    post: Annotated[Open311Post, Depends(read_post)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    lang: LangQuery = "ja",
) -> list[dict[str, object]]:
    """File a report (GeoReport v2 fields; photos as ``media`` parts of a multipart body).

    Nothing is stored unless the whole report is valid; reports of unlinked callers are public only
    after a clerk reviewed them (until then the answer carries only a token).
    """
    settings = runtime.settings
    try:
        wallet = _resident_wallet(request, session, settings, credentials)
    except NotAuthenticated:
        wallet = None  # an expired token files like an app without one: the api_key decides
    api_key = post.fields.pop("api_key", None)
    key = keys.resolve_key(session, settings, api_key) if api_key else None
    if key is None and wallet is None:
        raise keys.InvalidApiKey()
    client = request.client.host if request.client else "unknown"
    ratelimit.limit_for("open311.requests", client, settings.civic_posts_per_minute_per_address)
    if key is not None:
        ratelimit.limit_for("open311.key", key.id, settings.civic_posts_per_minute_per_key)
    service_code = post.fields.pop("service_code", "")
    media_url = post.fields.pop("media_url", None) or None
    contact = {name: post.fields.pop(name) for name in reports.CONTACT_FIELDS if name in post.fields}
    for name in ("jurisdiction_id", "address_id"):
        post.fields.pop(name, None)
    unknown = sorted(set(post.fields) - {"lat", "long", "address_string", "description"})
    if unknown:
        raise InvalidRequest(f"unknown field {unknown[0]}", code="invalid_form", param=unknown[0])
    try:
        report = reports.file_report(
            session, runtime, service_code=service_code, fields=post.fields, attributes=post.attributes,
            photos=post.photos, media_url=media_url,
            reporter=Reporter(wallet=wallet, api_key_id=key.id if key else None, contact=contact))
    except UnknownService as exc:
        raise InvalidRequest(exc.message, code=exc.code, param="service_code") from None
    notice = (NOTICE_LISTED if report.listed else NOTICE_REVIEW)[lang]
    return [{"service_request_id": report.id if report.listed else None, "token": report.token,
             "service_notice": notice, "account_id": None}]


