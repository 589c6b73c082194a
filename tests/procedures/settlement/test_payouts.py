"""Payouts: coins to the settlement account, burned on chain, exported as a Zengin file, marked paid;
statements. (The file format alone: tests/procedures/test_zengin.py.)"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from chain.contracts.registry import Kind
from procedures import zengin
from tests.procedures.conftest import wait_until
from tests.procedures.merchants.conftest import BANK, create_request, key_with, pay, wait_request

HOLDER_B = {**BANK, "bank_code": "0009", "branch_code": "250", "account_type": "current", "account_number": "7654321",
            "holder_name_kana": "ｸﾀﾆﾔｷ ｺｳﾎﾞｳ", "bank_name_kana": "ﾐﾂｲｽﾐﾄﾓ", "branch_name_kana": ""}


def _records(content: bytes) -> list[bytes]:
    assert content.endswith(b"\r\n")
    records = content.split(b"\r\n")[:-1]
    assert all(len(r) == zengin.RECORD_LENGTH for r in records), [len(r) for r in records]
    return records


def _field(record: bytes, start: int, width: int) -> str:
    return record[start:start + width].decode("shift_jis")


def _earn(client, merchant, resident, coin, amount):
    pr = create_request(client, merchant, amount)
    assert pay(client, coin, resident, pr).status_code == 202
    wait_request(client, merchant, pr["id"], "paid")


def _wait_payout(client, merchant, payout_id, status):
    return wait_until(lambda: (lambda p: p if p["status"] == status else None)(
        client.get(f"/v1/payouts/{payout_id}", headers=merchant.headers).json()), what=f"payout {status}")


def test_payout_burns_coins_exports_a_zengin_file_and_is_paid(client, operator, onboard, make_resident, coin,
                                                               runtime, arrange, receiver):
    a, b = onboard("山中漆器店"), onboard("九谷焼工房", bank=HOLDER_B)
    client.post("/v1/webhook_endpoints", headers=a.headers, json={"url": receiver.url,
                                                                 "enabled_events": ["payout.paid"]})
    resident = make_resident(coins=50_000)
    _earn(client, a, resident, coin, 20_000)
    _earn(client, b, resident, coin, 3_000)
    settlement = runtime.keys.settlement.address
    wait_until(lambda: runtime.registry.status(settlement).kind is Kind.CITY, what="settlement account")
    supply = coin.total_supply()

    too_much = client.post("/v1/payouts", headers=a.headers, json={"amount": 20_001})
    assert too_much.status_code == 409 and too_much.json()["error"]["code"] == "insufficient_balance"
    payout = client.post("/v1/payouts", headers={**a.headers, "Idempotency-Key": "po-1"}, json={"amount": 10_000})
    assert payout.status_code == 202, payout.text
    body = payout.json()
    assert (body["amount"], body["fee"], body["net_amount"], body["fee_bps"]) == (10_000, 150, 9_850, 150)
    payout_b = client.post("/v1/payouts", headers=b.headers, json={"amount": 2_999}).json()
    assert payout_b["fee"] == 44 and payout_b["net_amount"] == 2_955  # 1.5 % of 2,999 = 44.985 → 44
    redeemed = _wait_payout(client, a, body["id"], "redeemed")
    _wait_payout(client, b, payout_b["id"], "redeemed")
    assert redeemed["redeem_tx_hash"]
    assert coin.total_supply() == supply - 10_000 - 2_999  # burned, all of it (the fee is kept in yen)
    assert arrange.balance(a.wallet) == 10_000 and arrange.balance(settlement) == 0

    pending = client.get("/v1/admin/payouts?status=redeemed", headers=operator).json()["data"]
    assert {p["id"] for p in pending} == {body["id"], payout_b["id"]}
    batch = client.post("/v1/admin/payout_batches", headers=operator, json={"transfer_date": "2026-12-01"})
    assert batch.status_code == 201, batch.text
    batch = batch.json()
    assert batch["count"] == 2 and batch["total_amount"] == 9_850 + 2_955
    assert client.post("/v1/admin/payout_batches", headers=operator).json()["error"]["code"] == "nothing_to_export"
    assert _wait_payout(client, a, body["id"], "in_transit")["batch"] == batch["id"]

    file = client.get(f"/v1/admin/payout_batches/{batch['id']}/file", headers=operator)
    assert file.status_code == 200 and file.headers["content-type"] == "application/octet-stream"
    header, first, second, trailer, end = _records(file.content)
    # header: 1 | 21 | 0 | originator code | name | MMDD | bank | name | branch | name | type | account | dummy
    assert _field(header, 0, 1) == "1" and _field(header, 1, 2) == "21" and _field(header, 3, 1) == "0"
    assert _field(header, 4, 10) == "0000000000"
    assert _field(header, 14, 40) == "ｶｶﾞｼ".ljust(40)
    assert _field(header, 54, 4) == "1201"
    assert _field(header, 58, 4) == "0146" and _field(header, 62, 15) == "ﾎﾂｺｸ".ljust(15)
    assert _field(header, 77, 3) == "001" and _field(header, 80, 15).strip() == "ﾎﾝﾃﾝ"
    assert _field(header, 95, 1) == "1" and _field(header, 96, 7) == "0000000" and _field(header, 103, 17) == " " * 17
    # data: 2 | bank | name | branch | name | clearing house | type | account | holder | amount | new | codes | …
    assert _field(first, 0, 1) == "2" and _field(first, 1, 4) == "0146"
    assert _field(first, 5, 15) == "ﾎﾂｺｸ".ljust(15)
    assert _field(first, 20, 3) == "101" and _field(first, 23, 15) == "ﾀﾞｲｼﾖｳｼﾞ".ljust(15)
    assert _field(first, 38, 4) == "    " and _field(first, 42, 1) == "1" and _field(first, 43, 7) == "1234567"
    assert _field(first, 50, 30) == "ｶ)ﾔﾏﾅｶｼﾂｷ".ljust(30)
    assert _field(first, 80, 10) == "0000009850" and _field(first, 90, 1) == "0"
    assert _field(first, 91, 10) == "0000000001" and _field(first, 101, 10) == " " * 10
    assert _field(first, 111, 1) == "7" and _field(first, 112, 8) == " " * 8
    assert _field(second, 1, 4) == "0009" and _field(second, 42, 1) == "2" and _field(second, 43, 7) == "7654321"
    assert _field(second, 50, 30) == "ｸﾀﾆﾔｷ ｺｳﾎﾞｳ".ljust(30) and _field(second, 80, 10) == "0000002955"
    # trailer: 8 | count (6) | total (12) | dummy (101); end: 9 | dummy (119)
    assert _field(trailer, 0, 1) == "8" and _field(trailer, 1, 6) == "000002"
    assert _field(trailer, 7, 12) == f"{9_850 + 2_955:012d}" and _field(trailer, 19, 101) == " " * 101
    assert end == b"9" + b" " * 119
    assert all(byte < 0x80 or 0xA1 <= byte <= 0xDF for byte in file.content)  # ASCII + half-width kana only

    marked = client.post(f"/v1/admin/payout_batches/{batch['id']}/transferred", headers=operator)
    assert marked.status_code == 200 and marked.json()["status"] == "transferred"
    assert client.post(f"/v1/admin/payout_batches/{batch['id']}/transferred", headers=operator).status_code == 409
    assert _wait_payout(client, a, body["id"], "paid")["paid_at"]
    event = wait_until(lambda: receiver.events("payout.paid"), what="payout.paid")[0]
    assert event["data"]["object"]["id"] == body["id"] and event["data"]["object"]["net_amount"] == 9_850
    # Merchants only see their own payouts; the bank file is the city's.
    assert client.get(f"/v1/payouts/{body['id']}", headers=b.headers).status_code == 404
    assert client.get(f"/v1/admin/payout_batches/{batch['id']}/file", headers=a.headers).status_code == 403


def test_statement_csv(client, onboard, make_resident, coin):
    merchant = onboard()
    resident = make_resident(coins=10_000)
    _earn(client, merchant, resident, coin, 1_000)
    pr = client.get("/v1/payment_requests", headers=merchant.headers).json()["data"][0]
    refund = client.post("/v1/refunds", headers=merchant.headers, json={"payment_request": pr["id"], "amount": 200})
    wait_until(lambda: client.get(f"/v1/refunds/{refund.json()['id']}", headers=merchant.headers).json()["status"]
               == "succeeded", what="refund")
    payout = client.post("/v1/payouts", headers=merchant.headers, json={"amount": 500}).json()
    start = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    response = client.get("/v1/statements", params={"from": start}, headers=merchant.headers)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [(r["type"], r["amount"], r["balance_effect"]) for r in rows] == [
        ("payment", "1000", "1000"), ("refund", "200", "-200"), ("payout", "500", "-500")]
    assert rows[2]["id"] == payout["id"] and rows[2]["fee"] == "7" and rows[2]["net_yen"] == "493"
    assert all(r["settled_at"].endswith("+09:00") and r["created_at"].endswith("+09:00") for r in rows)  # city time
    payments_only = key_with(client, merchant, "payments:read")
    rows = list(csv.DictReader(io.StringIO(client.get("/v1/statements", params={"from": start},
                                                      headers=payments_only).content.decode("utf-8-sig"))))
    assert [r["type"] for r in rows] == ["payment", "refund"]
    no_rows = client.get("/v1/statements", params={"from": "2020-01-01", "to": "2020-02-01"}, headers=merchant.headers)
    assert no_rows.content.decode("utf-8-sig").splitlines() == [",".join(
        ["type", "id", "settled_at", "created_at", "status", "amount", "fee", "net_yen", "balance_effect",
         "payment_request", "order_reference", "description", "payer", "batch"])]
    webhook_only = key_with(client, merchant, "webhooks:write")
    assert client.get("/v1/statements", params={"from": start}, headers=webhook_only).status_code == 403
