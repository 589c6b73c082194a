"""Two service processes on one database and one chain: one sender per key, no nonce conflicts,
idempotency keys honoured across processes."""

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


def test_idempotency_keys_hold_across_processes(two_services, runtime):
    """The same Idempotency-Key sent to both processes at once makes one payment request; every
    answer is that request (a replay) and a different body under the key is a 409 from either process."""
    from procedures.auth.service import create_staff
    from tests.procedures.merchants.conftest import BANK

    with runtime.sessions() as session, session.begin():
        create_staff(session, runtime.vault, username="operator", password="operator password 1", role="admin")
    first, second = two_services
    token = httpx.post(f"{first}/v1/auth/staff/token", json={"username": "operator", "password": "operator password 1"})
    admin = {"Authorization": f"Bearer {token.json()['access_token']}"}
    merchant = httpx.post(f"{second}/v1/admin/merchants", headers=admin, timeout=30,
                          json={"business_name": "山代温泉まんじゅう", "bank_account": BANK}).json()
    deadline = time.monotonic() + 30
    while httpx.get(f"{first}/v1/admin/merchants/{merchant['id']}", headers=admin).json()["status"] != "active":
        assert time.monotonic() < deadline, "merchant registration did not confirm"
        time.sleep(0.2)
    headers = {"Authorization": f"Bearer {merchant['api_key']['secret']}", "Idempotency-Key": "order-2026-0042"}
    body = {"amount": 850, "description": "温泉まんじゅう 10個", "order_reference": "0042"}

    def create(index: int) -> httpx.Response:
        return httpx.post(f"{two_services[index % 2]}/v1/payment_requests", json=body, headers=headers, timeout=30)

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(create, range(6)))
    created = {answer.json()["id"] for answer in answers if answer.status_code == 201}
    assert len(created) == 1, [(a.status_code, a.text[:200]) for a in answers]
    # a racer that found the first request still running is told so (409) instead of making a second one
    assert all(a.status_code == 201 or a.json()["error"]["code"] == "idempotency_key_in_use" for a in answers)
    for base in two_services:
        replay = httpx.post(f"{base}/v1/payment_requests", json=body, headers=headers, timeout=30)
        assert replay.status_code == 201 and replay.json()["id"] in created
        assert replay.headers.get("Idempotent-Replayed") == "true"
        other = httpx.post(f"{base}/v1/payment_requests", json={**body, "amount": 900}, headers=headers, timeout=30)
        assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_key_reused"
    listed = httpx.get(f"{first}/v1/payment_requests", headers={"Authorization": headers["Authorization"]}).json()
    assert [r["id"] for r in listed["data"]] == list(created)
