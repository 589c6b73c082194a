"""Two service processes on one database and one chain: one sender per key, no nonce conflicts."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from eth_account import Account
from sqlalchemy import select

from chain.contracts.authorization import random_nonce
from chain.contracts.coin import RegionalCoinClient
from chain.deploy import manifest_path, save_manifest
from chain.node import free_port
from chain.outbox import ChainTx
from chain.toolchain import PROJECT_ROOT
from tests.procedures.conftest import auth_json, service_env, wallet_login


@pytest.fixture
def two_services(anvil, city, database_url, engine, sessions, tmp_path, w3):
    var = tmp_path / "var"
    save_manifest(city.manifest, manifest_path(var / "deployments", w3.eth.chain_id))
    procs, bases = [], []
    for _ in range(2):
        port = free_port()
        env = service_env(anvil, database_url, var, MACHI_PORT=str(port))
        procs.append(subprocess.Popen([sys.executable, "-m", "procedures.cli", "serve"], cwd=PROJECT_ROOT, env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
        bases.append(f"http://127.0.0.1:{port}")
    try:
        for base, proc in zip(bases, procs, strict=True):
            deadline = time.monotonic() + 60
            while True:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else "service exited"
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "service did not become healthy"
                time.sleep(0.2)
        yield bases
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_two_processes_share_the_load_with_one_sender_per_key(two_services, arrange, w3, city, sessions):
    coin = RegionalCoinClient(w3, city.coin.address, city.coin.abi)
    payers = [Account.create() for _ in range(8)]
    payee = Account.create()
    arrange.attest(payee.address)
    for payer in payers:
        arrange.attest(payer.address)
        arrange.mint(payer.address, 1_000)
    headers = [wallet_login(two_services[i % 2], p) for i, p in enumerate(payers)]

    def pay(job: tuple[int, int]) -> str:
        index, round_ = job
        payer = payers[index]
        auth = coin.sign_authorization(payer, payee.address, 10, nonce=random_nonce(),
                                       valid_before=int(time.time()) + 600)
        body = {"authorization": auth_json(auth)}
        base = two_services[(index + round_) % 2]  # each payer alternates between the processes
        response = httpx.post(f"{base}/v1/transfers", json=body, headers=headers[index], timeout=30)
        assert response.status_code == 202, response.text
        return response.json()["id"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(pay, [(i, r) for r in range(5) for i in range(len(payers))]))

    deadline = time.monotonic() + 60
    pending = set(ids)
    while pending and time.monotonic() < deadline:
        for transfer_id in list(pending):
            payer_index = ids.index(transfer_id) % len(payers)  # jobs were issued payer by payer, round by round
            status = httpx.get(f"{two_services[payer_index % 2]}/v1/transfers/{transfer_id}",
                               headers=headers[payer_index]).json()["status"]
            if status == "confirmed":
                pending.discard(transfer_id)
            assert status != "failed"
        time.sleep(0.2)
    assert not pending, f"{len(pending)} transfers not confirmed"
    assert coin.balance_of(payee.address) == 10 * len(ids)

    with sessions() as session:
        txs = list(session.scalars(select(ChainTx)))
    instances_by_sender: dict[str, set[str]] = defaultdict(set)
    nonces_by_sender: dict[str, list[int]] = defaultdict(list)
    for tx in txs:
        instances_by_sender[tx.sender].add(tx.sent_by)
        nonces_by_sender[tx.sender].append(tx.nonce)
    for sender, instances in instances_by_sender.items():
        assert len(instances) == 1, f"{sender} was sent for by {instances}"
        nonces = sorted(nonces_by_sender[sender])
        assert nonces == list(range(nonces[0], nonces[0] + len(nonces))), "nonce gap or duplicate"
