"""Offline payments with the network cut, through the real programs: the resident's ``machi-wallet`` reserves
and signs with no service; two merchants' ``machi-pos`` counters check and keep the codes with no service;
the counters relay while the chain is still cut (the RPC proxy) and once it is back each payment is paid
exactly once; a reserve spent at both counters pays one and the other counter says why. Bad codes at the
counter are one clear line and nothing is kept."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator

import httpx
import pytest
from click.testing import CliRunner

from chain.faults import RpcProxy
from chain.node import free_port
from pos.cli import main as pos_cli
from procedures.auth.service import create_staff
from protocol.offline import OfflinePayment
from tests.pos.test_counter import pos_env
from tests.procedures.conftest import wait_until
from wallet.cli import main as wallet_cli


@pytest.fixture
def proxy(anvil) -> Iterator[RpcProxy]:
    with RpcProxy(anvil.url) as p:
        yield p


@pytest.fixture
def settings(settings, proxy):
    """The service reaches the chain only through the proxy (cut it to cut the chain)."""
    return settings.model_copy(update={"rpc_url": proxy.url, "rpc_timeout": 1.0})


@pytest.fixture(autouse=True)
def _reserve_ready(server, runtime):
    """The reserve's city-account registration (a start-up hook) is on chain before anyone reserves."""
    wait_until(lambda: runtime.registry.is_verified(runtime.reserve.address), 30, what="the reserve registered")


def _wallet(api: str, keystore, *args: str):
    return CliRunner().invoke(wallet_cli, ["--api-url", api, "--keystore", str(keystore), *args])


def _pos(api: str, key: str, store, *args: str):
    return CliRunner().invoke(pos_cli, [*args, "--store", str(store)], env=pos_env(api, key))


def _console(server: str, runtime, username: str, role: str) -> httpx.Client:
    """A console session of a new staff member."""
    password = f"{username} password 1"
    with runtime.sessions() as session, session.begin():
        create_staff(session, runtime.vault, username=username, password=password, role=role,
                     department=None if role == "admin" else "kosodate")
    client = httpx.Client(base_url=server, follow_redirects=False)
    form = client.get("/console/login")
    token = form.text.split('name="csrf_token" value="')[1].split('"')[0]
    client.post("/console/login", data={"username": username, "password": password, "csrf_token": token})
    return client


def _dead() -> str:
    return f"http://127.0.0.1:{free_port()}"


def _sign_offline(keystore, tmp_path, merchant_wallet: str, amount: int, name: str):
    out = tmp_path / f"{name}.txt"
    result = _wallet(_dead(), keystore, "pay", "--offline", merchant_wallet, "--amount", str(amount), "--out",
                     str(out), "--yes")
    assert result.exit_code == 0, result.output
    assert "█" in result.output or "▀" in result.output  # the QR code drawn in the terminal
    return out


