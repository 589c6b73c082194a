"""Events per second through the chain indexer: a fresh index catching up on batch-relayed payments.

Runs its own in-memory anvil with the city's contracts and its own database (SQLite in a temp dir,
or the PostgreSQL of ``DATABASE_URL`` in a throwaway schema). Fills the chain with batches of
signed transfer authorizations (three events per payment), then times ``Indexer.catch_up`` from
the deployment block and checks the result against the chain.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from eth_account import Account

from chain.compiler import compile_contracts
from chain.contracts import AssuranceLevel, load_city, random_nonce, send_call
from chain.deploy import deploy
from chain.events import WatchedContract
from chain.index_store import verify_against_chain
from chain.indexer import Indexer, IndexerConfig
from chain.node import LocalNode, NodeConfig, free_port
from chain.plan import PlanParams, city_plan, plan_params
from chain.rpc import connect
from chain.storage import make_engine, make_session_factory
from chain.toolchain import PROJECT_ROOT
from procedures.config import DEV_BENEFITS_MINTER_KEY, DEV_DEPLOYER_KEY, DEV_RELAYER_KEY, DEV_TOPUP_MINTER_KEY
from procedures.db import migrate
from scripts.bench._common import bench_database, drop_bench_database

BATCHES = int(os.environ.get("BENCH_INDEXER_BATCHES", "30"))
BATCH_SIZE = 100
RESIDENTS = 20


def _fill_chain(w3: Any, city: Any, keys: dict[str, Any]) -> int:
    """Residents, top-ups and ``BATCHES`` relayed batches of payments; returns the payments relayed."""
    residents = [Account.create() for _ in range(RESIDENTS)]
    expiry = int(time.time()) + 365 * 86400
    for resident in residents:
        send_call(w3, keys["relayer"], city.registry.attest_call(
            resident.address, os.urandom(32), AssuranceLevel.CARD_AUTHENTICATED, expiry, os.urandom(32)))
        send_call(w3, keys["topup"], city.coin.mint_call(resident.address, 50_000))
    valid_before = int(time.time()) + 3600
    for batch in range(BATCHES):
        auths = [
            city.coin.sign_authorization(residents[(batch + i) % RESIDENTS], residents[(batch + i + 1) % RESIDENTS]
                                         .address, 1, nonce=random_nonce(), valid_before=valid_before)
            for i in range(BATCH_SIZE)
        ]
        send_call(w3, keys["relayer"], city.coin.batch_call(auths))
    return BATCHES * BATCH_SIZE


def run() -> dict[str, Any]:
    compiled = compile_contracts([PROJECT_ROOT / "contracts" / "src"])
    node = LocalNode(NodeConfig(port=free_port(), state_dir=None)).start()
    url, schema, admin = bench_database()
    try:
        w3 = connect(node.url)
        keys = {name: Account.from_key(key) for name, key in (
            ("deployer", DEV_DEPLOYER_KEY), ("relayer", DEV_RELAYER_KEY), ("topup", DEV_TOPUP_MINTER_KEY),
            ("benefits", DEV_BENEFITS_MINTER_KEY))}
        params = PlanParams(currency_name="Kaga Coin", currency_symbol="KAGA", relayer=keys["relayer"].address,
                            registrar=keys["relayer"].address, freezer=keys["relayer"].address,
                            recovery=keys["relayer"].address, topup_minter=keys["topup"].address,
                            benefits_minter=keys["benefits"].address,
                            topup_allowance=10**12, benefits_allowance=10**10)
        manifest, _ = deploy(w3, keys["deployer"], compiled, city_plan(), Path(tempfile.mkdtemp()),
                             params=plan_params(params, keys["deployer"].address))
        payments = _fill_chain(w3, load_city(w3, manifest, compiled), keys)
        engine = make_engine(url, schema=schema)
        migrate(engine)
        sessions = make_session_factory(engine)
        indexer = Indexer(
            w3=w3, start_block=manifest.first_block, engine=engine, sessions=sessions,
            lock_dir=Path(tempfile.mkdtemp()), config=IndexerConfig(max_range=500),
            contracts=[WatchedContract(name, entry.address, compiled[entry.artifact].abi)
                       for name, entry in manifest.contracts.items()],
        )
        started = time.perf_counter()
        events = indexer.catch_up()
        elapsed = time.perf_counter() - started
        with sessions() as session:
            check = verify_against_chain(session, w3)
        assert check.ok, check.to_dict()
        blocks = w3.eth.block_number - manifest.first_block + 1
        engine.dispose()
        return {
            "events": events,
            "payments": payments,
            "blocks": blocks,
            "events_per_s": round(events / elapsed, 1),
            "blocks_per_s": round(blocks / elapsed, 1),
            "catch_up_s": round(elapsed, 2),
            "database": url.split(":", 1)[0],
        }
    finally:
        node.stop()
        drop_bench_database(schema, admin)
