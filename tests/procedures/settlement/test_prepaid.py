"""The Payment Services Act report: figures at an instant against a hand-computed story on the real chain
(and the chain's own state at the report's block), the CSV, the CLI and the console page, the rules of
base dates and the deposit."""

from __future__ import annotations

import csv
import io
import json
import time
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from click.testing import CliRunner

from procedures.settlement.prepaid import latest_base_date, period_start, recent_base_dates, required_deposit
from tests.procedures.conftest import wait_until
from tests.procedures.merchants.conftest import create_request, pay, wait_request

JST = ZoneInfo("Asia/Tokyo")


def test_past_ten_million_the_deposit_is_half_of_the_whole_unused_balance_rounded_up():
    # 資金決済法 第14条1項: 基準日未使用残高が基準額を超えるときは、当該基準日未使用残高の二分の一の額
    assert [required_deposit(x) for x in (0, 9_999_999, 10_000_000, 10_000_001, 10_000_002, 30_000_000)] \
        == [0, 0, 0, 5_000_001, 5_000_001, 15_000_000]


def test_base_dates_and_periods():
    # a base date's figures cover the half-year it closes; its own day is not over until 24:00
    assert period_start(datetime(2026, 10, 1, tzinfo=JST)) == datetime(2026, 4, 1, tzinfo=JST)
    assert period_start(datetime(2027, 4, 1, tzinfo=JST)) == datetime(2026, 10, 1, tzinfo=JST)
    assert period_start(datetime(2027, 2, 1, 12, tzinfo=JST)) == datetime(2026, 10, 1, tzinfo=JST)
    assert period_start(datetime(2026, 12, 7, 9, tzinfo=JST)) == datetime(2026, 10, 1, tzinfo=JST)
    assert period_start(datetime(2026, 4, 1, 0, 0, 1, tzinfo=JST)) == datetime(2026, 4, 1, tzinfo=JST)
    assert recent_base_dates(date(2026, 12, 7), 3) == [date(2026, 9, 30), date(2026, 3, 31), date(2025, 9, 30)]
    assert latest_base_date(date(2026, 9, 30)) == date(2026, 3, 31)
    assert latest_base_date(date(2026, 10, 1)) == date(2026, 9, 30)


def _instant(w3) -> datetime:
    """A whole second after the latest block and no later than the next one (blocks carry whole seconds; the
    report counts the blocks before its instant)."""
    stamp = int(w3.eth.get_block("latest")["timestamp"])
    time.sleep(1.1)
    return datetime.fromtimestamp(stamp + 1, UTC)


def _report(client, operator, as_of: datetime, **params):
    def made():
        response = client.get("/v1/admin/reports/prepaid", headers=operator,
                              params={"as_of": as_of.isoformat(), **params})
        if response.status_code == 503 and response.json()["error"]["code"] in ("index_behind", "too_recent"):
            return None  # the indexer has not confirmed that block yet, or blocks may still come stamped before
        assert response.status_code == 200, response.text
        return response

    return wait_until(made, 30, what="the index reaching the report's block")