def test_three_offline_payments_at_two_counters_with_the_network_cut(server, client, onboard, wallet_home, proxy,
                                                                     runtime, coin, tmp_path):
    keystore, address = wallet_home
    reserved = _wallet(server, keystore, "reserve", "3000", "--yes")
    assert reserved.exit_code == 0, reserved.output
    assert "3,000" in reserved.output
    balance = _wallet(server, keystore, "balance")
    assert "Offline reserve" in balance.output and "3,000" in balance.output and "7,000" in balance.output
    a, b = onboard("山中漆器店"), onboard("九谷焼窯元")
    store_a, store_b = tmp_path / "a.json", tmp_path / "b.json"
    for merchant, store in ((a, store_a), (b, store_b)):
        synced = _pos(server, merchant.key, store, "offline-sync")
        assert synced.exit_code == 0 and "1 resident" in synced.output, synced.output

    # the network goes: neither the wallet nor the counters can reach the service, nor the service the chain
    proxy.down("refuse")
    files = [(a, store_a, _sign_offline(keystore, tmp_path, a.wallet, 1_000, "one")),
             (b, store_b, _sign_offline(keystore, tmp_path, b.wallet, 1_200, "two")),
             (a, store_a, _sign_offline(keystore, tmp_path, a.wallet, 500, "three"))]
    for merchant, store, path in files:
        accepted = _pos(_dead(), merchant.key, store, "offline-accept", str(path))
        assert accepted.exit_code == 0 and "accepted" in accepted.output, accepted.output
    again = _pos(_dead(), a.key, store_a, "offline-accept", str(files[0][2]))
    assert again.exit_code == 1 and "accepted already" in again.output
    cut = _pos(_dead(), a.key, store_a, "offline-relay")
    assert cut.exit_code == 1 and "cannot reach" in cut.output and len(cut.output.strip().splitlines()) == 1
    assert {p["status"] for p in json.loads(store_a.read_text())["payments"].values()} == {"kept"}

    # the service is back, the chain not yet: the counters relay, the service keeps them queued
    relayed = _pos(server, a.key, store_a, "offline-relay", "--no-wait")
    assert relayed.exit_code == 0 and "2 offline payments relayed" in relayed.output, relayed.output
    relayed = _pos(server, b.key, store_b, "offline-relay", "--no-wait")
    assert relayed.exit_code == 0, relayed.output
    assert coin.balance_of(a.wallet) == 0  # nothing can be paid while the chain is cut (read past the proxy)
    listed = client.get("/v1/offline_payments", headers=a.headers).json()["data"]
    assert [p["status"] for p in listed] == ["relaying", "relaying"]
    # the operator's console shows the three waiting to be settled; a clerk cannot see the page
    page = _console(server, runtime, "kaikei", "admin").get("/console/admin/offline")
    assert page.status_code == 200 and "3 (¥2,700)" in page.text
    assert all(p["id"] in page.text for p in listed)
    assert _console(server, runtime, "kakari", "clerk").get("/console/admin/offline").status_code == 403

    proxy.up()
    done_a = _pos(server, a.key, store_a, "offline-relay")
    assert done_a.exit_code == 0, done_a.output
    wait_until(lambda: runtime.coin.balance_of(b.wallet) == 1_200, 30, what="merchant B paid")
    done_b = _pos(server, b.key, store_b, "offline-relay")
    listed_a = _pos(server, a.key, store_a, "offline-list").output
    assert listed_a.count("paid") == 2 and "1,000" in listed_a and "500" in listed_a, listed_a
    assert done_b.exit_code == 0 and "nothing" not in listed_a
    assert runtime.coin.balance_of(a.wallet) == 1_500 and runtime.coin.balance_of(b.wallet) == 1_200
    assert runtime.reserve.reserve_of(address)[0] == 300
    # relaying everything again pays nothing twice
    for merchant, store in ((a, store_a), (b, store_b)):
        for entry in json.loads(store.read_text())["payments"].values():
            response = client.post("/v1/offline_payments", headers=merchant.headers, json={"code": entry["code"]})
            assert (response.status_code, response.json()["status"]) == (200, "paid")
    assert runtime.coin.balance_of(a.wallet) == 1_500 and runtime.coin.balance_of(b.wallet) == 1_200


def test_one_reserve_spent_at_two_counters_pays_once_and_the_other_counter_says_why(server, onboard, wallet_home,
                                                                                   runtime, tmp_path):
    keystore, address = wallet_home
    assert _wallet(server, keystore, "reserve", "1000", "--yes").exit_code == 0
    a, b = onboard("山中漆器店"), onboard("九谷焼窯元")
    store_a, store_b = tmp_path / "a.json", tmp_path / "b.json"
    for merchant, store in ((a, store_a), (b, store_b)):
        assert _pos(server, merchant.key, store, "offline-sync").exit_code == 0
    first = _sign_offline(keystore, tmp_path, a.wallet, 800, "first")
    second = _sign_offline(keystore, tmp_path, b.wallet, 800, "second")
    assert _pos(_dead(), a.key, store_a, "offline-accept", str(first)).exit_code == 0
    assert _pos(_dead(), b.key, store_b, "offline-accept", str(second)).exit_code == 0

    paid = _pos(server, a.key, store_a, "offline-relay")
    refused = _pos(server, b.key, store_b, "offline-relay")
    assert paid.exit_code == 0 and "800 coins paid" in paid.output, paid.output
    assert refused.exit_code == 0 and "NOT paid" in refused.output and "already spent" in refused.output
    assert runtime.coin.balance_of(a.wallet) == 800 and runtime.coin.balance_of(b.wallet) == 0
    assert runtime.reserve.reserve_of(address)[0] == 200


def test_bad_codes_at_the_counter_are_one_line_and_nothing_is_kept(server, onboard, wallet_home, tmp_path):
    keystore, _ = wallet_home
    assert _wallet(server, keystore, "reserve", "1000", "--yes").exit_code == 0
    a = onboard("山中漆器店")
    store = tmp_path / "a.json"
    assert _pos(server, a.key, store, "offline-sync").exit_code == 0
    good = OfflinePayment.from_text(_sign_offline(keystore, tmp_path, a.wallet, 300, "good").read_text())
    expired = _wallet(_dead(), keystore, "pay", "--offline", a.wallet, "--amount", "300", "--valid-hours", "1",
                      "--out", str(tmp_path / "x.txt"), "--yes")
    assert expired.exit_code == 0
    cases = {
        "ethereum:0x0000000000000000000000000000000000000001@31337?value=300": "not a Machi Ledger offline payment",
        dataclasses.replace(good, amount=900).to_text(): "does not match this payment",
        _expired(good, keystore): "expired",
    }
    for code, words in cases.items():
        result = _pos(_dead(), a.key, store, "offline-accept", code)
        assert result.exit_code == 1 and words in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert json.loads(store.read_text())["payments"] == {}


