"""Strict request bodies: no bool-as-int or numeric strings (the field is named), bad JSON says
what and where, a non-JSON body on a JSON route is a 415, control characters are refused."""

from __future__ import annotations

from typing import get_args, get_type_hints

import pytest
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel

from procedures.app import create_app
from procedures.schemas import RequestModel

LOGIN = "/v1/auth/staff/token"


def _error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"type", "code", "message", "param"}
    assert body["error"]["code"] == code, body
    return body["error"]


def _body_models(model: type[BaseModel]) -> set[type[BaseModel]]:
    """``model`` and every model nested in its fields."""
    found = {model}
    for field in model.model_fields.values():
        for arg in (field.annotation, *getattr(field.annotation, "__args__", ())):
            for inner in (arg, *getattr(arg, "__args__", ())):
                if isinstance(inner, type) and issubclass(inner, BaseModel) and inner not in found:
                    found |= _body_models(inner)
    return found


def test_every_request_body_of_the_api_is_a_strict_request_model(settings, runtime):
    app = create_app(settings, runtime=runtime, workers=False)
    models: set[type[BaseModel]] = set()
    for route in iter_route_contexts(app.routes):
        if route.endpoint is None or not route.path.startswith("/v1/"):
            continue
        for name, annotation in get_type_hints(route.endpoint, include_extras=True).items():
            if name == "return":
                continue
            for arg in (annotation, *get_args(annotation)):
                for inner in (arg, *get_args(arg)):
                    if isinstance(inner, type) and issubclass(inner, BaseModel):
                        models |= _body_models(inner)
    assert len(models) > 20
    lax = sorted(m.__qualname__ for m in models if not issubclass(m, RequestModel))
    assert lax == [], f"request models not derived from procedures.schemas.RequestModel: {lax}"


@pytest.mark.parametrize(("field", "value"), [("amount", True), ("amount", "100"), ("amount", 100.0),
                                              ("reference", 12)])
def test_a_top_up_takes_no_bool_or_numeric_string_for_a_number(client, operator, field, value):
    body = {"wallet": "0x" + "ab" * 20, "amount": 1000, "channel": "counter", "reference": "R-1", field: value}
    error = _error(client.post("/v1/admin/topups", headers=operator, json=body), 422, "invalid_parameter")
    assert error["param"] == field and error["message"].startswith(f"{field}: ")


def test_bad_json_says_what_is_wrong_and_at_which_line_and_column(client):
    broken = b'{\n  "username": "clerk",\n  "password": \n}'
    error = _error(client.post(LOGIN, content=broken, headers={"Content-Type": "application/json"}),
                   400, "invalid_json")
    assert error["message"] == "the body is not valid JSON: Expecting value at line 4, column 1"
    assert error["param"] is None


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x"])
def test_a_json_route_refuses_other_media_types_with_415(client, content_type):
    error = _error(client.post(LOGIN, content=b'{"username": "a", "password": "b"}',
                               headers={"Content-Type": content_type}), 415, "unsupported_media_type")
    assert "application/json" in error["message"]


def test_the_console_still_takes_its_forms(client):
    response = client.post("/console/login", data={"username": "nobody", "password": "x"})
    assert response.status_code != 415


@pytest.mark.parametrize("char", ["\x01", "\x1b", "\x7f", "\x85"])
def test_control_characters_in_a_text_field_are_refused_naming_the_field(client, char):
    error = _error(client.post(LOGIN, json={"username": f"clerk{char}", "password": "pw"}),
                   422, "control_character")
    assert error["param"] == "username"
    assert f"U+{ord(char):04X}" in error["message"]


def test_control_characters_are_found_in_nested_fields_and_keys(client, operator):
    body = {"business_name": "店", "bank_account": {"bank_code": "0146", "branch_code": "101",
            "account_type": "ordinary", "account_number": "1234567", "holder_name_kana": "ｶ\x07",
            "bank_name_kana": "ﾎｯｺｸ", "branch_name_kana": "ﾀﾞｲｼｮｳｼﾞ"}}
    error = _error(client.post("/v1/admin/merchants", headers=operator, json=body), 422, "control_character")
    assert error["param"] == "bank_account.holder_name_kana"


def test_tabs_and_newlines_stay_allowed(client):
    response = client.post(LOGIN, json={"username": "nobody", "password": "a\tb\nc\r"})
    assert response.status_code == 401, response.text
