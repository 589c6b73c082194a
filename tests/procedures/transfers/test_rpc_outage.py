"""The service while its chain RPC is down (a real anvil behind ``chain.faults.RpcProxy``).

(a) chain calls give up after ``rpc_timeout`` instead of hanging a request;
(b) a request that needs the chain answers 503 ``chain_unavailable`` with ``Retry-After`` in the
    standard error shape, while reads and DB-only writes keep working;
(c) the relayer and the other workers ride the outage out: logged once, nothing failed, nothing
    sent twice, everything confirmed once the node answers again; /healthz shows the chain down.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator

import pytest
from eth_utils.address import to_checksum_address
from sqlalchemy import select

from chain.contracts.coin import AUTHORIZATION_USED_TOPIC
from chain.faults import RpcProxy
from chain.node import rpc_call
from chain.outbox import ChainTx, IntentStatus, TxIntent, TxStatus
from chain.roles import KEY_ROLES
from procedures.transfers.models import Transfer
from tests.procedures.conftest import MONITORING, auth_json, sign, wait_until
from tests.procedures.merchants.conftest import create_request


@pytest.fixture
def proxy(anvil) -> Iterator[RpcProxy]:
    with RpcProxy(anvil.url) as p:
        yield p


@pytest.fixture
def settings(settings, proxy):
    """The service talks to the chain only through the proxy, with a short RPC timeout."""
    settings.rpc_url = proxy.url
    settings.rpc_timeout = 1.0
    return settings


def _assert_chain_unavailable(response) -> None:
    assert response.status_code == 503, response.text
    assert int(response.headers["Retry-After"]) > 0
    assert response.json() == {"error": {"type": "api_error", "code": "chain_unavailable",
                                         "message": "the chain node is not reachable; retry shortly", "param": None}}


@pytest.mark.parametrize("mode", ["refuse", "stall"])
def test_requests_needing_the_chain_answer_503_while_reads_and_queued_writes_go_on(
    mode, client, proxy, onboard, make_resident, coin, caplog
):
    merchant = onboard()
    payer = make_resident(coins=5_000)
    paid = create_request(client, merchant, amount=300)
    first = client.post(f"/v1/pay/requests/{paid['id']}", headers=payer.headers,
                        json={"authorization": auth_json(sign(coin, payer.account, merchant.wallet, 300))})
    assert first.status_code == 202, first.text
    transfer_id = first.json()["transfer"]["id"]
    pending = create_request(client, merchant, amount=400)
    auth = sign(coin, payer.account, merchant.wallet, 400)

    caplog.set_level(logging.WARNING, logger="machi.api")
    proxy.down(mode)
    try:
        # (b) needs the chain: the standard 503, never a 500 or a hang (the timeout is 1 s in "stall")
        _assert_chain_unavailable(client.post(f"/v1/pay/requests/{pending['id']}", headers=payer.headers,
                                              json={"authorization": auth_json(auth)}))
        _assert_chain_unavailable(client.get("/v1/wallet/balance", headers=payer.headers))
        # reads from the database still answer
        assert client.get(f"/v1/transfers/{transfer_id}", headers=payer.headers).status_code == 200
        assert client.get(f"/v1/payment_requests/{paid['id']}", headers=merchant.headers).status_code == 200
        assert client.get("/v1/wallet/history", headers=payer.headers).status_code == 200
        # payment-request creation is database-only: accepted during the outage
        queued = client.post("/v1/payment_requests", headers=merchant.headers, json={"amount": 500})
        assert queued.status_code == 201, queued.text
        health = client.get("/healthz", headers=MONITORING)
        assert health.status_code == 503
        assert health.json()["chain"]["ok"] is False
    finally:
        proxy.up()
    warnings = [r for r in caplog.records if r.name == "machi.api" and "chain unreachable" in r.getMessage()]
    assert len(warnings) <= 1  # an outage is logged once, not once per request

    # The same signed authorization, retried after the outage, goes through (idempotent by nonce).
    retried = client.post(f"/v1/pay/requests/{pending['id']}", headers=payer.headers,
                          json={"authorization": auth_json(auth)})
    assert retried.status_code == 202, retried.text
    assert wait_until(lambda: client.get("/healthz").status_code == 200, what="healthy again")


def test_the_relayer_rides_out_an_outage_without_failing_or_resending(
    client, proxy, anvil, onboard, make_resident, coin, sessions, w3, runtime, caplog
):
    merchant = onboard()
    payers = [make_resident(coins=1_000) for _ in range(4)]
    requests_ = [create_request(client, merchant, amount=100 + i) for i in range(len(payers))]

    rpc_call(anvil.url, "evm_setAutomine", [False])  # the batch waits in the mempool
    try:
        accepted = []
        for payer, pr in zip(payers, requests_, strict=True):
            response = client.post(f"/v1/pay/requests/{pr['id']}", headers=payer.headers, json={
                "authorization": auth_json(sign(coin, payer.account, merchant.wallet, pr["amount"]))})
            assert response.status_code == 202, response.text
            accepted.append(response.json()["transfer"]["id"])

        def sent() -> bool:
            with sessions() as session:
                return bool(session.scalar(select(ChainTx.id).where(ChainTx.status == TxStatus.SENT,
                                                                    ChainTx.batch_key.is_not(None))))

        wait_until(sent, what="the batch in the mempool")
        caplog.set_level(logging.WARNING, logger="machi.relayer")
        proxy.down("refuse")
        rpc_call(anvil.url, "evm_mine")  # mined while the service cannot see the chain
        relayers = wait_until(lambda: len(runtime.relayers) == len(KEY_ROLES) and runtime.relayers, what="relayers")
        [sender] = [r for r in relayers if r.sender == runtime.keys.relayer.address]  # the one with work
        wait_until(lambda: sender.chain_down_since is not None, what="the relayer noticing")
        health = client.get("/healthz", headers=MONITORING).json()
        assert health["chain"]["ok"] is False
        assert [r["last_error"] for r in health["workers"]["relayers"] if r["sender"] == sender.sender] != [None]
        # More passes fail while down: nothing is marked failed, nothing is re-queued, nothing re-logged.
        failed_before = sender.stats.failed_passes
        wait_until(lambda: sender.stats.failed_passes >= failed_before + 3, what="more failed passes")
        with sessions() as session:
            assert not session.scalar(select(TxIntent.id).where(TxIntent.status == IntentStatus.FAILED))
            assert Counter(session.scalars(select(Transfer.status))) == {"accepted": len(payers)}
    finally:
        proxy.up()
        rpc_call(anvil.url, "evm_setAutomine", [True])

    def all_confirmed() -> bool:
        with sessions() as session:
            return set(session.scalars(select(Transfer.status))) == {"confirmed"}

    wait_until(all_confirmed, timeout=30, what="every payment confirmed after the outage")
    assert client.get("/healthz").status_code == 200
    unreachable = [r.getMessage() for r in caplog.records
                   if r.name == "machi.relayer" and "unreachable" in r.getMessage()]
    assert len(unreachable) == 1, unreachable  # logged once per outage, not once per retry
    assert sender.chain_down_since is None and sender.stats.last_error is None  # resumed

    with sessions() as session:
        transfers = list(session.scalars(select(Transfer)))
        nonces = Counter(session.execute(select(ChainTx.sender, ChainTx.nonce)).all())
    assert sorted(t.id for t in transfers) == sorted(accepted)
    assert max(nonces.values()) == 1  # one signed transaction per nonce: nothing re-signed or re-sent
    relayed = Counter((to_checksum_address(bytes(log["topics"][1])[-20:]), "0x" + bytes(log["topics"][2]).hex())
                    for log in w3.eth.get_logs(
        {"address": coin.address, "fromBlock": 0, "toBlock": "latest", "topics": [AUTHORIZATION_USED_TOPIC]}))
    assert all(relayed[(t.from_wallet, t.nonce)] == 1 for t in transfers)
    assert coin.balance_of(merchant.wallet) == sum(100 + i for i in range(len(payers)))


def test_a_service_started_while_the_chain_is_down_comes_up_and_relays_once_it_is_back(
    settings, runtime, engine, proxy, arrange, coin, sessions, caplog
):
    from eth_account import Account
    from fastapi.testclient import TestClient

    from procedures.app import create_app
    from procedures.runtime import Runtime
    from procedures.transfers import service as transfers

    payer, payee = Account.create(), Account.create()
    for account in (payer, payee):
        arrange.attest(account.address)
    arrange.mint(payer.address, 500)
    with runtime.sessions() as session, session.begin():  # queued by a process that then died
        transfer_id = transfers.accept(session, runtime, sign(coin, payer, payee.address, 120), kind="p2p").id

    caplog.set_level(logging.WARNING, logger="machi.runtime")
    proxy.down("refuse")
    fresh = Runtime.create(settings, engine=engine)  # a new process: no chain connection, no manifest yet
    try:
        with TestClient(create_app(settings, runtime=fresh, workers=True)) as restarted:
            health = restarted.get("/healthz", headers=MONITORING)
            assert health.status_code == 503 and health.json()["chain"]["ok"] is False
            wait_until(lambda: any("waits for the chain" in r.getMessage() for r in caplog.records),
                       what="the relayer waiting")
            with sessions() as session:
                assert session.get(Transfer, transfer_id).status == "accepted"  # nothing failed meanwhile
            proxy.up()

            def confirmed() -> bool:
                with sessions() as session:
                    return session.get(Transfer, transfer_id).status == "confirmed"

            wait_until(confirmed, timeout=40, what="the queued transfer confirmed after the chain came back")
            assert restarted.get("/healthz").status_code == 200
    finally:
        proxy.up()
    assert coin.balance_of(payee.address) == 120


def test_a_service_started_while_the_chain_is_down_still_takes_payment_requests(
    settings, client, engine, proxy, onboard, coin
):
    """A process that has never reached the chain builds payment URIs from the recorded deployment."""
    from fastapi.testclient import TestClient

    from procedures.app import create_app
    from procedures.runtime import Runtime

    merchant = onboard()
    proxy.down("refuse")
    fresh = Runtime.create(settings, engine=engine)  # a new process: no chain connection, no manifest yet
    try:
        with TestClient(create_app(settings, runtime=fresh, workers=False)) as restarted:
            created = restarted.post("/v1/payment_requests", headers=merchant.headers, json={"amount": 700})
            assert created.status_code == 201, created.text
            assert created.json()["uri"].startswith(f"ethereum:{coin.address}@{settings.chain_id}/transfer?")
            static = restarted.get("/v1/merchant", headers=merchant.headers)
            assert static.status_code == 200 and coin.address in static.json()["static_uri"]
            _assert_chain_unavailable(restarted.get("/v1/merchant/balance", headers=merchant.headers))
    finally:
        proxy.up()
        fresh.close()
    again = client.get(f"/v1/payment_requests/{created.json()['id']}", headers=merchant.headers)
    assert again.json()["uri"] == created.json()["uri"]  # the same URI the chain-backed path gives
    assert create_request(client, merchant, amount=700)["uri"].split("&req=")[0] == \
        created.json()["uri"].split("&req=")[0]
