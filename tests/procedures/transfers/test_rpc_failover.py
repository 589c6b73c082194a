"""Two JSON-RPC endpoints of one chain (``MACHI_RPC_URLS``), the first cut mid-run with the RPC proxy
(``chain.faults.RpcProxy``): payments go on through the second — accepted, relayed and confirmed, never a
503 — and nothing is sent twice, not even the batch that was in flight through the first when it died.

Both proxies forward to the one anvil, as two nodes of one network share its chain and (by gossip) its
transaction pool.
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
from chain.outbox import ChainTx, TxStatus
from procedures.transfers.models import Transfer
from tests.procedures.conftest import auth_json, sign, wait_until
from tests.procedures.merchants.conftest import create_request


@pytest.fixture
def endpoints(anvil) -> Iterator[tuple[RpcProxy, RpcProxy]]:
    with RpcProxy(anvil.url) as first, RpcProxy(anvil.url) as second:
        yield first, second


@pytest.fixture
def settings(settings, endpoints):
    """The service knows the chain only as the two endpoints, the first one first."""
    settings.rpc_url = None
    settings.rpc_urls = [proxy.url for proxy in endpoints]
    settings.rpc_timeout = 1.0
    return settings


def _pay(client, coin, merchant, payer, amount: int) -> str:
    request = create_request(client, merchant, amount=amount)
    response = client.post(f"/v1/pay/requests/{request['id']}", headers=payer.headers,
                           json={"authorization": auth_json(sign(coin, payer.account, merchant.wallet, amount))})
    assert response.status_code == 202, response.text  # never a 503: the second endpoint answers
    return str(response.json()["transfer"]["id"])


@pytest.mark.parametrize("mode", ["refuse", "stall"])
def test_payments_go_on_through_the_second_endpoint_and_nothing_is_sent_twice(
    mode, client, endpoints, anvil, onboard, make_resident, coin, sessions, w3, runtime, caplog
):
    first, second = endpoints
    merchant = onboard()
    payers = [make_resident(coins=2_000) for _ in range(6)]
    amounts = iter(range(100, 200))
    accepted = [_pay(client, coin, merchant, payers[0], next(amounts))]  # through the first endpoint
    wait_until(lambda: client.get(f"/v1/transfers/{accepted[0]}", headers=payers[0].headers).json()["status"]
               == "confirmed", what="a first payment through the first endpoint")

    rpc_call(anvil.url, "evm_setAutomine", [False])  # the next batch waits in the pool, sent through the first
    try:
        accepted += [_pay(client, coin, merchant, payer, next(amounts)) for payer in payers[1:3]]

        def in_flight() -> bool:
            with sessions() as session:
                return bool(session.scalar(select(ChainTx.id).where(ChainTx.status == TxStatus.SENT,
                                                                    ChainTx.batch_key.is_not(None))))

        wait_until(in_flight, what="a batch sent and not yet mined")
        caplog.set_level(logging.WARNING, logger="machi.rpc")
        first.down(mode)
        rpc_call(anvil.url, "evm_mine")  # mined while the first endpoint is cut
        accepted += [_pay(client, coin, merchant, payer, next(amounts)) for payer in payers[3:]]  # during the cut
        assert client.get("/healthz").status_code == 200  # the service still has its chain
    finally:
        rpc_call(anvil.url, "evm_setAutomine", [True])

    def all_confirmed() -> bool:
        with sessions() as session:
            return set(session.scalars(select(Transfer.status))) == {"confirmed"}

    wait_until(all_confirmed, timeout=60, what="every payment confirmed through the second endpoint")
    first.up()
    failovers = [r.getMessage() for r in caplog.records if r.name == "machi.rpc" and "failing over" in r.getMessage()]
    assert failovers and all(second.url in message for message in failovers), failovers

    with sessions() as session:
        transfers = list(session.scalars(select(Transfer)))
        nonces = Counter(session.execute(select(ChainTx.sender, ChainTx.nonce)).all())
    assert sorted(t.id for t in transfers) == sorted(accepted) and len(transfers) == len(payers)
    assert max(nonces.values()) == 1  # one signed transaction per nonce: nothing re-signed for the second node
    relayed = Counter((to_checksum_address(bytes(log["topics"][1])[-20:]), "0x" + bytes(log["topics"][2]).hex())
                    for log in w3.eth.get_logs(
        {"address": coin.address, "fromBlock": 0, "toBlock": "latest", "topics": [AUTHORIZATION_USED_TOPIC]}))
    assert all(relayed[(t.from_wallet, t.nonce)] == 1 for t in transfers)  # each payment relayed exactly once
    assert coin.balance_of(merchant.wallet) == sum(range(100, 100 + len(payers)))
