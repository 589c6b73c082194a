"""The merchant's counter end to end (issue 16) against a real ``machi serve`` with its own chain, every program
run as the people at the counter run it: ``machi-pos charge`` draws the QR code and waits while the resident
pays it with ``machi-wallet pay``; then, with no phone, the resident (opted in at the city counter with their
card) pays ``machi-pos card-pay`` with the My Number card and PIN; the day's statement has both; a wrong PIN
is one line and pays nothing; no PIN, key or password shows in any output or service log."""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
from pathlib import Path

import pytest

from chain.compiler import compile_contracts
from chain.contracts import load_city
from chain.deploy import load_manifest
from chain.rpc import connect
from protocol.cards.soft import SoftCard
from scripts.demo_residents import Person, Resident
from scripts.demo_tools import BIN, Api, Transcript, wait_for
from tests.e2e.logscan import scan

pytestmark = pytest.mark.timeout(900)

ADMIN, ADMIN_PASSWORD = "e2e-counter-admin", "e2e counter admin pw " + secrets.token_hex(4)


def _pos_env(service, key: str) -> dict[str, str]:
    return {**os.environ, "MACHI_API_URL": service.url, "MACHI_POS_API_KEY": key, "MACHI_POS_LANG": "en",
            "COLUMNS": "120", "LANG": "C.UTF-8"}


def _charge(service, key: str, amount: int, payer: Resident) -> tuple[int, str, str]:
    """``machi-pos charge`` in its own process; the resident pays the URI it prints with ``machi-wallet pay``."""
    process = subprocess.Popen([str(BIN / "machi-pos"), "charge", str(amount), "-d", "加賀棒茶"],
                               env=_pos_env(service, key), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               stdin=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.startswith("URI: "):
            payer.cli("pay", line.removeprefix("URI: ").strip(), "--yes")
            break
    out, err = process.communicate(timeout=180)
    return process.returncode, "".join(lines) + out, err


@pytest.mark.parametrize("shape", ["anvil"])  # the counter is node-agnostic; the story test runs every node shape
def test_the_counter_with_a_phone_and_without(story_service, tmp_path: Path) -> None:
    api, transcript = Api(story_service.url), Transcript()
    transcript.run("operator", "machi", "admin", "create-clerk", ADMIN, "--role", "admin", "--password",
                   ADMIN_PASSWORD, env=story_service.env)
    admin = api.staff_token(ADMIN, ADMIN_PASSWORD)

    hanako = Resident("Hanako", Person("加賀 花子", "1985-06-15", "female", "石川県加賀市大聖寺南町ニ41番地"),
                      tmp_path / "hanako", story_service.url, story_service.rpc_url, transcript)
    hanako.issue_card(story_service.env)
    hanako.new_wallet()
    hanako.link_card()
    merchant = api.json("POST", "/v1/admin/merchants", token=admin, json={
        "business_name": "加賀棒茶本舗 e2e", "display_name": "加賀棒茶本舗",
        "bank_account": {"bank_code": "0146", "branch_code": "101", "account_type": "ordinary",
                         "account_number": "7654321", "holder_name_kana": "カ）カガボウチャホンポ"}})
    key = merchant["api_key"]["secret"]
    api.until("/v1/merchant", key, "status", "active", "the merchant's registration")
    topup = api.json("POST", "/v1/admin/topups", token=admin, json={
        "wallet": hanako.wallet, "amount": 5_000, "channel": "counter", "reference": "E2E-COUNTER-1"})
    api.until(f"/v1/admin/topups/{topup['id']}", admin, "status", "confirmed", "the top-up")

    # with a phone: the QR code at the counter, machi-wallet pay
    code, out, err = _charge(story_service, key, 1_200, hanako)
    assert code == 0, err
    assert "paid: ¥1,200" in out and "RECEIPT" in out and "加賀棒茶本舗" in out and "▀" in out

    # without: the city counter opts Hanako in with her card, and tops the card wallet up
    challenge = api.json("POST", "/v1/admin/card_wallets/challenge", token=admin)
    card = SoftCard(hanako.card, hanako.pin)
    opted = api.json("POST", "/v1/admin/card_wallets", token=admin, json={
        "statement": challenge["statement"], "auth_certificate": base64.b64encode(card.auth_certificate()).decode(),
        "auth_signature": base64.b64encode(card.sign_auth(challenge["canonical"].encode(), hanako.pin)).decode()})
    w3 = connect(story_service.rpc_url)
    city = load_city(w3, load_manifest(w3, story_service.var / "deployments"), compile_contracts())
    wait_for(lambda: city.registry.is_verified(opted["wallet"]) or None, "the card wallet on chain")
    topup = api.json("POST", "/v1/admin/topups", token=admin, json={
        "wallet": opted["wallet"], "amount": 3_000, "channel": "counter", "reference": "E2E-COUNTER-2"})
    topup = api.until(f"/v1/admin/topups/{topup['id']}", admin, "status", "confirmed", "the card wallet's top-up")
    topup = api.until(f"/v1/admin/topups/{topup['id']}", admin, "points_status", "credited", "its premium points")

    card_pay = [str(BIN / "machi-pos"), "card-pay", "800", "-d", "九谷焼の小皿", "--card", f"soft:{hanako.card}"]
    wrong = subprocess.run(card_pay, env={**_pos_env(story_service, key), "MACHI_CARD_PIN": "0000"},
                           capture_output=True, text=True, timeout=180, check=False)
    assert wrong.returncode == 1 and wrong.stderr.strip() == "Error: wrong PIN", wrong.stderr
    paid = subprocess.run(card_pay, env={**_pos_env(story_service, key), "MACHI_CARD_PIN": hanako.pin},
                          capture_output=True, text=True, timeout=180, check=False)
    assert paid.returncode == 0, paid.stderr
    assert "paid: ¥800" in paid.stdout and "My Number card (card wallet)" in paid.stdout
    # the premium points (300) pay first, then coins
    assert city.coin.balance_of(opted["wallet"]) == topup["amount_minted"] - (800 - topup["bonus"])
    assert city.coin.points_of(opted["wallet"]).unexpired == 0

    day = subprocess.run([str(BIN / "machi-pos"), "statement"], env=_pos_env(story_service, key),
                         capture_output=True, text=True, timeout=120, check=False)
    assert day.returncode == 0 and "2 payment(s): ¥2,000" in day.stdout, day.stdout + day.stderr

    secrets_used = {**hanako.secrets, "api_key": [key], "staff_password": [ADMIN_PASSWORD]}
    outputs = {"charge": out + err, "wrong PIN": wrong.stdout + wrong.stderr, "card-pay": paid.stdout + paid.stderr,
               "statement": day.stdout, **story_service.logs()}
    found = scan(outputs, secrets_used)
    assert not found, found
