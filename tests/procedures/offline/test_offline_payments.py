"""Offline payments end to end through the service, on the real chain and database: a resident reserves,
signs offline, two merchants' counters accept and relay later; each payment is paid exactly once, a reserve
spent twice pays once and the other merchant is told why; bad codes are one clear refusal, nothing stored;
disaster mode raises the limit for operators only."""

from __future__ import annotations

import dataclasses
import time

import pytest
from sqlalchemy import func, select

from chain.outbox import TxIntent
from procedures.offline.models import OfflinePaymentRow
from protocol.offline import ReserveSnapshot, accept
from tests.procedures.conftest import wait_until
from tests.procedures.offline.conftest import offline_code, reserve_json


def _reserve(client, runtime, resident, amount: int) -> None:
    response = client.post("/v1/wallet/offline/reserve", headers=resident.headers,
                           json=reserve_json(runtime, resident.account, amount))
    assert response.status_code == 202, response.text
    wait_until(lambda: client.get("/v1/wallet/offline", headers=resident.headers).json()["reserved"] >= amount,
               30, what="the reserve on chain")


def _relay(client, merchant, code: str):
    return client.post("/v1/offline_payments", headers=merchant.headers, json={"code": code})


def _final(client, merchant, payment_id: str) -> dict:
    def done():
        body = client.get(f"/v1/offline_payments/{payment_id}", headers=merchant.headers).json()
        return body if body["status"] != "relaying" else None

    return wait_until(done, 30, what=f"offline payment {payment_id} settled")


def _snapshot(client, merchant) -> ReserveSnapshot:
    body = client.get("/v1/offline/snapshot", headers=merchant.headers).json()
    return ReserveSnapshot(chain_id=body["chain_id"], reserve=body["reserve"], merchant=body["merchant_wallet"],
                           synced_at=body["synced_at"],
                           reserves={r["payer"]: (r["reserved"], r["release_at"] or 0) for r in body["reserves"]})


def _stored(runtime) -> tuple[int, int]:
    with runtime.sessions() as session:
        return (session.scalar(select(func.count()).select_from(OfflinePaymentRow)) or 0,
                session.scalar(select(func.count()).select_from(TxIntent).where(TxIntent.kind == "offline.settle"))
                or 0)


def test_three_offline_payments_at_two_merchants_each_paid_once(client, runtime, make_resident, onboard, arrange):
    a, b = onboard("山中漆器店"), onboard("九谷焼窯元")
    resident = make_resident(coins=10_000)
    _reserve(client, runtime, resident, 5_000)
    shown = client.get("/v1/wallet/offline", headers=resident.headers).json()
    assert (shown["reserved"], shown["limit"], shown["reserve"]) == (5_000, 5_000, runtime.reserve.address)
    assert arrange.balance(resident.address) == 5_000  # locked on chain, not spendable online

    # the counters sync, then the network goes: each checks offline against its own snapshot
    snap_a, snap_b = _snapshot(client, a), _snapshot(client, b)
    codes = [(a, offline_code(runtime, resident.account, a, 1_000)),
             (b, offline_code(runtime, resident.account, b, 1_500)),
             (a, offline_code(runtime, resident.account, a, 500))]
    for merchant, code in codes:
        accept(snap_a if merchant is a else snap_b, code, int(time.time()))

    # reconnection: each counter relays what it kept (one of them twice: a retry after a lost answer)
    ids = []
    for merchant, code in codes:
        response = _relay(client, merchant, code.to_text())
        assert response.status_code == 202, response.text
        ids.append((merchant, response.json()["id"]))
    again = _relay(client, a, codes[0][1].to_text())
    assert (again.status_code, again.json()["id"]) == (200, ids[0][1])

    finals = [_final(client, m, pid) for m, pid in ids]
    assert [f["status"] for f in finals] == ["paid", "paid", "paid"]
    assert arrange.balance(a.wallet) == 1_500 and arrange.balance(b.wallet) == 1_500
    assert runtime.reserve.reserve_of(resident.address)[0] == 2_000
    # relayed again after it was paid: the same answer, nothing new on chain
    assert _relay(client, b, codes[1][1].to_text()).json()["status"] == "paid"
    assert _stored(runtime) == (3, 3)
    assert arrange.balance(a.wallet) == 1_500


