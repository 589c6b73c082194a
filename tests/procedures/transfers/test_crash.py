"""kill -9 the service while payments are in flight, restart it: every accepted payment is confirmed
exactly once (a real uvicorn process on the test chain and database)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from eth_account import Account
from eth_utils.address import to_checksum_address
from sqlalchemy import select

from chain.contracts.coin import AUTHORIZATION_USED_TOPIC
from chain.deploy import manifest_path, save_manifest
from chain.node import rpc_call
from chain.outbox import ChainTx, TxStatus
from procedures.auth.service import create_staff
from procedures.config import DEV_SECRET
from procedures.crypto import Vault
from procedures.merchants.models import PaymentRequest
from procedures.transfers.models import Transfer
from scripts.soak_service import ServiceProcess
from tests.procedures.conftest import auth_json, service_env, sign, wait_until, wallet_login
from tests.procedures.merchants.conftest import BANK


@pytest.fixture
def service(anvil, city, database_url, engine, sessions, tmp_path, w3) -> Iterator[ServiceProcess]:
    var = tmp_path / "var"
    save_manifest(city.manifest, manifest_path(var / "deployments", w3.eth.chain_id))
    env = service_env(anvil, database_url, var, MACHI_BATCH_MAX_SIZE="8")
    svc = ServiceProcess(env, tmp_path / "service.log")
    svc.start(healthy=True)
    yield svc
    svc.stop()


def test_kill_dash_nine_mid_batch_then_restart_confirms_every_accepted_payment_once(
    service, anvil, arrange, sessions, coin, w3
):
    with sessions() as session, session.begin():
        create_staff(session, Vault(DEV_SECRET), username="ops", password="ops password 123", role="admin")
    operator = {"Authorization": "Bearer " + httpx.post(f"{service.base}/v1/auth/staff/token", json={
        "username": "ops", "password": "ops password 123"}).json()["access_token"]}
    onboarded = httpx.post(f"{service.base}/v1/admin/merchants", headers=operator,
                           json={"business_name": "山代温泉 まんじゅう", "bank_account": BANK}).json()
    merchant = {"Authorization": f"Bearer {onboarded['api_key']['secret']}"}
    wait_until(lambda: httpx.get(f"{service.base}/v1/merchant", headers=merchant).json()["status"] == "active",
               what="merchant")

    payers = [Account.create() for _ in range(16)]
    for payer in payers:
        arrange.attest(payer.address)
        arrange.mint(payer.address, 1_000)
    headers = [wallet_login(service.base, p) for p in payers]
    requests = [httpx.post(f"{service.base}/v1/payment_requests", headers=merchant,
                           json={"amount": 100 + i}).json() for i in range(len(payers))]

    def pay(i: int) -> str:
        auth = sign(coin, payers[i], onboarded["wallet"], requests[i]["amount"])
        response = httpx.post(f"{service.base}/v1/pay/requests/{requests[i]['id']}", headers=headers[i],
                              json={"authorization": auth_json(auth)}, timeout=30)
        assert response.status_code == 202, response.text
        return response.json()["transfer"]["id"]

    rpc_call(anvil.url, "evm_setAutomine", [False])  # transactions wait in the mempool: payments in flight
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            accepted = list(pool.map(pay, range(8)))

        def sent() -> bool:
            with sessions() as session:
                return bool(session.scalar(select(ChainTx.id).where(ChainTx.status == TxStatus.SENT)))

        wait_until(sent, what="a batch in the mempool")
        with ThreadPoolExecutor(max_workers=8) as pool:
            accepted += list(pool.map(pay, range(8, 16)))
        service.kill9()
        with sessions() as session:
            statuses = Counter(session.scalars(select(Transfer.status)))
        assert statuses == {"accepted": 16}  # nothing was confirmed before the crash
        rpc_call(anvil.url, "evm_mine")  # what was sent gets mined while the service is down
    finally:
        rpc_call(anvil.url, "evm_setAutomine", [True])

    service.start(healthy=True)

    def all_final() -> bool:
        with sessions() as session:
            return all(t.status != "accepted" for t in session.scalars(select(Transfer)))

    wait_until(all_final, timeout=30, what="every transfer final after the restart")
    with sessions() as session:
        transfers = {t.id: t for t in session.scalars(select(Transfer))}
        requests_now = {pr.id: pr for pr in session.scalars(select(PaymentRequest))}
        txs = list(session.scalars(select(ChainTx).where(ChainTx.status == TxStatus.CONFIRMED)))
    assert sorted(transfers) == sorted(accepted)
    assert {t.status for t in transfers.values()} == {"confirmed"}
    assert {pr.status for pr in requests_now.values()} == {"paid"}
    nonces = Counter((tx.sender, tx.nonce) for tx in txs)
    assert max(nonces.values()) == 1  # one transaction per nonce: nothing was sent twice

    # On chain: each accepted payment relayed exactly once, balances exact.
    relayed = Counter()
    for log in w3.eth.get_logs({"address": coin.address, "fromBlock": 0, "toBlock": "latest",
                                "topics": [AUTHORIZATION_USED_TOPIC]}):
        relayed[(to_checksum_address(bytes(log["topics"][1])[-20:]), "0x" + bytes(log["topics"][2]).hex())] += 1
    for transfer in transfers.values():
        assert relayed[(transfer.from_wallet, transfer.nonce)] == 1, transfer.id
    assert coin.balance_of(onboarded["wallet"]) == sum(100 + i for i in range(16))
    assert [coin.balance_of(p.address) for p in payers] == [1_000 - (100 + i) for i in range(16)]