def _expired(good: OfflinePayment, keystore) -> str:
    """The same payment signed by the payer with a validity that has passed."""
    import time

    from eth_account import Account

    from protocol.offline import sign_offline_payment
    from tests.wallet.test_cli_payments import PASSWORD

    key = Account.decrypt(json.loads(keystore.read_text()), PASSWORD)
    return sign_offline_payment(key, chain_id=good.chain_id, reserve=good.reserve, merchant=good.merchant,
                                amount=good.amount, valid_before=int(time.time()) - 60).to_text()


def test_release_reserve_from_the_wallet_takes_the_delay(server, wallet_home, runtime, tmp_path):
    keystore, address = wallet_home
    assert _wallet(server, keystore, "reserve", "1000", "--yes").exit_code == 0
    asked = _wallet(server, keystore, "release-reserve", "--yes")
    assert asked.exit_code == 0 and "release requested" in asked.output, asked.output
    wait_until(lambda: runtime.reserve.reserve_of(address)[1], 30, what="the release request on chain")
    early = _wallet(server, keystore, "release-reserve", "--yes")
    assert early.exit_code == 1 and "the release is due at" in early.output, early.output
    assert len(early.output.strip().splitlines()) == 1
    assert runtime.reserve.reserve_of(address)[0] == 1_000  # nothing comes back before the delay


def test_the_sync_follows_the_pages_of_reserves(server, client, onboard, wallet_home, make_resident, runtime,
                                                tmp_path):
    from tests.procedures.offline.conftest import reserve_json

    keystore, address = wallet_home
    assert _wallet(server, keystore, "reserve", "1000", "--yes").exit_code == 0
    others = [make_resident(coins=1_000) for _ in range(2)]
    for resident, amount in zip(others, (200, 300), strict=True):
        response = client.post("/v1/wallet/offline/reserve", headers=resident.headers,
                               json=reserve_json(runtime, resident.account, amount))
        assert response.status_code == 202, response.text
    payers = sorted([address, *(r.address for r in others)])
    wait_until(lambda: all(runtime.reserve.reserve_of(p)[0] for p in payers), 30, what="three reserves on chain")
    a = onboard("山中漆器店")

    first = client.get("/v1/offline/snapshot", params={"limit": 2}, headers=a.headers).json()
    assert [r["payer"] for r in first["reserves"]] == payers[:2] and first["has_more"], first
    last = client.get("/v1/offline/snapshot", params={"limit": 2, "starting_after": first["next_cursor"]},
                      headers=a.headers).json()
    assert [r["payer"] for r in last["reserves"]] == payers[2:] and not last["has_more"], last
    bad = client.get("/v1/offline/snapshot", params={"starting_after": "pr_nope"}, headers=a.headers)
    assert bad.status_code == 422 and bad.json()["error"]["param"] == "starting_after", bad.text

    store = tmp_path / "a.json"
    synced = _pos(server, a.key, store, "offline-sync", "--page-size", "1")
    assert synced.exit_code == 0 and "3 resident" in synced.output, synced.output
    kept = json.loads(store.read_text())["snapshot"]
    assert {r["payer"]: r["reserved"] for r in kept["reserves"]} == dict(zip(payers, [
        runtime.reserve.reserve_of(p)[0] for p in payers], strict=True))
    assert "has_more" not in kept and "next_cursor" not in kept


def test_a_kept_payment_about_to_expire_is_pointed_out(server, onboard, wallet_home, tmp_path):
    keystore, _ = wallet_home
    assert _wallet(server, keystore, "reserve", "1000", "--yes").exit_code == 0
    a = onboard("山中漆器店")
    store = tmp_path / "a.json"
    assert _pos(server, a.key, store, "offline-sync").exit_code == 0
    later = _sign_offline(keystore, tmp_path, a.wallet, 300, "later")  # the default: valid 48 h
    accepted = _pos(_dead(), a.key, store, "offline-accept", str(later))
    assert accepted.exit_code == 0 and "expires in" not in accepted.output, accepted.output
    soon = tmp_path / "soon.txt"
    assert _wallet(_dead(), keystore, "pay", "--offline", a.wallet, "--amount", "200", "--valid-hours", "1",
                   "--out", str(soon), "--yes").exit_code == 0
    accepted = _pos(_dead(), a.key, store, "offline-accept", str(soon))
    assert accepted.exit_code == 0 and "accepted" in accepted.output, accepted.output
    warned = [line for line in accepted.output.splitlines() if "expires in" in line]
    assert len(warned) == 1 and "200 coins" in warned[0], accepted.output
    assert "expires in 1h00m" in warned[0] or "expires in 0h59m" in warned[0], warned
    listed = _pos(_dead(), a.key, store, "offline-list").output
    warned = [line for line in listed.splitlines() if "expires in" in line]
    assert len(warned) == 1 and "200 coins" in warned[0] and "offline-relay" in warned[0], listed
