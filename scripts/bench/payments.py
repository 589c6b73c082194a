"""Resident payments per second through the running service, against a naive ERC-20 peer.

Starts its own in-memory anvil (automine) and database (SQLite in a temp dir, or the PostgreSQL
of ``DATABASE_URL`` in a throwaway schema), deploys the city, and runs the service under uvicorn
in a subprocess (``scripts.bench._serve``: the app as ``machi serve`` builds it, with a larger
worker-thread pool — see there why; ``BENCH_API_PROCESSES`` API processes, default 1). Then
``BENCH_PAYMENTS_CLIENTS`` (default 64) concurrent clients each pay
``BENCH_PAYMENTS_PER_CLIENT`` (default 12) payment requests over HTTP, one after the other
(``POST /v1/pay/requests/{id}`` with a signed ERC-3009 authorization). Latency is from the client
sending the request to the transfer being confirmed (its ``confirmed_at``, same clock).

Not timed: onboarding the merchant, attesting and funding residents, creating the requests,
issuing resident tokens (straight in the database: the login endpoint is rate-limited per IP),
and signing (every resident signs on their own device).

The naive peer: the same number of clients, each sending the same number of plain OpenZeppelin
ERC-20 ``transfer`` transactions with web3.py (sign, send, wait for the receipt), on the same node.

``BENCH_PROFILE=1`` records the service processes with py-spy (if installed) as collapsed stacks
into ``var/bench/payments-profile-<n>.txt``; service logs go to ``var/bench/payments-service-<n>.log``.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import select, text
from web3 import Web3

from chain.compiler import compile_contracts
from chain.contracts.authorization import random_nonce
from chain.contracts.base import Call, role_id
from chain.deploy import send_transaction
from chain.fees import FeePolicy, Fees, build_transaction
from chain.node import LocalNode, NodeConfig, free_port
from chain.rpc import connect
from chain.toolchain import PROJECT_ROOT
from procedures.auth.service import issue_token
from procedures.config import DEV_ADMIN_KEY, Settings
from scripts.bench._common import bench_database, drop_bench_database, fund

CLIENTS = int(os.environ.get("BENCH_PAYMENTS_CLIENTS", "64"))
PER_CLIENT = int(os.environ.get("BENCH_PAYMENTS_PER_CLIENT", "12"))
PROFILE = os.environ.get("BENCH_PROFILE") == "1"
API_PROCESSES = int(os.environ.get("BENCH_API_PROCESSES", "1"))
#: Run the relayer and other workers in their own process (``machi worker relayer``), as in production.
SEPARATE_WORKERS = os.environ.get("BENCH_SEPARATE_WORKERS", "1") == "1"
OPERATOR_PASSWORD = "bench operator " + uuid.uuid4().hex  # a throwaway account in a throwaway database
BANK = {"bank_code": "0146", "branch_code": "101", "account_type": "ordinary", "account_number": "1234567",
        "holder_name_kana": "ｶ)ﾍﾞﾝﾁ"}


def _send_all(w3: Web3, account: LocalAccount, calls: Sequence[Call], fees: FeePolicy | None = None) -> None:
    """Send many calls from one key without waiting in between; wait for the last receipt.

    ``fees`` prices them (the network profile's policy); default 100 gwei max fee, 1 gwei tip."""
    nonce = w3.eth.get_transaction_count(account.address, "pending")
    chain_id = w3.eth.chain_id
    quote = fees.quote(w3) if fees is not None else Fees(10**11, 10**9)
    last = None
    for call in calls:
        tx = build_transaction(fees or FeePolicy(), chain_id=chain_id, nonce=nonce, to=call.to, data=call.data,
                               value=call.value, gas=300_000, fees=quote)
        last = w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
        nonce += 1
    if last is not None:
        w3.eth.wait_for_transaction_receipt(last, timeout=120, poll_latency=0.05)


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def _in_parallel(jobs: list[Callable[[], Any]], workers: int) -> list[Any]:
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda job: job(), jobs))