def test_a_reserve_spent_at_two_merchants_pays_once_and_the_other_is_told(client, runtime, make_resident, onboard,
                                                                          arrange, receiver, operator):
    a, b = onboard("山中漆器店"), onboard("九谷焼窯元")
    hook = client.post("/v1/webhook_endpoints", headers=b.headers, json={"url": receiver.url})
    assert hook.status_code == 201, hook.text
    resident = make_resident(coins=3_000)
    _reserve(client, runtime, resident, 1_000)
    snap_a, snap_b = _snapshot(client, a), _snapshot(client, b)
    first = offline_code(runtime, resident.account, a, 800)
    second = offline_code(runtime, resident.account, b, 800)
    # each counter alone sees a reserve that covers its payment: both accept offline
    accept(snap_a, first, int(time.time()))
    accept(snap_b, second, int(time.time()))

    paid_id = _relay(client, a, first.to_text()).json()["id"]
    refused_id = _relay(client, b, second.to_text()).json()["id"]
    paid, refused = _final(client, a, paid_id), _final(client, b, refused_id)
    assert paid["status"] == "paid"
    assert refused["status"] == "refused" and refused["reason"] == "reserve_spent"
    assert "already spent" in refused["reason_message"]
    assert arrange.balance(a.wallet) == 800 and arrange.balance(b.wallet) == 0
    assert runtime.reserve.reserve_of(resident.address)[0] == 200
    events = wait_until(lambda: receiver.events("offline_payment.refused"), 20, what="merchant B's webhook")
    assert events[0]["data"]["object"]["id"] == refused_id
    assert events[0]["data"]["object"]["reason"] == "reserve_spent"
    # the city's ledger follows coins into the reserve and out of it to the merchant paid, not the refused one
    # (the resident's own coins were minted by the test outside the service: not the ledger's to know)
    watched = {a.wallet, b.wallet, runtime.reserve.address}
    report = client.get("/v1/admin/reconciliation", headers=operator, params={"wallet": sorted(watched)}).json()
    assert not [d for d in report["differences"] if d["wallet"] in watched], report["differences"]


@pytest.mark.parametrize("case", ["not_ours", "tampered", "expired", "another_merchant"])
def test_a_bad_code_is_one_clear_refusal_and_nothing_is_stored(client, runtime, make_resident, onboard, case):
    a, b = onboard("山中漆器店"), onboard("九谷焼窯元")
    resident = make_resident(coins=3_000)
    _reserve(client, runtime, resident, 1_000)
    good = offline_code(runtime, resident.account, a, 500)
    code = {
        "not_ours": "ethereum:0x0000000000000000000000000000000000000001@31337?value=500",
        "tampered": dataclasses.replace(good, amount=900).to_text(),
        "expired": offline_code(runtime, resident.account, a, 500, valid_before=int(time.time()) - 5).to_text(),
        "another_merchant": offline_code(runtime, resident.account, b, 500).to_text(),
    }[case]
    response = _relay(client, a, code)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    expected = {"not_ours": "not_ours", "tampered": "bad_signature", "expired": "expired",
                "another_merchant": "wrong_merchant"}[case]
    assert error["code"] == expected and "\n" not in error["message"]
    assert _stored(runtime) == (0, 0)
    # the counter refuses the same codes offline
    from protocol.offline import OfflinePayment, OfflineRefused

    with pytest.raises(OfflineRefused) as refused:
        accept(_snapshot(client, a), OfflinePayment.from_text(code), int(time.time()))
    assert refused.value.code == expected


def test_the_limit_and_disaster_mode(client, runtime, make_resident, onboard, operator):
    resident = make_resident(coins=30_000)
    over = client.post("/v1/wallet/offline/reserve", headers=resident.headers,
                       json=reserve_json(runtime, resident.account, 6_000))
    assert over.status_code == 409 and over.json()["error"]["code"] == "offline_limit_exceeded"
    merchant = onboard("山中漆器店")
    body = {"reserve_limit": 20_000, "hours": 72, "reason": "能登半島地震: 通信障害"}
    for headers in (resident.headers, merchant.headers, {}):
        refused = client.post("/v1/admin/offline/disaster", headers=headers, json=body)
        assert refused.status_code in (401, 403), refused.text
    assert client.post("/v1/admin/offline/disaster", headers=operator,
                       json={**body, "reserve_limit": 100}).status_code == 422
    declared = client.post("/v1/admin/offline/disaster", headers=operator, json=body)
    assert declared.status_code == 201, declared.text
    assert declared.json()["declared_by"].startswith("operator:")
    assert client.get("/v1/wallet/offline", headers=resident.headers).json()["limit"] == 20_000
    _reserve(client, runtime, resident, 6_000)

    # the console's view: the limit now, the period, and a payment relayed but not yet settled
    overview = client.get("/v1/admin/offline", headers=operator).json()
    assert overview["reserve_limit"] == 20_000 and overview["usual_limit"] == 5_000
    assert [p["id"] for p in overview["periods"]] == [declared.json()["id"]]
    ended = client.post(f"/v1/admin/offline/disaster/{declared.json()['id']}/end", headers=operator)
    assert ended.status_code == 200 and ended.json()["ended_by"].startswith("operator:")
    assert client.get("/v1/wallet/offline", headers=resident.headers).json()["limit"] == 5_000
    again = client.post(f"/v1/admin/offline/disaster/{declared.json()['id']}/end", headers=operator)
    assert again.status_code == 409


