"""Points through the service (issue 15): a top-up's bonus arrives as points, a payment at a shop spends them
first, the API refuses sending them to a resident with its own code, the sweep gives expired points back to
the fund once (`machi points sweep`), reconciliation counts them, and a holder is told before they expire."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from click.testing import CliRunner
from sqlalchemy import select

from chain.index_store import points_holders
from chain.node import rpc_call
from chain.outbox import IntentStatus, TxIntent
from procedures.applications import points_notices
from procedures.settlement import points
from tests.procedures.conftest import auth_json, sign, wait_until
from tests.procedures.merchants.conftest import create_request, pay, wait_request
from tests.procedures.settlement.test_topups_and_reconciliation import _topup, _wait_topup


def _topped_up(client, operator, make_resident, amount, reference):
    """A resident topped up with ``amount`` yen: ``amount`` coins and 10 % of it as points."""
    resident = make_resident()
    receipt = _topup(client, operator, resident.address, amount, reference).json()
    final = _wait_topup(client, operator, receipt["id"])
    assert (final["status"], final["points_status"]) == ("confirmed", "credited"), final
    return resident


def test_a_shop_payment_spends_points_first_and_points_never_go_to_a_resident(client, operator, make_resident,
                                                                             onboard, coin, arrange):
    alice, bob = _topped_up(client, operator, make_resident, 5_000, "slip-p1"), make_resident()
    assert (arrange.balance(alice.address), arrange.points(alice.address)) == (5_000, 500)
    # to a resident: coins only; beyond them the points would be needed, and they pay shops only
    refused = client.post("/v1/transfers", headers=alice.headers,
                          json={"authorization": auth_json(sign(coin, alice.account, bob.address, 5_001))})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "points_not_transferable"
    # at a shop: the 500 points first, then 5,000 coins; the shop receives 5,500 ordinary coins
    merchant = onboard()
    request = create_request(client, merchant, 5_500)
    assert pay(client, coin, alice, request).status_code == 202
    wait_request(client, merchant, request["id"], "paid")
    assert (arrange.balance(alice.address), arrange.points(alice.address)) == (0, 0)
    balance = client.get("/v1/merchant/balance", headers=merchant.headers).json()
    assert balance["balance"] == 5_500
    # nothing is left to pay with
    empty = create_request(client, merchant, 1)
    assert pay(client, coin, alice, empty).json()["error"]["code"] == "insufficient_balance"


def test_expired_points_go_back_to_the_fund_once_and_reconcile(client, operator, make_resident, coin, runtime,
                                                              settings, database_url, monkeypatch):
    residents = [_topped_up(client, operator, make_resident, 3_000, f"slip-e{i}") for i in range(2)]
    wallets = [r.address for r in residents]
    before = coin.points_fund()
    expiry = coin.points_of(wallets[0]).next_expiry
    rpc_call(settings.rpc_url, "evm_mine", [expiry + 60])  # the first second after they stopped counting
    assert [coin.points_of(w).expired for w in wallets] == [300, 300]
    def indexed() -> bool:
        with runtime.sessions() as session:  # a fresh read each time
            return set(wallets) <= set(points_holders(session))

    wait_until(indexed, what="the index has the credits")

    # from the operator's shell: queued through the outbox, sent by the points key
    from procedures.cli import main
    from procedures.config import get_settings

    url, schema = database_url
    for name, value in (("MACHI_ENVIRONMENT", "test"), ("MACHI_DATABASE_URL", url), ("MACHI_RPC_URL", settings.rpc_url),
                        ("MACHI_VAR_DIR", str(settings.var_dir))):
        monkeypatch.setenv(name, value)
    if schema:
        monkeypatch.setenv("MACHI_DATABASE_SCHEMA", schema)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(main, ["points", "sweep", "--json", *sum((["--wallet", w] for w in wallets), [])])
        assert result.exit_code == 0, result.output
        swept = json.loads(result.output)
        assert (swept["checked"], swept["wallets"], swept["points"], len(swept["intents"])) == (2, 2, 600, 1)
        again = CliRunner().invoke(main, ["points", "sweep", "--json", *sum((["--wallet", w] for w in wallets), [])])
        # run again at once: the same intent while the first is not mined, nothing once it is — never a second
        assert json.loads(again.output)["intents"] in (swept["intents"], [])
    finally:
        get_settings.cache_clear()

    def final() -> bool:
        with runtime.sessions() as session:
            intent = session.scalar(select(TxIntent).where(TxIntent.id == swept["intents"][0]))
            return intent is not None and intent.status == IntentStatus.CONFIRMED

    wait_until(final, what="the sweep")
    assert [coin.points_of(w).expired for w in wallets] == [0, 0]
    after = coin.points_fund()
    assert (after.coins, after.reserved) == (before.coins, before.reserved - 600)  # the coins stay, now free
    with runtime.sessions() as session, session.begin():
        assert points.sweep_expired(session, runtime, wallets).intents == []  # nothing left: nothing queued
    report = client.get("/v1/admin/reconciliation", headers=operator).json()
    assert report["differences"] == [] and report["supply"]["difference"] == 0, report


def test_a_holder_is_told_thirty_days_before_points_expire_once(client, operator, make_resident, coin, runtime,
                                                               settings):
    resident = _topped_up(client, operator, make_resident, 5_000, "slip-notice")
    held = coin.points_of(resident.address)
    with runtime.sessions.begin() as session:
        assert points_notices.notify_expiring(session, runtime, [resident.address]) == 0  # 180 days away: nothing yet
    rpc_call(settings.rpc_url, "evm_mine", [held.next_expiry - 29 * 86_400])
    with runtime.sessions.begin() as session:
        assert points_notices.notify_expiring(session, runtime, [resident.address]) == 1
    with runtime.sessions.begin() as session:
        assert points_notices.notify_expiring(session, runtime, [resident.address]) == 0  # once per expiry month
    [notice] = [n for n in client.get("/v1/notifications", headers=resident.headers).json()["data"]
                if n["kind"] == "points_expiring"]
    assert notice["data"]["points"] == 500 and "expire" in notice["message"]["en"]
    assert notice["data"]["expires_at"] == datetime.fromtimestamp(held.next_expiry, UTC).isoformat()