class _Service:
    def __init__(self, env: dict[str, str], log: Path, profile_to: Path | None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "scripts.bench._serve", str(self.port)]
        self.profiler: subprocess.Popen[bytes] | None = None
        self._log = log.open("wb")
        self.proc = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=self._log, stderr=self._log)
        self.profile_to = profile_to
        deadline = time.monotonic() + 90
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the service exited: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the service did not become healthy")
            time.sleep(0.1)

    def start_profile(self) -> None:
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        if self.profile_to is None or not Path(spy).exists():
            return
        self.profile_to.parent.mkdir(parents=True, exist_ok=True)
        self.profiler = subprocess.Popen(
            [spy, "record", "--pid", str(self.proc.pid), "--rate", "200", "--format", "raw", "--threads", "--gil",
             "--output", str(self.profile_to.with_suffix(".txt")), "--nonblocking"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop_profile(self) -> None:
        if self.profiler is not None:
            self.profiler.send_signal(2)  # py-spy writes its output on SIGINT
            self.profiler.wait(30)
            self.profiler = None

    def stop(self) -> None:
        self.stop_profile()
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._log.close()


def _service_side(w3: Web3, node: LocalNode, url: str, schema: str | None, var: Path,
                  deployer: LocalAccount) -> dict[str, Any]:
    """The benchmark proper: the service under ``CLIENTS`` concurrent payers."""
    from procedures.auth.service import create_staff
    from procedures.merchants import payment_requests
    from procedures.merchants.accounts import get_merchant
    from procedures.runtime import Runtime
    from procedures.transfers.models import Transfer

    settings = Settings(environment="test", var_dir=var, database_url=url, database_schema=schema, rpc_url=node.url,
                        chain_id=w3.eth.chain_id)
    runtime = Runtime.create(settings)
    runtime.deploy(Account.from_key(DEV_ADMIN_KEY))
    coin, registry = runtime.coin, runtime.registry
    send_transaction(w3, deployer, registry.grant_role_call(role_id("REGISTRAR_ROLE"), deployer.address)
                     .as_transaction(deployer.address))
    send_transaction(w3, deployer, coin.configure_minter_call(deployer.address, 10**12)
                     .as_transaction(deployer.address))
    with runtime.sessions() as session, session.begin():
        create_staff(session, runtime.vault, username="bench", password=OPERATOR_PASSWORD, role="admin")

    env = {**os.environ, "MACHI_ENVIRONMENT": "test", "MACHI_RPC_URL": node.url, "DATABASE_URL": url,
           "MACHI_VAR_DIR": str(var), "MACHI_LOG_LEVEL": "WARNING",
           "MACHI_RELAYER_POLL_INTERVAL": os.environ.get("BENCH_POLL", "0.05"),
           "MACHI_BATCH_MAX_WAIT": os.environ.get("BENCH_BATCH_WAIT", "0.2"), "MACHI_BATCH_MAX_SIZE": "100"}
    if schema:
        env["MACHI_DATABASE_SCHEMA"] = schema
    out = PROJECT_ROOT / "var" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    services: list[_Service] = []
    worker_proc: subprocess.Popen[bytes] | None = None
    try:
        # The workers (relayers, webhooks, expiry) run in their own process, or in API process 0.
        for i in range(API_PROCESSES):
            services.append(_Service({**env, "MACHI_RUN_WORKERS": "true" if i == 0 and not SEPARATE_WORKERS
                                      else "false"}, out / f"payments-service-{i}.log",
                                     out / f"payments-profile-{i}" if PROFILE else None))
        if SEPARATE_WORKERS:
            workers_log = (out / "payments-workers.log").open("wb")
            worker_proc = subprocess.Popen([str(Path(sys.executable).with_name("machi")), "worker", "relayer"],
                                           cwd=PROJECT_ROOT, env=env, stdout=workers_log, stderr=workers_log)
        service = services[0]
        http = httpx.Client(base_url=service.base, timeout=60)
        token = http.post("/v1/auth/staff/token", json={"username": "bench", "password": OPERATOR_PASSWORD})
        operator = {"Authorization": f"Bearer {token.json()['access_token']}"}
        merchant = http.post("/v1/admin/merchants", headers=operator,
                             json={"business_name": "ベンチ商店", "bank_account": BANK}).json()
        deadline = time.monotonic() + 30
        while registry.status(merchant["wallet"]).verified is False:
            if time.monotonic() > deadline:
                raise RuntimeError("merchant registration did not confirm")
            time.sleep(0.05)

        payers = [Account.create() for _ in range(CLIENTS)]
        expires = int(time.time()) + 30 * 86400
        _send_all(w3, deployer, [registry.attest_call(p.address, os.urandom(32), 2, expires, os.urandom(32))
                                 for p in payers] + [coin.mint_call(p.address, 100_000) for p in payers])
        amounts = [[100 + (c * PER_CLIENT + i) % 900 for i in range(PER_CLIENT)] for c in range(CLIENTS)]
        with runtime.sessions() as session, session.begin():
            shop = get_merchant(session, merchant["id"])
            requests = [[payment_requests.create_request(session, runtime, shop, amount=a, description=None,
                                                         order_reference=None, expires_in=3600, metadata=None).id
                         for a in row] for row in amounts]
            tokens = [issue_token(session, "resident", p.address, timedelta(hours=1))[0] for p in payers]
        signed = [[coin.sign_authorization(p, merchant["wallet"], a, nonce=random_nonce(),
                                           valid_before=int(time.time()) + 3600) for a in row]
                  for p, row in zip(payers, amounts, strict=True)]

        sent_at: dict[str, float] = {}
        errors: list[str] = []

        def client(index: int) -> Callable[[], None]:
            def run() -> None:
                with httpx.Client(base_url=services[index % len(services)].base, timeout=60,
                                  headers={"Authorization": f"Bearer {tokens[index]}"}) as c:
                    for request_id, auth in zip(requests[index], signed[index], strict=True):
                        body = {"authorization": auth.to_json()}
                        started = time.time()
                        response = c.post(f"/v1/pay/requests/{request_id}", json=body)
                        if response.status_code != 202:
                            errors.append(response.text)
                            continue
                        sent_at[response.json()["transfer"]["id"]] = started
            return run

        for svc in services:
            svc.start_profile()
        began = time.time()
        _in_parallel([client(i) for i in range(CLIENTS)], CLIENTS)
        accepted_by = time.time()
        total = CLIENTS * PER_CLIENT
        if errors:
            raise RuntimeError(f"{len(errors)} payments refused, e.g. {errors[0]}")
        confirmed: dict[str, float] = {}
        deadline = time.monotonic() + 120
        while len(confirmed) < total:
            with runtime.sessions() as session:
                for transfer_id, status, at, why in session.execute(select(
                        Transfer.id, Transfer.status, Transfer.confirmed_at, Transfer.failure_message)):
                    if status == "failed":
                        raise RuntimeError(f"payment {transfer_id} failed: {why}")
                    if at is not None:
                        confirmed[transfer_id] = at.timestamp()
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {len(confirmed)} of {total} payments confirmed")
            time.sleep(0.05)
        for svc in services:
            svc.stop_profile()
        latencies = [confirmed[t] - sent_at[t] for t in sent_at]
        finished = max(confirmed.values())
        with runtime.sessions() as session:
            batches = session.execute(text("SELECT count(*), avg(item_count) FROM chain_txs WHERE batch_key IS NOT NULL"
                                           )).one()
        return {
            "payments": total,
            "payments_per_s": round(total / (finished - began), 1),
            "accepted_per_s": round(total / (accepted_by - began), 1),
            "p50_ms": round(statistics.median(latencies) * 1000, 1),
            "p99_ms": round(_percentile(latencies, 99) * 1000, 1),
            "batches": int(batches[0]),
            "avg_batch": round(float(batches[1] or 0), 1),
        }
    finally:
        for svc in services:
            svc.stop()
        if worker_proc is not None:
            worker_proc.terminate()
            worker_proc.wait(15)
            workers_log.close()
        runtime.close()


def _naive_side(w3: Web3, node: LocalNode, compiled: Any, deployer: LocalAccount) -> dict[str, Any]:
    """The same load as one plain ERC-20 transaction per payment, sent with web3.py by each payer."""
    artifact = compiled["PlainToken"]
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    receipt = send_transaction(w3, deployer, factory.constructor().build_transaction({"from": deployer.address}))
    token = w3.eth.contract(address=receipt["contractAddress"], abi=artifact.abi)
    payers = [Account.create() for _ in range(CLIENTS)]
    shop = Account.create().address
    fund(w3, deployer, [payer.address for payer in payers], 10**20)
    mint = [Call(token.address, bytes.fromhex(token.encode_abi("mint", [p.address, 10**9])[2:])) for p in payers]
    _send_all(w3, deployer, mint)
    chain_id = w3.eth.chain_id
    latencies: list[float] = []
    lock = threading.Lock()

    def client(payer: LocalAccount) -> Callable[[], None]:
        def run() -> None:
            peer = connect(node.url)
            nonce = peer.eth.get_transaction_count(payer.address)
            for i in range(PER_CLIENT):
                tx = token.functions.transfer(shop, 100 + i).build_transaction({
                    "from": payer.address, "nonce": nonce, "chainId": chain_id, "gas": 80_000,
                    "maxFeePerGas": 10**11, "maxPriorityFeePerGas": 10**9})
                started = time.time()
                tx_hash = peer.eth.send_raw_transaction(payer.sign_transaction(tx).raw_transaction)
                peer.eth.wait_for_transaction_receipt(tx_hash, timeout=120, poll_latency=0.01)
                with lock:
                    latencies.append(time.time() - started)
                nonce += 1
        return run

    began = time.time()
    _in_parallel([client(p) for p in payers], CLIENTS)
    elapsed = time.time() - began
    return {"naive_peer_payments_per_s": round(len(latencies) / elapsed, 1),
            "naive_p50_ms": round(statistics.median(latencies) * 1000, 1),
            "naive_p99_ms": round(_percentile(latencies, 99) * 1000, 1)}


def run() -> dict[str, Any]:
    compiled = compile_contracts([PROJECT_ROOT / "contracts" / "src",
                                  PROJECT_ROOT / "tests" / "fixtures" / "contracts"])
    node = LocalNode(NodeConfig(port=free_port(), state_dir=None)).start()
    url, schema, admin = bench_database()
    var = Path(tempfile.mkdtemp(prefix="machi-bench-var-"))
    try:
        w3 = connect(node.url)
        deployer = Account.from_key("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")
        ours = _service_side(w3, node, url, schema, var, deployer)
        naive = _naive_side(w3, node, compiled, deployer)
        return {
            "payments_per_s": ours["payments_per_s"],
            "p50_ms": ours["p50_ms"],
            "p99_ms": ours["p99_ms"],
            "clients": CLIENTS,
            "naive_peer_payments_per_s": naive["naive_peer_payments_per_s"],
            "ratio": round(ours["payments_per_s"] / naive["naive_peer_payments_per_s"], 2),
            "database": "postgresql" if schema else "sqlite",
            "node": "anvil 1.7.1 automine (in memory)",
            "service": ours,
            "naive": naive,
        }
    finally:
        node.stop()
        shutil.rmtree(var, ignore_errors=True)
        drop_bench_database(schema, admin)
