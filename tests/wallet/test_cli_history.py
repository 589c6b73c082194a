"""``machi-wallet history`` adds up: every movement of the balance from the chain's events — a top-up, a
benefit, a payment, a refund, a recovery move — each named (the city, the shop, the lost wallet), with a
running balance of coins that ends at ``balance``, and points marked (a top-up's premium and a benefit are
points, a payment at a shop spends them first); against a live service, its indexer and the chain."""

from __future__ import annotations

import csv
import io
import json
import os
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from eth_account import Account

from chain.contracts.coin import RegionalCoinClient
from procedures.auth.service import create_staff
from procedures.identity.models import WalletIdentity
from tests.procedures.applications.conftest import Filer, staff_post
from tests.procedures.conftest import Resident, let_recovery_run, wait_until, wallet_login
from tests.procedures.identity.conftest import KAGA_RESIDENTS
from tests.procedures.merchants.conftest import BANK, Merchant, create_request
from wallet import cli

PASSWORD = "correct horse battery"


@pytest.fixture
def http(live_server):
    with httpx.Client(base_url=live_server, timeout=60) as client:
        yield client


@pytest.fixture
def admin(http, runtime) -> dict[str, str]:
    with runtime.sessions() as session, session.begin():
        create_staff(session, runtime.vault, username="history-admin", password="history admin pass 1", role="admin")
    token = http.post("/v1/auth/staff/token", json={"username": "history-admin", "password": "history admin pass 1"})
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def _keystore(path) -> Any:
    account = Account.create()
    path.write_text(json.dumps(Account.encrypt(account.key, PASSWORD, kdf="scrypt", iterations=2**10)))
    return account


def _csv(output: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(output)))


