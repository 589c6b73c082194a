"""Operational endpoints: anonymous /healthz says up or down only; the details and /metrics need the
monitoring token or an admin; stored error texts carry no credentials."""

from __future__ import annotations

import requests
from fastapi.testclient import TestClient

from chain.node import free_port
from procedures.app import create_app
from procedures.auth.service import create_staff
from procedures.runtime import Runtime
from tests.procedures.conftest import MONITORING, wait_until

RPC_KEY = "0123456789abcdefSECRET0123456789"


def _error_shape(response, status: int) -> None:
    assert response.status_code == status, response.text
    assert set(response.json()["error"]) == {"type", "code", "message", "param"}


def test_anonymous_health_says_only_up(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_details_for_the_metrics_token_and_admins_only(client, runtime, operator):
    assert "database" in client.get("/healthz", headers=MONITORING).json()
    assert "database" in client.get("/healthz", headers=operator).json()
    with runtime.sessions() as session, session.begin():
        create_staff(session, runtime.vault, username="clerk1", password="clerk password 1", role="clerk",
                     department="road-maintenance")
    clerk = client.post("/v1/auth/staff/token", json={"username": "clerk1", "password": "clerk password 1"})
    clerk_headers = {"Authorization": f"Bearer {clerk.json()['access_token']}"}
    assert client.get("/healthz", headers=clerk_headers).json() == {"status": "ok"}  # up or down, no details
    _error_shape(client.get("/metrics", headers=clerk_headers), 403)
    _error_shape(client.get("/healthz", headers={"Authorization": "Bearer wrong-token"}), 401)


def test_metrics_need_the_token_or_an_admin(client, operator):
    _error_shape(client.get("/metrics"), 401)
    _error_shape(client.get("/metrics", headers={"Authorization": "Bearer not-the-token"}), 401)
    assert "machi_outbox_depth" in client.get("/metrics", headers=MONITORING).text
    assert client.get("/metrics", headers=operator).status_code == 200


def _real_failure(url: str) -> Exception:
    """What the HTTP client raises for ``url`` when nothing listens there (its text names the URL's path)."""
    try:
        requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}, timeout=2)
    except requests.RequestException as exc:
        return exc
    raise AssertionError("something answered on a free port")


def test_a_credential_in_the_rpc_url_never_reaches_the_relayers_last_error(client, runtime):
    failure = _real_failure(f"http://monitor:hunter2pw@127.0.0.1:{free_port()}/v3/{RPC_KEY}")
    assert RPC_KEY in str(failure)  # the raw text would carry the key
    relayers = list(wait_until(lambda: runtime.relayers, what="the relayers"))
    runtime.stop_workers()  # a running loop would clear the error at its next good pass
    relayers[0]._on_failed_pass(failure)  # what the relay loop does with an exception of a pass
    runtime.relayers[:] = relayers  # listed again (stopping cleared them) so /healthz reports them
    health = client.get("/healthz", headers=MONITORING)  # what its monitors see
    assert RPC_KEY not in health.text and "hunter2pw" not in health.text
    [shown] = [r["last_error"] for r in health.json()["workers"]["relayers"] if r["sender"] == relayers[0].sender]
    assert shown is not None and shown.startswith("ConnectionError: ")
    assert RPC_KEY not in shown and "hunter2pw" not in shown and "/v3/***" in shown


def test_anonymous_health_is_503_down_when_the_chain_is(settings, engine, sessions):
    down = settings.model_copy(update={"rpc_url": f"http://127.0.0.1:{free_port()}"})
    with TestClient(create_app(down, runtime=Runtime.create(down, engine=engine), workers=False)) as client:
        anonymous = client.get("/healthz")
    assert anonymous.status_code == 503 and anonymous.json() == {"status": "down"}