def test_figures_at_an_instant_follow_the_chain(client, runtime, operator, onboard, make_resident, coin, w3):
    merchant = onboard()
    before = _instant(w3)
    alice, bob = make_resident(coins=5_000), make_resident(coins=2_000)
    pr = create_request(client, merchant, 1_200)
    assert pay(client, coin, alice, pr).status_code == 202
    wait_request(client, merchant, pr["id"], "paid")
    after_payment = _instant(w3)
    make_resident(coins=4_000)
    payout = client.post("/v1/payouts", headers=merchant.headers, json={"amount": 500}).json()
    wait_until(lambda: client.get(f"/v1/payouts/{payout['id']}", headers=merchant.headers).json()["status"]
               == "redeemed", 30, what="the payout burned")
    after_payout = _instant(w3)

    r0, r1, r2 = (_report(client, operator, t).json() for t in (before, after_payment, after_payout))
    for r in (r0, r1, r2):
        assert r["chain_check"] == "matched" and r["chain_differences"] == 0  # the node's state at that block
        assert r["unused_balance"] + r["merchants_unredeemed"] + r["city_accounts"] == r["total_supply"]
        assert r["unused_balance"] == r["residents_wallets"] + r["offline_reserve"]
        assert r["base_date"] is None and r["period_start"] == period_start(before.astimezone(JST)).isoformat()
    assert r0["block"] < r1["block"] < r2["block"]

    def change(a, b, field):
        return b[field] - a[field]

    # by hand: 7,000 issued to two residents, 1,200 of it paid to the merchant
    assert [change(r0, r1, f) for f in ("unused_balance", "merchants_unredeemed", "issued", "redeemed", "holders")] \
        == [5_800, 1_200, 7_000, 0, 2]
    # then 4,000 issued to a third resident, 500 of the merchant's takings redeemed (burned)
    assert [change(r1, r2, f) for f in ("unused_balance", "merchants_unredeemed", "issued", "redeemed", "city_accounts",
                                        "holders")] == [4_000, -500, 4_000, 500, 0, 1]
    # the chain's own state at the report's block says the same for the story's wallets
    at = r1["block"]
    assert (coin.contract.functions.balanceOf(alice.address).call(block_identifier=at),
            coin.contract.functions.balanceOf(bob.address).call(block_identifier=at),
            coin.contract.functions.balanceOf(merchant.wallet).call(block_identifier=at)) == (3_800, 2_000, 1_200)
    assert r2["required_deposit"] == required_deposit(r2["unused_balance"])

    rows = list(csv.reader(io.StringIO(_report(client, operator, after_payout, format="csv").text)))
    assert rows[0][:2] == ["基準日", "集計時点"] and rows[1][:2] == ["base_date", "as_of"]
    assert dict(zip(rows[1], rows[2], strict=True))["unused_balance"] == str(r2["unused_balance"])


def test_coins_at_the_payout_settlement_account_are_the_citys_not_residents(client, runtime, operator, onboard,
                                                                            make_resident, coin, w3):
    from procedures.settlement.payouts import settlement_address
    from procedures.transfers.custodial import pay_from_custodial
    from procedures.transfers.models import Transfer

    account = settlement_address(runtime)  # a key-held city account, no custodial wallet row
    wait_until(lambda: runtime.registry.is_verified(account), 30, what="the settlement account registered")
    merchant = onboard()
    pr = create_request(client, merchant, 700)
    assert pay(client, coin, make_resident(coins=700), pr).status_code == 202
    wait_request(client, merchant, pr["id"], "paid")
    before = _instant(w3)
    with runtime.sessions() as session, session.begin():  # a payout's first leg, its burn never coming
        transfer_id = pay_from_custodial(session, runtime, merchant.wallet, account, 700, kind="payout").id

    def moved() -> bool:
        with runtime.sessions() as session:
            return session.get(Transfer, transfer_id).status == "confirmed"

    wait_until(moved, 30, what="the coins at the settlement account")
    after = _instant(w3)
    r0, r1 = (_report(client, operator, t).json() for t in (before, after))
    assert (r1["city_accounts"] - r0["city_accounts"], r1["merchants_unredeemed"] - r0["merchants_unredeemed"],
            r1["unused_balance"] - r0["unused_balance"], r1["holders"] - r0["holders"]) == (700, -700, 0, 0)


def test_a_recent_instant_waits_for_the_blocks_that_may_still_come(client, operator):
    now = datetime.now(UTC)
    response = client.get("/v1/admin/reports/prepaid", headers=operator, params={"as_of": now.isoformat()})
    assert response.status_code == 503 and response.json()["error"]["code"] == "too_recent"
    assert int(response.headers["Retry-After"]) > 0


def test_a_node_without_the_blocks_state_leaves_the_check_unavailable(runtime):
    from procedures.settlement.prepaid import _check

    with runtime.sessions() as session:  # a block the node has no state for answers with an error
        assert _check(session, runtime, runtime.w3.eth.block_number + 1_000) == ("unavailable", 0)


