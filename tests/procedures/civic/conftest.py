"""Fixtures for civic reports: the e-applications' staff and fast anchoring, Open311 keys, form posts."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from procedures.civic import keys
from tests.procedures.applications.conftest import (  # noqa: F401 - fixtures
    PNG,
    coin,
    filer,
    make_staff,
    treasury,
)
from tests.procedures.applications.conftest import settings as application_settings  # noqa: F401 - fixture

#: A pothole in front of Daishoji station and a snowed-in road in Yamanaka (inside Kaga's outline).
DAISHOJI = (36.3027, 136.3146)
YAMANAKA = (36.2466, 136.3760)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + os.urandom(64)


@pytest.fixture
def settings(application_settings):  # noqa: F811 - the imported fixture is this one's base
    """The e-applications' test settings; the adopter passes once at start-up (the tests run it themselves)."""
    return application_settings.model_copy(update={"civic_adopt_interval": 3600.0})


@pytest.fixture
def api_key(runtime) -> str:
    """A live Open311 API key (issued as the operator would)."""
    with runtime.sessions() as session, session.begin():
        _, secret = keys.issue_key(session, runtime.settings, name="まちレポ (test)", created_by="test")
    return secret


def pothole(api_key: str | None, **extra: str) -> dict[str, str]:
    """GeoReport v2 form fields of a road-damage report."""
    fields = {"service_code": "road-damage", "lat": str(DAISHOJI[0]), "long": str(DAISHOJI[1]),
              "address_string": "大聖寺駅前 交差点", "description": "深さ10cmほどの穴があります",
              "attribute[service_code]": "pothole", "attribute[hazard]": "true"}
    if api_key is not None:
        fields["api_key"] = api_key
    return fields | extra


@pytest.fixture
def post_report(client: TestClient) -> Callable[..., Any]:
    """POST /open311/v2/requests.json as a form (multipart when photos ``(name, bytes, type)`` are given)."""

    def post(fields: dict[str, str], photos: list[tuple[str, bytes, str]] | None = None,
             headers: dict[str, str] | None = None) -> Any:
        files = [("media", photo) for photo in photos or []]
        return client.post("/open311/v2/requests.json", data=fields, files=files or None, headers=headers or {})

    return post