def test_machi_disaster_from_the_operators_shell(client, runtime, database_url, monkeypatch, tmp_path):
    from click.testing import CliRunner

    from procedures.auth.service import create_staff
    from procedures.config import get_settings
    from procedures.offline.cli import disaster

    url, schema = database_url
    for name, value in {"MACHI_ENVIRONMENT": "test", "MACHI_RPC_URL": runtime.settings.rpc_url, "DATABASE_URL": url,
                        "MACHI_VAR_DIR": str(runtime.settings.var_dir)}.items():
        monkeypatch.setenv(name, value)
    if schema:
        monkeypatch.setenv("MACHI_DATABASE_SCHEMA", schema)
    get_settings.cache_clear()
    with runtime.sessions() as session, session.begin():
        create_staff(session, runtime.vault, username="bousai", password="bousai password 1", role="admin")
        create_staff(session, runtime.vault, username="kakari", password="kakari password 1", role="clerk",
                     department="kosodate")
    try:
        start = ["start", "--limit", "30000", "--hours", "48", "--reason", "大雪: 通信障害"]
        clerk = CliRunner().invoke(disaster, [*start, "--staff", "kakari"], input="kakari password 1\n")
        assert clerk.exit_code == 1 and "admin" in clerk.output
        wrong = CliRunner().invoke(disaster, [*start, "--staff", "bousai"], input="nope\n")
        assert wrong.exit_code == 1 and "wrong username or password" in wrong.output
        assert limits_now(runtime) == 5_000
        declared = CliRunner().invoke(disaster, [*start, "--staff", "bousai"], input="bousai password 1\n")
        assert declared.exit_code == 0, declared.output
        assert limits_now(runtime) == 30_000
        status = CliRunner().invoke(disaster, ["status"])
        assert "30,000" in status.output and "大雪" in status.output and "waiting to be settled: 0" in status.output
    finally:
        get_settings.cache_clear()


def limits_now(runtime) -> int:
    from procedures.offline import limits

    with runtime.sessions() as session:
        return limits.reserve_limit(session, runtime.settings)


def test_releasing_an_unused_reserve_takes_the_delay(client, runtime, make_resident, onboard, operator):
    from chain.contracts.authorization import random_nonce
    from chain.contracts.reserve import sign_release_request
    from chain.node import rpc_call

    merchant = onboard("山中漆器店")
    resident = make_resident(coins=3_000)
    _reserve(client, runtime, resident, 2_000)
    nothing = client.post("/v1/wallet/offline/release/complete", headers=resident.headers)
    assert nothing.status_code == 409 and nothing.json()["error"]["code"] == "no_release"
    nonce = random_nonce()
    signature = sign_release_request(resident.account, runtime.manifest.chain_id, runtime.reserve.address, nonce)
    forged = sign_release_request(make_resident().account, runtime.manifest.chain_id, runtime.reserve.address, nonce)
    bad = client.post("/v1/wallet/offline/release", headers=resident.headers,
                      json={"nonce": "0x" + nonce.hex(), "signature": "0x" + forged.hex()})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "reserve_refused"
    asked = client.post("/v1/wallet/offline/release", headers=resident.headers,
                        json={"nonce": "0x" + nonce.hex(), "signature": "0x" + signature.hex()})
    assert asked.status_code == 202, asked.text
    due = wait_until(lambda: client.get("/v1/wallet/offline", headers=resident.headers).json()["release_at"], 30,
                     what="the release request on chain")
    assert due >= runtime.coin.block_time() + runtime.reserve.release_delay() - 60
    # a counter that synced now refuses an offline payment valid past the release (shown an hour before it is
    # due: sooner, no validity counters accept reaches past it — the delay is longer than the longest)
    snapshot = _snapshot(client, merchant)
    from protocol.offline import OfflineRefused

    with pytest.raises(OfflineRefused) as refused:
        accept(snapshot, offline_code(runtime, resident.account, merchant, 500, valid_before=due + 60), due - 3600)
    assert refused.value.code == "release_pending"
    early = client.post("/v1/wallet/offline/release/complete", headers=resident.headers)
    assert early.status_code == 409 and early.json()["error"]["code"] == "release_not_due"
    rpc_call(runtime.settings.rpc_url, "evm_increaseTime", [due - runtime.coin.block_time() + 1])
    rpc_call(runtime.settings.rpc_url, "evm_mine")
    done = client.post("/v1/wallet/offline/release/complete", headers=resident.headers)
    assert done.status_code == 202 and done.json()["amount"] == 2_000
    wait_until(lambda: runtime.coin.balance_of(resident.address) == 3_000, 30, what="the coins back")
    assert runtime.reserve.reserve_of(resident.address) == (0, 0)
    watched = {merchant.wallet, runtime.reserve.address}

    def differences() -> list[dict]:
        report = client.get("/v1/admin/reconciliation", headers=operator, params={"wallet": sorted(watched)}).json()
        return [d for d in report["differences"] if d["wallet"] in watched]

    # the ledger books the release when the relayer has seen its receipt, a moment after the chain's balance
    wait_until(lambda: not differences(), 30, what="the release booked in the ledger", show=differences)