def test_bad_dates_get_clear_errors(client, operator):
    def error(**params):
        response = client.get("/v1/admin/reports/prepaid", headers=operator, params=params)
        return response.status_code, response.json()["error"]["code"], response.json()["error"]["param"]

    assert error(base_date="2026-06-30") == (422, "not_a_base_date", "base_date")
    assert error(base_date="2099-03-31") == (422, "report_in_future", "base_date")
    assert error(base_date="2000-03-31") == (422, "before_chain", "base_date")  # the chain did not exist yet
    assert error(base_date="2026-09-30", as_of="2026-12-01T00:00:00") == (422, "ambiguous_date", "as_of")
    assert error(format="pdf")[0] == 422
    assert client.get("/v1/admin/reports/prepaid").status_code == 401


def test_the_cli_shows_the_same_report_and_writes_the_csv(client, operator, make_resident, w3, cli_env, tmp_path):
    from procedures.cli import main

    make_resident(coins=3_000)
    as_of = _instant(w3)
    api = _report(client, operator, as_of).json()
    path = tmp_path / "prepaid.csv"
    result = CliRunner().invoke(main, ["report", "prepaid", "--as-of", as_of.astimezone(JST).strftime(
        "%Y-%m-%dT%H:%M:%S"), "--json", "--csv", str(path)])
    assert result.exit_code == 0, result.output
    cli = json.loads(result.output)
    fields = ("block", "unused_balance", "merchants_unredeemed", "issued", "redeemed", "chain_check")
    assert {k: cli[k] for k in fields} == {k: api[k] for k in fields}, (cli, api)
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    assert dict(zip(rows[1], rows[2], strict=True))["unused_balance"] == str(api["unused_balance"])
    shown = CliRunner().invoke(main, ["report", "prepaid", "--as-of", as_of.astimezone(JST).strftime(
        "%Y-%m-%dT%H:%M:%S")])
    assert shown.exit_code == 0 and f"{api['unused_balance']:,}" in shown.output and "基準日未使用残高" in shown.output
    too_early = CliRunner().invoke(main, ["report", "prepaid", "--base-date", "2000-03-31"])
    assert too_early.exit_code == 2 and "chain starts after" in too_early.output


def test_points_are_reported_apart_from_coins(client, runtime, operator, onboard, make_resident, coin, w3):
    from tests.procedures.settlement.test_points import _topped_up

    merchant = onboard()
    before = _instant(w3)
    alice = _topped_up(client, operator, make_resident, 5_000, "slip-prepaid-points")  # 5,000 coins, 500 points
    pr = create_request(client, merchant, 300)
    assert pay(client, coin, alice, pr).status_code == 202
    wait_request(client, merchant, pr["id"], "paid")  # 300 points first, no coins
    after = _instant(w3)
    r0, r1 = (_report(client, operator, t).json() for t in (before, after))
    for r in (r0, r1):
        assert r["chain_check"] == "matched"
        assert r["unused_balance"] + r["merchants_unredeemed"] + r["city_accounts"] + r["points_fund"] \
            == r["total_supply"]
    fields = ("unused_balance", "issued", "issued_to_points_fund", "merchants_unredeemed", "points_fund",
              "points_unused", "points_expired_unswept", "points_holders", "points_credited", "points_spent",
              "points_swept")
    # by hand: 5,000 coins sold and none spent; 500 points credited (the fund minted them), 300 spent at the shop
    assert {f: r1[f] - r0[f] for f in fields} == {
        "unused_balance": 5_000, "issued": 5_000, "issued_to_points_fund": 500, "merchants_unredeemed": 300,
        "points_fund": 200, "points_unused": 200, "points_expired_unswept": 0, "points_holders": 1,
        "points_credited": 500, "points_spent": 300, "points_swept": 0}
    assert r1["required_deposit"] == required_deposit(r1["unused_balance"])  # coins only: points were not sold
