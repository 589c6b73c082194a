"""The service skeleton: health, error shape, metrics, settings."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from chain.node import free_port
from chain.roles import KEY_ROLES
from procedures.app import create_app
from procedures.config import DEV_RELAYER_KEY, Settings
from procedures.runtime import Runtime
from tests.procedures.conftest import MONITORING


def test_healthz_reports_database_chain_and_contracts(client, runtime, w3):
    response = client.get("/healthz", headers=MONITORING)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True
    assert body["chain"]["chain_id"] == w3.eth.chain_id
    assert body["chain"]["block_number"] >= 3
    deployed = body["contracts"]["deployed"]
    assert set(deployed) == {"IdentityRegistry", "RegionalCoin", "ProcedureLedger", "OfflineReserve"}
    assert all(c["code_present"] for c in deployed.values())
    assert len(body["workers"]["relayers"]) == len(KEY_ROLES)  # one sender per service key


def test_healthz_is_503_when_the_chain_is_down(settings, engine, sessions):
    down = settings.model_copy(update={"rpc_url": f"http://127.0.0.1:{free_port()}"})
    with TestClient(create_app(down, runtime=Runtime.create(down, engine=engine), workers=False)) as client:
        response = client.get("/healthz", headers=MONITORING)
    assert response.status_code == 503
    assert response.json()["chain"]["ok"] is False


def test_errors_have_one_shape(client):
    response = client.get("/no-such-thing")
    assert response.status_code == 404
    assert response.json() == {
        "error": {"type": "not_found_error", "code": "not_found", "message": "Not Found", "param": None}
    }
    response = client.post("/healthz")
    assert response.status_code == 405
    assert set(response.json()["error"]) == {"type", "code", "message", "param"}


def test_metrics_expose_latency_and_outbox_depth(client):
    client.get("/healthz")
    text = client.get("/metrics", headers=MONITORING).text
    assert 'machi_http_request_duration_seconds_count{method="GET",route="/healthz",status="200"}' in text
    assert 'machi_outbox_depth{status="queued"}' in text
    assert "machi_relayer_confirmation_seconds_bucket" in text


def test_openapi_docs_are_served(client):
    assert client.get("/openapi.json").json()["info"]["title"] == "Machi Ledger"
    assert client.get("/docs").status_code == 200


def test_production_refuses_placeholder_secrets(monkeypatch):
    with pytest.raises(ValidationError) as info:
        Settings(environment="production", relayer_key=DEV_RELAYER_KEY, secret_key="changeme")
    message = str(info.value)
    assert "MACHI_RELAYER_KEY" in message and "MACHI_SECRET_KEY" in message and "MACHI_RPC_URL" in message


def test_database_url_is_read_unprefixed(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@h:5432/db")
    assert Settings().effective_database_url == "postgresql+psycopg://u@h:5432/db"
