"""Merchant onboarding, API keys and every auth boundary of the merchant API (real chain + DB)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from chain.contracts.registry import Kind
from procedures.merchants.models import ApiKey, Merchant
from tests.procedures.conftest import wait_until
from tests.procedures.merchants.conftest import BANK, create_request, key_with, pay


def test_onboarding_encrypts_the_bank_account_and_registers_the_wallet(client, operator, onboard, runtime):
    merchant = onboard("山中漆器店")
    body = merchant.body
    assert merchant.key.startswith("mk_test_") and body["api_key"]["scopes"][0] == "payments:read"
    assert body["bank_account"]["account_number"] == "****567"
    assert body["bank_account"]["holder_name_kana"] == "ｶ)ﾔﾏﾅｶｼﾂｷ"  # half-width, small kana enlarged
    assert body["static_uri"].endswith(f"/transfer?address={merchant.wallet}&merchant={merchant.id}")
    status = runtime.registry.status(merchant.wallet)
    assert status.kind is Kind.MERCHANT and status.verified
    with runtime.sessions() as session:
        row = session.get(Merchant, merchant.id)
        key = session.scalar(select(ApiKey).where(ApiKey.merchant_id == merchant.id))
        assert b"1234567" not in row.bank_blob and "ﾔﾏﾅｶ".encode() not in row.bank_blob
        assert merchant.key.encode() not in key.secret_hash and len(key.secret_hash) == 32
    # The key is shown once: later reads never carry it.
    again = client.get(f"/v1/admin/merchants/{merchant.id}", headers=operator).json()
    assert again["api_key"] is None
    assert all(k["secret"] is None for k in client.get("/v1/api_keys", headers=merchant.headers).json()["data"])


@pytest.mark.parametrize("field,value,code", [
    ("holder_name_kana", "山中漆器", "invalid_kana"),
    ("bank_code", "146", "invalid_parameter"),
    ("account_type", "gold", "invalid_parameter"),
])
def test_onboarding_refuses_a_bad_bank_account(client, operator, field, value, code):
    response = client.post("/v1/admin/merchants", headers=operator,
                           json={"business_name": "x", "bank_account": {**BANK, field: value}})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == code and field in response.json()["error"]["param"]


def test_auth_boundaries(client, operator, onboard, make_resident):
    a, b = onboard("A商店"), onboard("B商店")
    resident = make_resident()
    pr = create_request(client, a)
    # Merchant B cannot see, cancel, or list merchant A's requests.
    assert client.get(f"/v1/payment_requests/{pr['id']}", headers=b.headers).status_code == 404
    assert client.post(f"/v1/payment_requests/{pr['id']}/cancel", headers=b.headers).status_code == 404
    assert client.get(f"/v1/payment_requests/{pr['id']}/qr.png", headers=b.headers).status_code == 404
    assert client.get("/v1/payment_requests", headers=b.headers).json()["data"] == []
    # A read-only key cannot write.
    read_only = key_with(client, a, "payments:read")
    assert client.get(f"/v1/payment_requests/{pr['id']}", headers=read_only).status_code == 200
    for method, path, body in [("post", "/v1/payment_requests", {"amount": 5}),
                               ("post", f"/v1/payment_requests/{pr['id']}/cancel", None),
                               ("post", "/v1/refunds", {"payment_request": pr["id"]}),
                               ("post", "/v1/payouts", {"amount": 100}),
                               ("post", "/v1/webhook_endpoints", {"url": "http://127.0.0.1:9/x"}),
                               ("post", "/v1/api_keys", {"name": "x", "scopes": ["payments:read"]}),
                               ("get", "/v1/payouts", None)]:
        response = getattr(client, method)(path, headers=read_only, **({"json": body} if body else {}))
        assert response.status_code == 403, (path, response.text)
        assert response.json()["error"]["code"] == "missing_scope"
    # Residents, operators and anonymous callers cannot use merchant endpoints; merchants cannot use admin ones.
    assert client.get("/v1/payment_requests", headers=resident.headers).json()["error"]["code"] \
        == "merchant_key_required"
    assert client.get("/v1/payment_requests", headers=operator).status_code == 403
    assert client.get("/v1/payment_requests").status_code == 401
    assert client.get("/v1/admin/merchants", headers=a.headers).status_code == 403
    topup = client.post("/v1/admin/topups", headers=a.headers,
                        json={"wallet": resident.address, "amount": 1_000, "reference": "slip-forbidden"})
    assert topup.status_code == 403 and topup.json()["error"]["code"] == "role_required"
    assert client.get("/v1/admin/reconciliation", headers=resident.headers).status_code == 403
    # Merchants cannot use the resident's pay endpoint.
    assert client.get(f"/v1/pay/requests/{pr['id']}", headers=a.headers).status_code == 403
    # A made-up or tampered key is refused.
    assert client.get("/v1/merchant", headers={"Authorization": "Bearer mk_test_" + "x" * 44}).status_code == 401
    tampered = a.key[:-1] + ("A" if a.key[-1] != "A" else "B")
    assert client.get("/v1/merchant", headers={"Authorization": f"Bearer {tampered}"}).json()["error"]["code"] \
        == "invalid_api_key"
    live = "mk_live_" + a.key[8:]
    assert client.get("/v1/merchant", headers={"Authorization": f"Bearer {live}"}).json()["error"]["code"] \
        == "api_key_wrong_mode"


def test_keys_cannot_escalate_and_can_be_rotated_and_revoked(client, onboard):
    merchant = onboard()
    keys_only = key_with(client, merchant, "keys:write", "payments:read")
    escalate = client.post("/v1/api_keys", headers=keys_only, json={"name": "x", "scopes": ["refunds:write"]})
    assert escalate.status_code == 403 and escalate.json()["error"]["code"] == "scope_escalation"
    unknown = client.post("/v1/api_keys", headers=merchant.headers, json={"name": "x", "scopes": ["root"]})
    assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "invalid_scope"

    created = client.post("/v1/api_keys", headers=merchant.headers,
                          json={"name": "till 2", "scopes": ["payments:read", "payments:write"]}).json()
    old = {"Authorization": f"Bearer {created['secret']}"}
    assert client.get("/v1/merchant", headers=old).status_code == 200
    rotated = client.post(f"/v1/api_keys/{created['id']}/rotate", headers=merchant.headers,
                          json={"grace_seconds": 3600}).json()
    new = {"Authorization": f"Bearer {rotated['secret']}"}
    assert rotated["scopes"] == ["payments:read", "payments:write"] and rotated["name"] == "till 2"
    assert client.get("/v1/merchant", headers=old).status_code == 200  # grace period
    assert client.get("/v1/merchant", headers=new).status_code == 200
    client.delete(f"/v1/api_keys/{created['id']}", headers=merchant.headers)
    refused = client.get("/v1/merchant", headers=old)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "api_key_revoked"
    now_rotated = client.post(f"/v1/api_keys/{rotated['id']}/rotate", headers=merchant.headers).json()
    assert client.get("/v1/merchant", headers=new).status_code == 401  # no grace: revoked at once
    assert client.get("/v1/merchant", headers={"Authorization": f"Bearer {now_rotated['secret']}"}).status_code == 200


def test_suspension_stops_keys_and_payments_and_suspends_on_chain(client, operator, onboard, runtime, make_resident,
                                                                   coin):
    merchant = onboard()
    pr = create_request(client, merchant)
    response = client.post(f"/v1/admin/merchants/{merchant.id}/suspend", headers=operator,
                           json={"reason": "tax audit"})
    assert response.status_code == 200 and response.json()["status"] == "suspended"
    refused = client.get("/v1/merchant", headers=merchant.headers)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "merchant_suspended"
    resident = make_resident(coins=5_000)
    checkout = client.get(f"/v1/pay/requests/{pr['id']}", headers=resident.headers).json()
    assert checkout["merchant_accepts_payments"] is False
    refused_payment = pay(client, coin, resident, pr)
    assert refused_payment.status_code == 409 and refused_payment.json()["error"]["code"] == "merchant_unavailable"
    wait_until(lambda: not runtime.registry.is_verified(merchant.wallet), what="on-chain suspension")
    assert client.post(f"/v1/admin/merchants/{merchant.id}/suspend", headers=operator).status_code == 409

    client.post(f"/v1/admin/merchants/{merchant.id}/reinstate", headers=operator)
    wait_until(lambda: client.get(f"/v1/admin/merchants/{merchant.id}", headers=operator).json()["status"]
               == "active", what="reinstatement")
    assert runtime.registry.is_verified(merchant.wallet)
    assert client.get("/v1/merchant", headers=merchant.headers).status_code == 200
