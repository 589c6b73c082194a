"""The resident CLI against a real HTTP server: a merchant asks, `machi-wallet pay` pays, the webhook arrives."""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from click.testing import CliRunner
from eth_account import Account

from chain.contracts.registry import AssuranceLevel
from chain.node import free_port
from procedures.app import create_app
from tests.procedures.conftest import wait_until
from tests.procedures.merchants.conftest import create_request, wait_request
from wallet.cli import main as wallet_cli
from wallet.keystore import keystore_address

PASSWORD = "wallet password 1"


@pytest.fixture
def server(client, settings, runtime) -> Iterator[str]:
    """The API on a real port (the workers run under ``client``)."""
    port = free_port()
    app = create_app(settings, runtime=runtime, workers=False)
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: srv.started, what="uvicorn")
    yield url
    srv.should_exit = True
    thread.join(10)


@pytest.fixture
def wallet_home(tmp_path, arrange, monkeypatch):
    keystore = tmp_path / "keystore.json"
    account = Account.create()  # the real format, with a cheap scrypt so each command unlocks fast
    keystore.write_text(json.dumps(Account.encrypt(account.key, PASSWORD, kdf="scrypt", iterations=2**10)))
    address = keystore_address(keystore)
    arrange.attest(address, AssuranceLevel.RESIDENT_OF_CITY)
    arrange.mint(address, 10_000)
    monkeypatch.setenv("MACHI_WALLET_PASSWORD", PASSWORD)
    monkeypatch.setenv("MACHI_WALLET_LANG", "en")
    return keystore, address


def _cli(server: str, keystore, *args: str, input: str | None = None):
    return CliRunner().invoke(wallet_cli, ["--api-url", server, "--keystore", str(keystore), *args], input=input)


def test_merchant_request_paid_from_the_cli_and_the_webhook_arrives(server, client, onboard, receiver, wallet_home,
                                                                     arrange):
    keystore, address = wallet_home
    merchant = onboard("山中漆器店")
    client.post("/v1/webhook_endpoints", headers=merchant.headers, json={"url": receiver.url})
    pr = create_request(client, merchant, 1_800)

    declined = _cli(server, keystore, "pay", pr["uri"], input="n\n")
    assert declined.exit_code == 1 and "山中漆器店" in declined.output and "1,800" in declined.output
    assert client.get(f"/v1/payment_requests/{pr['id']}", headers=merchant.headers).json()["status"] == "open"

    result = _cli(server, keystore, "pay", pr["uri"], input="y\n")
    assert result.exit_code == 0, result.output
    assert "paid 1,800 coins to 山中漆器店" in result.output and "confirmed" in result.output
    wait_request(client, merchant, pr["id"], "paid")
    event = wait_until(lambda: receiver.events("payment_request.paid"), what="webhook")[0]
    assert event["data"]["object"]["payer"] == address
    assert arrange.balance(address) == 8_200

    again = _cli(server, keystore, "pay", pr["id"], "--yes")
    assert again.exit_code == 1 and "paid" in again.output and "Traceback" not in again.output


def test_tampered_code_is_refused(server, client, onboard, wallet_home):
    keystore, _ = wallet_home
    merchant = onboard()
    pr = create_request(client, merchant, 500)
    tampered = pr["uri"].replace("uint256=500", "uint256=50")
    result = _cli(server, keystore, "pay", tampered, "--yes")
    assert result.exit_code == 1 and "does not match" in result.output
    assert client.get(f"/v1/payment_requests/{pr['id']}", headers=merchant.headers).json()["status"] == "open"


