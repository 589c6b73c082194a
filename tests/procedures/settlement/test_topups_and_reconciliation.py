"""Top-ups with the campaign bonus (credited as points), cap and budget checks; reconciliation (endpoint and
`machi reconcile`), points included."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from click.testing import CliRunner

from protocol.points import JST
from tests.procedures.conftest import wait_until
from tests.procedures.merchants.conftest import create_request, pay, wait_request


def _topup(client, operator, wallet, amount, reference, **extra):
    return client.post("/v1/admin/topups", headers={**operator, **extra.pop("headers", {})},
                       json={"wallet": wallet, "amount": amount, "channel": "counter", "reference": reference,
                             "location": "加賀市役所 1F", **extra})


def _wait_topup(client, operator, topup_id):
    """The receipt once the mint and the bonus's points credit are both final."""
    return wait_until(lambda: (lambda t: t if "pending" not in (t["status"], t["points_status"]) else None)(
        client.get(f"/v1/admin/topups/{topup_id}", headers=operator).json()), what="top-up")


def test_topup_mints_the_yen_as_coins_and_credits_the_bonus_as_points(client, operator, make_resident, arrange,
                                                                      runtime, coin):
    resident = make_resident()
    response = _topup(client, operator, resident.address.lower(), 10_000, "slip-0001",
                      headers={"Idempotency-Key": "slip-0001"})
    assert response.status_code == 201, response.text
    receipt = response.json()
    assert (receipt["amount_paid"], receipt["bonus"], receipt["amount_minted"]) == (10_000, 1_000, 10_000)
    assert receipt["wallet"] == resident.address and receipt["city"] == "加賀市"
    assert receipt["points_status"] == "pending"
    expiry = datetime.fromisoformat(receipt["points_expire_at"])
    assert expiry - datetime.now(UTC) >= timedelta(days=180)  # 180 days, rounded up to the end of a JST month
    assert expiry.astimezone(JST).day == 1 and expiry.astimezone(JST).hour == 0
    again = _topup(client, operator, resident.address, 10_000, "slip-0001", headers={"Idempotency-Key": "slip-0001"})
    assert again.content == response.content
    final = _wait_topup(client, operator, receipt["id"])
    assert (final["status"], final["points_status"]) == ("confirmed", "credited")
    assert arrange.balance(resident.address) == 10_000  # the yen bought coins; the premium is points
    points = coin.points_of(resident.address)
    assert (points.unexpired, points.next_expiry) == (1_000, int(expiry.timestamp()))
    balance = client.get("/v1/wallet/balance", headers=resident.headers).json()
    assert (balance["balance"], balance["points"], balance["next_expiry_points"]) == (10_000, 1_000, 1_000)
    assert datetime.fromisoformat(balance["next_expiry"]) == expiry
    # The same counter slip entered again (without a key) is still one top-up.
    assert _topup(client, operator, resident.address, 10_000, "slip-0001").json()["id"] == receipt["id"]
    mine = client.get("/v1/wallet/topups", headers=resident.headers).json()["data"]
    assert [t["id"] for t in mine] == [receipt["id"]]
    assert client.get(f"/v1/wallet/topups/{receipt['id']}", headers=make_resident().headers).status_code == 404
    refused = client.post("/v1/admin/topups", headers=resident.headers,
                          json={"wallet": resident.address, "amount": 1_000, "reference": "slip-0002"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "role_required"


def test_topup_respects_cap_campaign_budget_and_verification(client, operator, make_resident, settings, arrange,
                                                             coin):
    from eth_account import Account

    card_only = make_resident(level=1)  # CardAuthenticated: cap ¥100,000 (coins: the bonus points do not count)
    refused = _topup(client, operator, card_only.address, 100_001, "slip-cap")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "balance_cap_exceeded"
    assert "100000" in refused.json()["error"]["message"]
    fits = _topup(client, operator, card_only.address, 90_000, "slip-fit").json()
    assert (fits["amount_minted"], fits["bonus"]) == (90_000, 9_000)
    # While that mint is still pending, the room it takes is already counted.
    assert _topup(client, operator, card_only.address, 10_001, "slip-more").json()["error"]["code"] \
        == "balance_cap_exceeded"
    unknown = _topup(client, operator, Account.create().address, 1_000, "slip-x")
    assert unknown.status_code == 409 and unknown.json()["error"]["code"] == "recipient_not_verified"

    settings.topup_bonus_budget = 9_000 + 300  # 300 points of bonus left after the first top-up
    resident = make_resident()
    partial = _topup(client, operator, resident.address, 5_000, "slip-b1").json()
    assert partial["bonus"] == 300
    none_left = _topup(client, operator, resident.address, 5_000, "slip-b2").json()
    assert none_left["bonus"] == 0 and none_left["amount_minted"] == 5_000 and none_left["points_status"] == "none"
    _wait_topup(client, operator, partial["id"])
    _wait_topup(client, operator, none_left["id"])
    assert arrange.balance(resident.address) == 10_000 and coin.points_of(resident.address).unexpired == 300


def test_a_top_up_whose_bonus_the_points_budget_cannot_cover_is_refused(client, operator, make_resident, runtime,
                                                                         arrange, coin):
    resident = make_resident()
    arrange.set_minter_allowance(runtime.keys.benefits_minter.address, 999)
    refused = _topup(client, operator, resident.address, 10_000, "slip-budget")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "points_budget_exceeded"
    assert arrange.balance(resident.address) == 0  # nothing taken, nothing minted
    assert _topup(client, operator, resident.address, 9_990, "slip-budget-2").status_code == 201


def test_reconciliation_matches_after_service_flows_and_lists_outside_mints(
    client, operator, onboard, make_resident, coin, arrange, runtime, settings, database_url, monkeypatch
):
    merchant = onboard()
    resident = make_resident()
    topup = _topup(client, operator, resident.address, 20_000, "slip-r1").json()
    _wait_topup(client, operator, topup["id"])
    pr = create_request(client, merchant, 4_000)
    assert pay(client, coin, resident, pr).status_code == 202
    wait_request(client, merchant, pr["id"], "paid")
    payout = client.post("/v1/payouts", headers=merchant.headers, json={"amount": 1_000}).json()
    wait_until(lambda: client.get(f"/v1/payouts/{payout['id']}", headers=merchant.headers).json()["status"]
               == "redeemed", what="payout")

    report = client.get("/v1/admin/reconciliation", headers=operator).json()
    assert report["differences"] == [] and report["record_problems"] == []
    assert report["supply"]["ledger"] == 22_000 - 1_000 and report["supply"]["difference"] == 0
    assert report["ok"] is True

    # Coins minted outside the service (here: by the test operator's key) show up, with who got them.
    outsider = make_resident()
    arrange.mint(outsider.address, 777)
    report = client.get(f"/v1/admin/reconciliation?wallet={outsider.address}", headers=operator).json()
    assert report["ok"] is False and report["supply"]["difference"] == 777
    assert report["differences"] == [{"wallet": outsider.address, "label": None, "ledger": 0, "chain": 777,
                                      "difference": 777}]

    # The same from the operator's shell.
    from procedures.cli import main
    from procedures.config import get_settings

    url, schema = database_url
    monkeypatch.setenv("MACHI_ENVIRONMENT", "test")
    monkeypatch.setenv("MACHI_DATABASE_URL", url)
    monkeypatch.setenv("MACHI_RPC_URL", settings.rpc_url)
    monkeypatch.setenv("MACHI_VAR_DIR", str(settings.var_dir))
    if schema:
        monkeypatch.setenv("MACHI_DATABASE_SCHEMA", schema)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(main, ["reconcile", "--json", "--wallet", outsider.address])
        assert result.exit_code == 1, result.output
        assert json.loads(result.output)["differences"][0]["difference"] == 777
        table = CliRunner().invoke(main, ["reconcile", "--wallet", outsider.address])
        assert table.exit_code == 1 and "+777" in table.output and "differences found" in table.output
    finally:
        get_settings.cache_clear()
