"""Bodies are bounded before parsing: a 100,000-deep JSON body used to kill `machi serve` with a
segmentation fault (every route), a 20 MB body was parsed before being refused."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator

import httpx
import pytest
from fastapi.routing import iter_route_contexts

from chain import SANE_RECURSION_LIMIT
from chain.deploy import manifest_path, save_manifest
from procedures.api.guard import MAX_JSON_DEPTH, json_depth
from procedures.app import create_app
from scripts.soak_service import ServiceProcess
from tests.procedures.conftest import service_env

DEEP = b"[" * 100_000  # 100 KB; the report used 200 KB of brackets, either kills an unguarded parser


@pytest.fixture
def service(anvil, city, database_url, tmp_path, w3) -> Iterator[ServiceProcess]:
    var = tmp_path / "var"
    save_manifest(city.manifest, manifest_path(var / "deployments", w3.eth.chain_id))
    svc = ServiceProcess(service_env(anvil, database_url, var), tmp_path / "service.log")
    svc.start(healthy=True)
    yield svc
    svc.stop()


def _every_route(settings, runtime) -> list[tuple[str, str]]:
    """(method, concrete path) for every route of the app, path parameters filled with a dummy."""
    app = create_app(settings, runtime=runtime, workers=False)
    routes = []
    for route in iter_route_contexts(app.routes):
        methods = route.methods or {"POST"}  # a mount (static files): POST into it anyway
        path = re.sub(r"\{[^}]+\}", "x1", route.path)
        routes.extend((method, path) for method in sorted(methods) if method != "HEAD")
    return routes


def test_a_100000_deep_body_on_every_route_leaves_the_service_answering(service, settings, runtime):
    routes = _every_route(settings, runtime)
    assert len(routes) > 80  # the whole API and console, not a sample
    with httpx.Client(base_url=service.base, timeout=30) as http:
        for method, path in routes:
            try:
                response = http.request(method, path, content=DEEP, headers={"Content-Type": "application/json"})
            except httpx.HTTPError as exc:  # a dead service answers nothing at all
                pytest.fail(f"{method} {path}: no answer ({type(exc).__name__}); the service died")
            assert response.status_code < 500, f"{method} {path}: {response.status_code} {response.text[:200]}"
            if method in ("POST", "PUT", "PATCH"):
                assert response.status_code == 400, f"{method} {path}: {response.status_code}"
                if path.startswith("/open311/"):  # GeoReport v2's own error shape on its routes
                    assert "(json_too_deep)" in response.json()[0]["description"]
                else:
                    assert response.json()["error"]["code"] == "json_too_deep"
        assert service.proc is not None and service.proc.poll() is None, "the service process exited"
        assert http.get("/healthz").status_code == 200


def test_the_interpreter_keeps_a_sane_recursion_limit():
    import eth_account  # noqa: F401 - imports py_ecc, which used to leave the limit at 100,000

    assert sys.getrecursionlimit() <= 10 * SANE_RECURSION_LIMIT


def test_json_depth_counts_brackets_outside_strings_only():
    assert json_depth(b'{"a": [1, {"b": [2]}]}') == 4
    assert json_depth(b'{"a": "[[[[[[[[[[", "b": "\\"[[[["}') == 1
    assert json_depth(b"[]") == 1
    assert json_depth(b'"just a string"') == 0
    assert json_depth(DEEP) == MAX_JSON_DEPTH + 1  # stops counting once over the limit


def test_oversized_bodies_are_refused_with_413_before_parsing(client):
    big = b'{"username": "' + b"a" * (300 * 1024) + b'", "password": "x"}'
    response = client.post("/v1/auth/staff/token", content=big, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_a_streamed_body_without_length_is_cut_at_the_limit(client, settings):
    def chunks() -> Iterator[bytes]:
        yield b'{"username": "'
        for _ in range(settings.max_body_bytes // 1024 + 2):
            yield b"a" * 1024
        yield b'"}'

    response = client.post("/v1/auth/staff/token", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413


def test_application_submissions_may_carry_attachments_above_the_default_limit(client, settings):
    # Not a valid submission (no login): what matters is that the guard lets the body through to auth.
    body = b'{"procedure": "road-damage", "form": {}, "attachments": [{"name": "a.png", "content_type": ' \
           b'"image/png", "data": "' + b"A" * (settings.max_body_bytes + 10) + b'"}]}'
    response = client.post("/v1/applications", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 401


def test_a_deep_but_legal_body_still_reaches_validation(client):
    body = b'{"username": ' + b"[" * 20 + b"]" * 20 + b', "password": "x"}'
    response = client.post("/v1/auth/staff/token", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["error"]["param"] == "username"


@pytest.mark.parametrize("url", ["/v1/admin/topups?wallet=%06%00", "/v1/refunds/re_%00",
                                 "/v1/payment_requests?order_reference=a%00b"])
def test_a_nul_character_in_the_url_is_refused_before_any_database_sees_it(client, url):
    response = client.get(url)  # PostgreSQL cannot compare text with NUL: this was a 500 (found by the fuzzer)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "nul_character"


def test_a_nul_character_in_a_json_string_is_refused_but_an_escaped_backslash_is_not(client):
    nul = client.post("/v1/auth/staff/token", content=b'{"username": "tanaka\\u0000", "password": "x"}',
                      headers={"Content-Type": "application/json"})
    assert nul.status_code == 400 and nul.json()["error"]["code"] == "nul_character"
    text = client.post("/v1/auth/staff/token", content=b'{"username": "tanaka\\\\u0000", "password": "x"}',
                       headers={"Content-Type": "application/json"})
    assert text.status_code == 401  # the text "\u0000" (an escaped backslash): an unknown user, nothing more