def test_scan_send_balance_and_history(server, client, onboard, wallet_home, make_resident, arrange):
    keystore, address = wallet_home
    merchant = onboard("九谷焼工房")
    static = client.get("/v1/merchant", headers=merchant.headers).json()["static_uri"]
    scanned = _cli(server, keystore, "scan", static, input="1200\ny\n")
    assert scanned.exit_code == 0, scanned.output
    assert "九谷焼工房" in scanned.output and "paid 1,200 coins" in scanned.output
    friend = make_resident()
    sent = _cli(server, keystore, "send", friend.address, "300", "--memo", "ランチ", "--yes")
    assert sent.exit_code == 0, sent.output
    assert arrange.balance(friend.address) == 300 and arrange.balance(merchant.wallet) == 1_200

    balance = _cli(server, keystore, "balance")
    assert balance.exit_code == 0 and "8,500" in balance.output
    # a confirmed transfer shows at once, its balance after only once the chain index has it: wait for both
    rows = wait_until(lambda: (lambda found: found if len(found) == 3 and all(r["balance_after"] for r in found)
                               else None)(list(csv.DictReader(io.StringIO(
        _cli(server, keystore, "history", "--csv").output)))), what="the chain index")
    assert [(r["kind"], r["direction"], r["amount"], r["balance_after"], r["status"]) for r in rows] == [
        ("p2p", "out", "-300", "8500", "confirmed"), ("payment", "out", "-1200", "8800", "confirmed"),
        ("mint", "in", "10000", "10000", "confirmed")]  # the arranged coins: a mint, from the city
    assert rows[0]["counterparty"] == friend.address and rows[1]["counterparty_name"] == "九谷焼工房"
    assert all(r["at"].endswith("+09:00") for r in rows)  # the city's time, with its offset
    table = _cli(server, keystore, "history")
    assert table.exit_code == 0 and "-1,200" in table.output and "ランチ" in table.output

    bad = _cli(server, keystore, "send", "0x1234", "5", "--yes")
    assert bad.exit_code == 1 and "not a wallet address" in bad.output
    down = CliRunner().invoke(wallet_cli, ["--api-url", f"http://127.0.0.1:{free_port()}", "--keystore", str(keystore),
                                           "balance"])
    assert down.exit_code == 1 and "cannot reach" in down.output
    assert httpx.get(f"{server}/healthz").status_code == 200
    time.sleep(0)  # keep the server fixture alive until here


def test_balance_and_history_in_japanese_with_the_address_whole(server, wallet_home, make_resident, monkeypatch):
    keystore, address = wallet_home
    monkeypatch.setenv("MACHI_WALLET_LANG", "ja")
    monkeypatch.setenv("COLUMNS", "100")
    friend = make_resident()
    assert _cli(server, keystore, "send", friend.address, "250", "--memo", "お茶代", "--yes").exit_code == 0
    balance = _cli(server, keystore, "balance")
    assert balance.exit_code == 0, balance.output
    assert any(address in line for line in balance.output.splitlines())  # the title does not wrap the address
    assert "残高" in balance.output and "使える額" in balance.output and "9,750" in balance.output
    history = _cli(server, keystore, "history")
    assert f"{address} の履歴" in history.output
    assert "送金" in history.output and "確定" in history.output and "-250" in history.output
    assert "お茶代" in history.output


def test_send_signs_again_when_an_earlier_payment_failed_before_it(
    server, client, runtime, wallet_home, make_resident, arrange
):
    """Two payments of one wallet in flight; the first is skipped on chain after both were accepted (its payee
    frozen meanwhile), so the CLI's is skipped too (nonce_ahead) — nothing moved, and `send` signs it once more
    on the number the chain is at, and it goes through."""
    from chain.contracts import sequence_nonce
    from tests.procedures.conftest import auth_json, wallet_login

    keystore, address = wallet_home
    account = Account.from_key(Account.decrypt(json.loads(keystore.read_text()), PASSWORD))
    bob, carol = make_resident(), make_resident()
    runtime.stop_workers()
    doomed = runtime.coin.sign_authorization(account, bob.address, 100, nonce=sequence_nonce(0),
                                     valid_before=int(time.time()) + 600)
    first = client.post("/v1/transfers", json={"authorization": auth_json(doomed)},
                        headers=wallet_login(client, account))
    assert first.status_code == 202, first.text
    result: list = []
    thread = threading.Thread(target=lambda: result.append(_cli(server, keystore, "send", carol.address, "200",
                                                                "--yes")))
    thread.start()
    headers = wallet_login(client, account)
    wait_until(lambda: len(client.get("/v1/wallet/history", headers=headers).json()["data"]) == 2,
               what="the CLI's payment accepted behind the first")
    arrange.freeze(bob.address)
    runtime.start_workers()
    thread.join(60)
    (sent,) = result
    assert sent.exit_code == 0, sent.output
    assert "sent 200 coins" in sent.output
    assert arrange.balance(carol.address) == 200 and arrange.balance(bob.address) == 0
    assert arrange.balance(address) == 10_000 - 200
