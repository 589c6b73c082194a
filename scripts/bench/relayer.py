"""Transactions per second through the outbox: enqueue → signed → sent → confirmed.

Runs its own in-memory anvil (automine) and database (SQLite in a temp dir, or the PostgreSQL
of ``DATABASE_URL`` in a throwaway schema). Measures single-call transactions and batched calls.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from eth_abi import encode as abi_encode
from eth_account import Account

from chain.batching import ItemOutcome
from chain.compiler import compile_contracts
from chain.deploy import send_transaction
from chain.node import LocalNode, NodeConfig, free_port
from chain.outbox import enqueue, wait_for_intent
from chain.relayer import Relayer, RelayerConfig
from chain.roles import Allowlist
from chain.rpc import connect
from chain.storage import make_engine, make_session_factory, transaction
from chain.toolchain import PROJECT_ROOT
from procedures.config import DEV_DEPLOYER_KEY, DEV_RELAYER_KEY
from procedures.db import migrate
from scripts.bench._common import bench_database, drop_bench_database

SINGLE = int(os.environ.get("BENCH_RELAYER_TXS", "500"))
BATCHED = int(os.environ.get("BENCH_RELAYER_BATCHED", "2000"))


class _CounterBatcher:
    def __init__(self, counter: Any) -> None:
        self.counter = counter

    def encode(self, items: list[bytes]) -> bytes:
        return bytes.fromhex(self.counter.encode_abi("incrementMany", [[1] * len(items)])[2:])

    def outcomes(self, receipt: Any, items: list[bytes]) -> list[ItemOutcome]:
        return [ItemOutcome(ok=True) for _ in items]


def _run(relayer: Relayer, sessions: Any, produce: Any, count: int) -> dict[str, float]:
    stop = threading.Event()
    thread = threading.Thread(target=relayer.run, args=(stop,), daemon=True)
    started = time.perf_counter()
    ids = produce()
    enqueued = time.perf_counter()
    thread.start()
    results = [wait_for_intent(sessions, i, timeout=600) for i in ids]
    done = time.perf_counter()
    stop.set()
    thread.join()
    assert all(r.status == "confirmed" for r in results), "benchmark intents failed"
    latencies = sorted(r.updated_at.timestamp() - r.created_at.timestamp() for r in results)
    return {
        "count": count,
        "enqueue_per_s": round(count / (enqueued - started), 1),
        "confirmed_per_s": round(count / (done - enqueued), 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
    }


def run() -> dict[str, Any]:
    compiled = compile_contracts(
        [PROJECT_ROOT / "contracts" / "src", PROJECT_ROOT / "tests" / "fixtures" / "contracts"]
    )
    node = LocalNode(NodeConfig(port=free_port(), state_dir=None)).start()
    url, schema, admin = bench_database()
    try:
        w3 = connect(node.url)
        deployer, sender = Account.from_key(DEV_DEPLOYER_KEY), Account.from_key(DEV_RELAYER_KEY)
        artifact = compiled["Counter"]
        factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        receipt = send_transaction(w3, deployer, factory.constructor().build_transaction({"from": deployer.address}))
        counter = w3.eth.contract(address=receipt["contractAddress"], abi=artifact.abi)
        engine = make_engine(url, schema=schema)
        migrate(engine)
        sessions = make_session_factory(engine)
        data = bytes.fromhex(counter.encode_abi("increment", [1])[2:])

        def singles() -> list[int]:
            with transaction(sessions) as session:
                return [
                    enqueue(session, sender=sender.address, to=counter.address, data=data, kind="bench").id
                    for _ in range(SINGLE)
                ]

        def batched() -> list[int]:
            with transaction(sessions) as session:
                return [
                    enqueue(
                        session,
                        sender=sender.address,
                        to=counter.address,
                        data=data,
                        kind="bench",
                        batch_key="counter",
                        batch_item=abi_encode(["uint256"], [1]),
                    ).id
                    for _ in range(BATCHED)
                ]

        def relayer() -> Relayer:
            return Relayer(
                w3=connect(node.url),
                account=sender,
                engine=engine,
                session_factory=sessions,
                lock_dir=Path(tempfile.mkdtemp()),
                batchers={"counter": _CounterBatcher(counter)},
                allowlist=Allowlist.of("bench", {counter.address: counter.abi},
                                       {counter.address: ["increment", "incrementMany"]}),
                config=RelayerConfig(poll_interval=0.005, batch_max_size=100, batch_max_wait=0.05),
            )

        single = _run(relayer(), sessions, singles, SINGLE)
        batch = _run(relayer(), sessions, batched, BATCHED)
        engine.dispose()
        return {
            "database": "postgresql" if schema else "sqlite",
            "node": "anvil 1.7.1 automine (in memory)",
            "tx_per_s": single["confirmed_per_s"],
            "single": single,
            "batched_calls_per_s": batch["confirmed_per_s"],
            "batched": {**batch, "batch_size": 100},
        }
    finally:
        node.stop()
        drop_bench_database(schema, admin)
