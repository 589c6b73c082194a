"""Request and response models of civic reports: GeoReport v2's objects, the clerks' and operator's bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from procedures.civic.models import CivicReport, Open311Key
from procedures.schemas import RequestModel, from_row


class Open311Error(BaseModel):
    """GeoReport v2's error: the answer is a list of these."""

    code: int
    description: str


#: The error answers of the Open311 routes, for OpenAPI.
OPEN311_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": list[Open311Error], "description": description}
    for status, description in (
        (400, "Bad request (a missing or invalid field; the description names it)"),
        (403, "api_key missing or invalid"),
        (404, "No such service, request or token"),
        (413, "Upload too large"),
        (429, "Too many reports from this address or key (Retry-After)"),
        (503, "Temporarily unavailable (Retry-After)"),
    )
}


class ServiceOut(BaseModel):
    """One entry of ``services.json``."""

    service_code: str
    service_name: str
    description: str
    metadata: bool
    type: str
    keywords: str
    group: str


class AttributeValue(BaseModel):
    key: str
    name: str


class AttributeOut(BaseModel):
    """An attribute of a service definition."""

    variable: bool
    code: str
    datatype: str
    required: bool
    datatype_description: str | None
    order: int
    description: str
    values: list[AttributeValue] | None = None


class ServiceDefinitionOut(BaseModel):
    """``services/{code}.json``."""

    service_code: str
    attributes: list[AttributeOut]


class RequestOut(BaseModel):
    """A service request as the public sees it (GeoReport v2 fields, then this city's extensions)."""

    service_request_id: str
    status: Literal["open", "closed"]
    status_notes: str
    service_name: str
    service_code: str
    description: str | None
    agency_responsible: str
    service_notice: str | None
    requested_datetime: str
    updated_datetime: str | None
    expected_datetime: str | None
    address: str | None
    address_id: str | None
    zipcode: str | None
    lat: float = Field(description="the centre of the report's grid cell, not its exact point")
    long: float
    media_url: str | None
    detailed_status: str
    resolution: str | None
    district: str
    verified_reporter: bool
    merged_into: str | None
    history_url: str


class PostedOut(BaseModel):
    """What a POST answers: a token until the report is public, then (or at once) its id."""

    service_request_id: str | None
    token: str
    service_notice: str | None
    account_id: str | None = None


class TokenOut(BaseModel):
    """``tokens/{token}.json``."""

    token: str
    service_request_id: str | None


# --------------------------------------------------------------------------- clerks and operator
class ReviewIn(RequestModel):
    """A clerk's review: list the report publicly, release its description (as edited) and photos."""

    model_config = ConfigDict(extra="forbid")

    listed: bool
    description: Annotated[str | None, Field(max_length=1000)] = Field(
        None, description="the description to publish (checked for personal data); null keeps it private")
    photo_public: bool = False


class StatusIn(RequestModel):
    """A status change published to Open311 and /town."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["acknowledged", "in_progress", "closed"]
    resolution: Literal["fixed", "not_actionable"] | None = Field(
        None, description="required when closing: fixed, or not_actionable (with a reason)")
    reason: Annotated[str | None, Field(max_length=2000)] = None


class MergeIn(RequestModel):
    """Merge this report into another one (a duplicate): it follows the other's status from now on."""

    model_config = ConfigDict(extra="forbid")

    into: Annotated[str, Field(min_length=4, max_length=40)]


class ClerkReportOut(BaseModel):
    """A report as its department's clerks see it: the exact point and the sealed description included."""

    id: str
    application_id: str
    service_code: str
    department: str
    source: str
    verified: bool
    listed: bool
    status: str
    resolution: str | None
    merged_into: str | None
    lat: float | None
    long: float | None
    cell_lat: float
    cell_long: float
    district: str
    description: str | None
    public_description: str | None
    photo_public: bool
    photo_count: int
    reward: int
    reward_status: str
    requested_at: datetime
    updated_at: datetime
    closed_at: datetime | None


def clerk_report_out(report: CivicReport, form: dict[str, Any] | None) -> ClerkReportOut:
    """The clerks' view of ``report`` with its opened form (``None`` once erased)."""
    form = form or {}
    return from_row(ClerkReportOut, report, lat=form.get("lat"), long=form.get("long"),
                    description=form.get("description"))


class KeyIn(RequestModel):
    """A new Open311 API key for a third-party app."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=100)]


class KeyOut(BaseModel):
    """An Open311 API key (the secret only once, when issued)."""

    id: str
    name: str
    prefix: str
    created_by: str
    created_at: datetime
    revoked_at: datetime | None
    secret: str | None = None


def key_out(key: Open311Key, secret: str | None = None) -> KeyOut:
    """The key's API object."""
    return from_row(KeyOut, key, secret=secret)
