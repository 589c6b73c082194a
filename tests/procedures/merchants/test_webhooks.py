"""Signed webhooks: signature verification, retries with back-off against a real local receiver,
the delivery log, manual redelivery, endpoint management."""

from __future__ import annotations

import hashlib
import hmac
import time

from chain.toolchain import PROJECT_ROOT
from procedures.merchants import webhook_delivery, webhooks
from tests.procedures.conftest import wait_until
from tests.procedures.merchants.conftest import create_request, pay, wait_request


def _readme_verifier():
    """The verification snippet from the README's Webhooks section, run as documented."""
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Webhooks", 1)[1].split("\n## ", 1)[0]
    code = section.split("```python", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - our own documentation
    return namespace["verify_machi_signature"]


def test_signature_scheme():
    body = b'{"id":"evt_1","type":"payment_request.paid"}'
    header = webhook_delivery.sign("whsec_abc", body, timestamp=1_700_000_000)
    t, v1 = header.split(",")
    assert t == "t=1700000000"
    assert v1 == "v1=" + hmac.new(b"whsec_abc", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert webhook_delivery.verify("whsec_abc", header, body, now=1_700_000_100)
    assert not webhook_delivery.verify("whsec_abc", header, body + b" ", now=1_700_000_100)  # tampered body
    assert not webhook_delivery.verify("whsec_xyz", header, body, now=1_700_000_100)  # wrong secret
    assert not webhook_delivery.verify("whsec_abc", header, body, now=1_700_001_000)  # replayed too late
    assert not webhook_delivery.verify("whsec_abc", "garbage", body)
    readme_verify = _readme_verifier()
    fresh = webhook_delivery.sign("whsec_abc", body)
    assert readme_verify("whsec_abc", fresh, body) and not readme_verify("whsec_abc", header, body)  # header: too old
    assert not readme_verify("whsec_abc", "garbage", body)
    assert webhook_delivery.next_delay([10, 60, 600], 1) == 10 and webhook_delivery.next_delay([10, 60, 600], 2) == 60
    assert webhook_delivery.next_delay([10, 60, 600], 3) == 600 and webhook_delivery.next_delay([10, 60, 600], 9) == 600


def test_failing_receiver_is_retried_with_backoff_then_succeeds_and_the_log_shows_it(
    client, onboard, make_resident, coin, receiver
):
    merchant = onboard()
    receiver.fail_first = 2
    endpoint = client.post("/v1/webhook_endpoints", headers=merchant.headers,
                           json={"url": receiver.url, "enabled_events": ["payment_request.paid"]}).json()
    assert endpoint["secret"].startswith("whsec_")
    listed = client.get("/v1/webhook_endpoints", headers=merchant.headers).json()["data"]
    assert [e["secret"] for e in listed] == [None]
    resident = make_resident(coins=1_000)
    pr = create_request(client, merchant, 250)
    assert pay(client, coin, resident, pr).status_code == 202
    wait_request(client, merchant, pr["id"], "paid")
    delivered = wait_until(lambda: receiver.events("payment_request.paid"), timeout=15, what="delivery")[0]

    attempts = receiver.requests
    assert [a["status"] for a in attempts] == [500, 500, 200]
    gaps = [b["at"] - a["at"] for a, b in zip(attempts, attempts[1:], strict=False)]
    assert gaps[0] >= 0.25 and gaps[1] >= 0.5  # not before the injected schedule: 0.3 s, then 0.6 s
    assert len({a["body"] for a in attempts}) == 1  # the same body every time (dedupe by event id)
    last = attempts[-1]
    assert last["headers"]["Content-Type"] == "application/json"
    assert webhook_delivery.verify(endpoint["secret"], last["headers"]["Machi-Signature"], last["body"])
    readme_verify = _readme_verifier()
    assert readme_verify(endpoint["secret"], last["headers"]["Machi-Signature"], last["body"])
    assert not readme_verify("whsec_wrong", last["headers"]["Machi-Signature"], last["body"])
    assert not readme_verify(endpoint["secret"], last["headers"]["Machi-Signature"], last["body"] + b" ")
    assert last["headers"]["Machi-Event-Id"] == delivered["id"]

    # the worker records the attempt after the receiver has answered: wait for that, not just the POST
    event = wait_until(lambda: (lambda e: e if e["deliveries"][0]["status"] != "pending" else None)(
        client.get(f"/v1/events/{delivered['id']}", headers=merchant.headers).json()), what="the attempt recorded")
    assert event["type"] == "payment_request.paid" and event["data"]["object"]["id"] == pr["id"]
    [delivery] = event["deliveries"]
    assert delivery["status"] == "succeeded" and delivery["attempts"] == 3
    assert [entry["status_code"] for entry in delivery["log"]] == [None, None, 200]  # a failure's code: class only
    assert delivery["log"][0]["error"] == "HTTP 5xx"

    # Manual redelivery sends the very same event again.
    again = client.post(f"/v1/events/{delivered['id']}/redeliver", headers=merchant.headers)
    assert again.status_code == 202
    wait_until(lambda: len(receiver.events("payment_request.paid")) == 2, what="redelivery")
    assert receiver.events()[0]["id"] == receiver.events()[1]["id"]
    log = client.get(f"/v1/events/{delivered['id']}", headers=merchant.headers).json()["deliveries"][0]
    assert log["attempts"] == 4 and log["status"] == "succeeded"


def test_unreachable_endpoint_gives_up_after_the_horizon(client, onboard, runtime, settings):
    from procedures.merchants.models import WebhookDelivery
    from procedures.settlement.schemas import PayoutOut

    settings.webhook_retry_horizon = 1.0
    merchant = onboard()
    client.post("/v1/webhook_endpoints", headers=merchant.headers, json={"url": "http://127.0.0.1:9/closed"})
    with runtime.sessions() as session, session.begin():
        event = webhooks.emit(session, runtime.settings, merchant.id, "payout.paid", PayoutOut(
            id="po_x", merchant=merchant.id, amount=1, fee=0, fee_bps=0, net_amount=1, status="paid", batch=None,
            redeem_tx_hash=None, failure_code=None, failure_message=None, created_at=time.time(),
            redeemed_at=None, paid_at=None))

    def gave_up():
        with runtime.sessions() as session:
            delivery = session.query(WebhookDelivery).filter_by(event_id=event.id).one()
            return delivery if delivery.status == "failed" else None

    delivery = wait_until(gave_up, timeout=10, what="giving up")
    assert delivery.attempts >= 2 and delivery.last_status_code is None and delivery.last_error


def test_endpoints_are_per_merchant_and_validated(client, onboard):
    a, b = onboard("A"), onboard("B")
    endpoint = client.post("/v1/webhook_endpoints", headers=a.headers, json={"url": "http://127.0.0.1:1/x"}).json()
    assert client.delete(f"/v1/webhook_endpoints/{endpoint['id']}", headers=b.headers).status_code == 404
    assert client.get("/v1/webhook_endpoints", headers=b.headers).json()["data"] == []
    bad = client.post("/v1/webhook_endpoints", headers=a.headers, json={"url": "ftp://example.com/x"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_url"
    unknown = client.post("/v1/webhook_endpoints", headers=a.headers,
                          json={"url": "http://127.0.0.1:1/x", "enabled_events": ["charge.succeeded"]})
    assert unknown.status_code == 422
    assert client.delete(f"/v1/webhook_endpoints/{endpoint['id']}", headers=a.headers).status_code == 204
    assert client.get("/v1/webhook_endpoints", headers=a.headers).json()["data"] == []


def test_private_urls_are_refused_in_production_settings():
    from procedures.config import Settings
    from procedures.errors import InvalidRequest

    production_like = Settings(environment="test", webhook_allow_private_urls=False)
    for url in ("http://127.0.0.1/x", "http://10.0.0.8/x", "http://[::1]/x", "http://169.254.169.254/latest"):
        try:
            webhooks.check_url(url, production_like)
        except InvalidRequest as exc:
            assert exc.code == "invalid_url"
        else:
            raise AssertionError(f"{url} accepted")