def test_history_lists_every_movement_named_with_a_balance_that_adds_up(
    live_server, http, admin, issue, contracts, runtime, make_staff, treasury, tmp_path
):
    env = {"MACHI_API_URL": live_server, "MACHI_WALLET_PASSWORD": PASSWORD, "MACHI_WALLET_LANG": "en",
           "COLUMNS": "220", "MACHI_CARD_PIN": None, "MACHI_CARD_SIGNING_PASSWORD": None}

    def wallet(keystore, *args: str, input: str | None = None) -> str:
        result = CliRunner().invoke(cli.main, ["--keystore", str(keystore), *args], env=env, input=input)
        assert result.exit_code == 0, result.output
        return result.output

    card = issue(KAGA_RESIDENTS[2], pin="1357", signing_password="KAGA2026")
    soft, _ = card.write_soft_card(tmp_path / "emi.p12")
    old_keystore = tmp_path / "old.json"
    account = _keystore(old_keystore)
    wallet(old_keystore, "link-card", "--card", f"soft:{soft}", input="1357\nKAGA2026\n")
    resident = Resident(account, wallet_login(http, account))
    coin = contracts.coin

    # a top-up at the counter: ¥10,000 paid, 10,000 coins minted, the campaign premium as 1,000 points
    topup = http.post("/v1/admin/topups", headers=admin, json={
        "wallet": resident.address, "amount": 10_000, "channel": "counter", "reference": f"slip-{os.urandom(3).hex()}",
        "location": "加賀市役所 1F"})
    assert topup.status_code == 201, topup.text
    wait_until(lambda: (coin.balance_of(resident.address), coin.points_of(resident.address).unexpired)
               == (10_000, 1_000), what="the top-up", timeout=60)
    # the childcare benefit, approved by a clerk
    filed = Filer(http, RegionalCoinClient(runtime.w3, coin.address, coin.contract.abi)).submit(
        resident, "childcare-benefit")
    assert filed.status_code == 201, filed.text
    clerk = make_staff("clerk", "child-welfare")
    assert staff_post(http, clerk, filed.json()["id"], "claim").status_code == 200
    assert staff_post(http, clerk, filed.json()["id"], "approve").status_code == 200
    wait_until(lambda: coin.points_of(resident.address).unexpired == 31_000, what="the benefit", timeout=60)
    # a payment at a shop (the points pay it), then a partial refund (in coins)
    onboarded = http.post("/v1/admin/merchants", headers=admin, json={
        "business_name": "山中漆器 株式会社", "display_name": "山中漆器店", "bank_account": BANK})
    assert onboarded.status_code == 201, onboarded.text
    body = onboarded.json()
    merchant = Merchant(body["id"], body["wallet"], body["api_key"]["secret"], body)
    wait_until(lambda: http.get(f"/v1/admin/merchants/{merchant.id}", headers=admin).json()["status"] == "active",
               what="the merchant's registration")
    request = create_request(http, merchant, 2_200)
    assert "paid with: 2,200 points (spent first) + 0 coins" in wallet(old_keystore, "pay", request["id"], "--yes")
    refund = http.post("/v1/refunds", headers=merchant.headers, json={"payment_request": request["id"], "amount": 700})
    assert refund.status_code == 202, refund.text
    wait_until(lambda: coin.balance_of(resident.address) == 10_700, what="the refund", timeout=60)
    assert coin.points_of(resident.address).unexpired == 28_800

    def indexed(keystore, expected: int) -> list[dict[str, str]]:
        """The CSV once the index has caught up with the chain."""
        def caught_up() -> list[dict[str, str]] | None:
            rows = _csv(wallet(keystore, "history", "--csv"))
            return rows if rows and rows[0]["balance_after"] == str(expected) else None
        return wait_until(caught_up, what="the chain index", timeout=60)

    rows = indexed(old_keystore, 10_700)
    assert [(r["kind"], r["amount"], r["balance_after"], r["counterparty_name"], r["unit"], r["points"])
            for r in rows[:3]] == [
        ("refund", "700", "10700", "山中漆器店", "coins", "0"),
        ("payment", "-2200", "10000", "山中漆器店", "coins", "2200"),  # the points paid it: the coins stayed
        ("benefit", "30000", "10000", "加賀市", "points", "0")]
    # the top-up's coins and its premium points are two transactions, mined in either order
    assert {(r["kind"], r["amount"], r["unit"]) for r in rows[3:]} == {("topup", "10000", "coins"),
                                                                       ("topup_bonus", "1000", "points")}
    assert rows[2]["memo"] == "Childcare support benefit"  # what the benefit was for, off chain
    assert all(r["at"].endswith("+09:00") and r["tx_hash"].startswith("0x") for r in rows)
    table = wallet(old_keystore, "history")
    assert "balance 10,700 coins (the history adds up)" in table
    assert "山中漆器店" in table and "加賀市" in table and "top-up" in table and "benefit" in table
    assert "+30,000 pt" in table and "-2,200 (2,200 in points)" in table and "top-up premium" in table
    assert merchant.wallet not in table  # the shop by its name, not its address
    shown = wallet(old_keystore, "balance")
    assert "10,700" in shown and "28,800" in shown and "Points" in shown
    first = http.get("/v1/wallet/movements", params={"limit": 2}, headers=resident.headers).json()
    second = http.get("/v1/wallet/movements", params={"limit": 3, "starting_after": first["next_cursor"]},
                      headers=resident.headers).json()
    assert [m["kind"] for m in first["data"] + second["data"]][:3] == ["refund", "payment", "benefit"]
    assert first["has_more"] and not second["has_more"] and first["balance"] == second["balance"] == 10_700
    bogus = http.get("/v1/wallet/movements", params={"starting_after": "mv_0"}, headers=resident.headers)
    assert bogus.status_code == 422 and bogus.json()["error"]["param"] == "starting_after"
    assert http.get("/v1/wallet/movements").status_code == 401

    # the wallet is lost: a new one takes over with the card, and its history starts with the move
    new_keystore = tmp_path / "new.json"
    new = _keystore(new_keystore)
    wallet(new_keystore, "recover", "--card", f"soft:{soft}", "--lost", resident.address, input="1357\nKAGA2026\n")
    with runtime.sessions() as session:  # announced and delayed: let it run now
        (recovering,) = [row.id for row in session.query(WalletIdentity).filter_by(status="recovering")]
    let_recovery_run(runtime, recovering)
    wait_until(lambda: coin.balance_of(new.address) == 10_700, what="the balance move", timeout=60)
    assert coin.points_of(new.address).unexpired == 28_800  # the points moved with their expiry months
    moved = indexed(new_keystore, 10_700)
    assert [(r["kind"], r["amount"], r["balance_after"], r["counterparty"], r["unit"]) for r in moved] == [
        ("recovery", "28800", "10700", resident.address, "points"),
        ("recovery", "10700", "10700", resident.address, "coins")]
    table = wallet(new_keystore, "history")
    assert f"your lost wallet {resident.address}" in table and "the history adds up" in table
    ja = CliRunner().invoke(cli.main, ["--keystore", str(new_keystore), "history"],
                            env={**env, "MACHI_WALLET_LANG": "ja"})
    assert "再発行による移行" in ja.output and "紛失したウォレット" in ja.output and "JST" in ja.output
