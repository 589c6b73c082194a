"""Webhook SSRF: the host is resolved once and the delivery connects to that address (Host kept),
every address must be global outside development, and a refused or failed delivery tells the
merchant nothing about what answered inside."""

from __future__ import annotations

import time

import pytest

from procedures.errors import InvalidRequest
from procedures.merchants import webhooks
from procedures.merchants.webhook_delivery import REFUSED
from procedures.merchants.webhooks import RefusedAddress, pin
from procedures.settlement.schemas import PayoutOut
from tests.procedures.conftest import wait_until

PUBLIC = "93.184.215.14"


def _strict(settings):
    return settings.model_copy(update={"webhook_allow_private_urls": False})


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "100.64.0.1",
                                     "100.127.255.254", "169.254.169.254", "0.0.0.0",  # noqa: S104 - refused, not bound
                                     "192.0.2.10", "198.18.0.1",
                                     "::1", "fc00::1", "fe80::1", "::ffff:10.0.0.1", "64:ff9b:1::a00:1",
                                     "64:ff9b::a00:1", "2002:a00:1::1"])
def test_every_non_global_address_is_refused(settings, address):
    with pytest.raises(RefusedAddress):
        pin("https://hooks.example.jp/machi", _strict(settings), lambda host, port: [address])


def test_one_private_address_among_public_ones_is_refused(settings):
    with pytest.raises(RefusedAddress):
        pin("https://hooks.example.jp/machi", _strict(settings), lambda host, port: [PUBLIC, "100.64.3.3"])


def test_the_host_is_resolved_once_and_the_connection_pinned_to_that_address(settings):
    answers = iter([[PUBLIC], ["127.0.0.1"]])  # a rebinding resolver: public for the check, then internal
    calls = []

    def rebinding(host, port):
        calls.append((host, port))
        return next(answers)

    target = pin("https://hooks.example.jp:8443/machi?x=1", _strict(settings), rebinding)
    assert calls == [("hooks.example.jp", 8443)]  # one resolution: the check and the connection share it
    assert target.url == f"https://{PUBLIC}:8443/machi?x=1"
    assert target.host_header == "hooks.example.jp:8443" and target.server_name == "hooks.example.jp"
    both = pin("https://hooks.example.jp/", _strict(settings), lambda host, port: ["2606:2800:21f:cb07::1", PUBLIC])
    assert both.urls == ("https://[2606:2800:21f:cb07::1]/", f"https://{PUBLIC}/")  # each checked, in order
    assert both.host_header == "hooks.example.jp"


def test_a_host_that_does_not_resolve_is_refused(settings):
    def nothing(host, port):
        raise OSError("no such host")

    with pytest.raises(InvalidRequest):
        pin("https://nowhere.invalid/x", _strict(settings), nothing)


def test_registration_refuses_a_shared_address_space_host(client, onboard, settings):
    settings.webhook_allow_private_urls = False
    merchant = onboard()
    response = client.post("/v1/webhook_endpoints", headers=merchant.headers, json={"url": "http://100.64.0.7/x"})
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_url"


def _event(runtime, merchant):
    with runtime.sessions() as session, session.begin():
        return webhooks.emit(session, runtime.settings, merchant.id, "payout.paid", PayoutOut(
            id="po_x", merchant=merchant.id, amount=1, fee=0, fee_bps=0, net_amount=1, status="paid", batch=None,
            redeem_tx_hash=None, failure_code=None, failure_message=None, created_at=time.time(),
            redeemed_at=None, paid_at=None))


def _delivery(client, merchant, event_id):
    def recorded():
        [delivery] = client.get(f"/v1/events/{event_id}", headers=merchant.headers).json()["deliveries"]
        return delivery if delivery["attempts"] else None

    return wait_until(recorded, what="the attempt recorded")


def test_delivery_connects_to_the_pinned_address_with_the_original_host(client, onboard, runtime, receiver):
    merchant = onboard()
    port = receiver.url.split(":")[2].split("/")[0]
    client.post("/v1/webhook_endpoints", headers=merchant.headers,
                json={"url": f"http://localhost:{port}/hooks", "enabled_events": ["payout.paid"]})
    event = _event(runtime, merchant)
    wait_until(lambda: receiver.requests, what="the delivery")
    assert receiver.requests[0]["headers"]["Host"] == f"localhost:{port}"
    assert _delivery(client, merchant, event.id)["status"] == "succeeded"


def test_a_host_that_now_resolves_inside_is_refused_without_a_connection(client, onboard, runtime, receiver,
                                                                          settings):
    merchant = onboard()
    port = receiver.url.split(":")[2].split("/")[0]
    client.post("/v1/webhook_endpoints", headers=merchant.headers,
                json={"url": f"http://localhost:{port}/hooks", "enabled_events": ["payout.paid"]})
    settings.webhook_allow_private_urls = False  # as in production: localhost is 127.0.0.1, not public
    receiver.fail_first = 1  # had it been called, it would have said "500"
    event = _event(runtime, merchant)
    delivery = _delivery(client, merchant, event.id)
    assert receiver.requests == []  # nothing reached the internal address
    assert delivery["last_status_code"] is None and delivery["last_error"] == REFUSED
    assert delivery["log"][0] == {**delivery["log"][0], "status_code": None, "error": REFUSED}
