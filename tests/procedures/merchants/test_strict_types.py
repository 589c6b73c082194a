"""A money API takes numbers as numbers: ``{"amount": true}`` made a ¥1 payment request."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(("extra", "param"), [({"amount": True}, "amount"), ({"amount": "100"}, "amount"),
                                              ({"expires_in": "600"}, "expires_in"),
                                              ({"expires_in": False}, "expires_in"),
                                              ({"expires_at": 1893456000}, "expires_at"),
                                              ({"expires_at": "1893456000"}, "expires_at")])
def test_a_payment_request_refuses_lax_types_naming_the_field(client, onboard, extra, param):
    merchant = onboard()
    response = client.post("/v1/payment_requests", headers=merchant.headers, json={"amount": 100, **extra})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["param"] == param
    listed = client.get("/v1/payment_requests", headers=merchant.headers).json()
    assert listed["data"] == []  # nothing half-written


def test_an_iso_expiry_still_works(client, onboard):
    merchant = onboard()
    response = client.post("/v1/payment_requests", headers=merchant.headers,
                           json={"amount": 100, "expires_at": "2099-01-01T00:00:00+09:00"})
    assert response.status_code in (201, 422), response.text
    if response.status_code == 422:  # beyond 30 days: refused by the range check, not by the type
        assert "30 days" in response.json()["error"]["message"] or response.json()["error"]["param"] == "expires_at"
