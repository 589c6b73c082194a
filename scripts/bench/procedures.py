"""E-applications: signed submissions per second, anchoring gas and batch size, receipt verification.

Runs its own in-memory anvil (automine), deploys the city's contracts, and serves the real app
(relayer, anchorer and sweepers running) over an in-process client; the database is SQLite in a
temp dir, or the PostgreSQL of ``DATABASE_URL`` in a throwaway schema.

* ``submissions_per_s``: ``POST /v1/applications`` of pre-signed snow-removal requests (4 client
  threads): schema validation, My Number scan, EIP-712 check, on-chain identity check, sealing.
* ``anchor_gas_per_batch`` / ``leaves_per_anchor``: the anchors the anchorer made for those events
  (``gasUsed`` of the ``ProcedureLedger.anchor`` transactions; anchoring every 1 s or 256 leaves).
* ``receipt_verify_ms``: median time to verify one receipt against the chain alone.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from sqlalchemy import func, select

from chain.contracts.base import role_id, send_call
from chain.node import LocalNode, NodeConfig, free_port
from chain.storage import make_engine
from procedures.config import DEV_ADMIN_KEY, Settings
from scripts.bench._common import bench_database, drop_bench_database, fund

SUBMISSIONS = int(os.environ.get("BENCH_PROCEDURES_SUBMISSIONS", "300"))
RESIDENTS = 20
THREADS = 4
VERIFY_SAMPLE = 50
FORM = {"service_code": "road", "lat": 36.30, "long": 136.31, "snow_depth_cm": 60}


def _login(client: Any, account: Any) -> dict[str, str]:
    challenge = client.post("/v1/auth/wallet/challenge", json={"wallet": account.address}).json()
    signed = account.sign_message(encode_typed_data(full_message=challenge["typed_data"]))
    token = client.post("/v1/auth/wallet/token", json={
        "wallet": account.address, "nonce": challenge["nonce"],
        "deadline": challenge["typed_data"]["message"]["deadline"],
        "signature": "0x" + bytes(signed.signature).hex()}).json()
    return {"Authorization": f"Bearer {token['access_token']}"}


def _signed_body(account: Any, signing: dict[str, Any], depth: int) -> dict[str, Any]:
    from protocol import applications as protocol

    form = {**FORM, "snow_depth_cm": depth % 500}
    salt = protocol.hex32(os.urandom(32))
    content = protocol.content_hash("snow-removal", 1, form, [], salt)
    nonce, deadline = protocol.hex32(os.urandom(32)), int(time.time()) + 3600
    typed = protocol.resident_act(signing["chain_id"], signing["ledger"], applicant=account.address, action="submit",
                                  application="", content=content, nonce=nonce, deadline=deadline)
    return {"procedure": "snow-removal", "version": 1, "form": form, "attachments": [], "salt": salt,
            "signature": {"nonce": nonce, "deadline": deadline, "signature": protocol.sign_typed(account, typed)}}


def run() -> dict[str, Any]:
    from fastapi.testclient import TestClient

    from chain.contracts.registry import AssuranceLevel
    from procedures.app import create_app
    from procedures.applications.models import AnchorBatch, ApplicationEvent
    from procedures.runtime import Runtime
    from protocol import receipts

    node = LocalNode(NodeConfig(port=free_port(), state_dir=None)).start()
    url, schema, admin = bench_database()
    var_dir = Path(tempfile.mkdtemp(prefix="machi-bench-var-"))
    try:
        settings = Settings(environment="test", var_dir=var_dir, database_url=url, rpc_url=node.url,
                            relayer_poll_interval=0.01, batch_max_wait=0.02, applications_anchor_interval=1.0,
                            applications_anchor_max_leaves=256, applications_sweep_interval=3600.0)
        runtime = Runtime.create(settings, engine=make_engine(settings.effective_database_url, schema=schema))
        runtime.deploy(Account.from_key(DEV_ADMIN_KEY))
        w3 = runtime.w3
        operator = Account.create()
        fund(w3, Account.from_key(DEV_ADMIN_KEY), [operator.address], 10**21)
        send_call(w3, Account.from_key(DEV_ADMIN_KEY), runtime.registry.grant_role_call(role_id("REGISTRAR_ROLE"),
                                                                              operator.address))
        residents = [Account.create() for _ in range(RESIDENTS)]
        for resident in residents:
            send_call(w3, operator, runtime.registry.attest_call(
                resident.address, os.urandom(32), AssuranceLevel.RESIDENT_OF_CITY, int(time.time()) + 86400 * 365,
                os.urandom(32)))
        with TestClient(create_app(settings, runtime=runtime, workers=True)) as client:
            headers = [_login(client, r) for r in residents]
            signing = client.get("/v1/procedures/signing").json()
            jobs = [(headers[i % RESIDENTS], _signed_body(residents[i % RESIDENTS], signing, i))
                    for i in range(SUBMISSIONS)]

            def submit(job: tuple[dict[str, str], dict[str, Any]]) -> tuple[str, dict[str, str]]:
                response = client.post("/v1/applications", json=job[1], headers=job[0])
                if response.status_code != 201:
                    raise RuntimeError(f"submission refused: {response.text}")
                return str(response.json()["id"]), job[0]

            started = time.perf_counter()
            with ThreadPoolExecutor(THREADS) as pool:
                filed = list(pool.map(submit, jobs))
            elapsed = time.perf_counter() - started

            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                with runtime.sessions() as session:
                    waiting = session.scalar(select(func.count(ApplicationEvent.id))
                                             .where(ApplicationEvent.anchor_id.is_(None)))
                if not waiting:
                    break
                time.sleep(0.1)
            else:
                raise RuntimeError("events were not anchored within 2 minutes")
            with runtime.sessions() as session:
                batches = list(session.scalars(select(AnchorBatch).where(AnchorBatch.status == "anchored")))
            gas = [int(w3.eth.get_transaction_receipt(b.tx_hash)["gasUsed"]) for b in batches]  # type: ignore[arg-type]

            ledger = receipts.ledger_client(w3, signing["ledger"])
            timings = []
            for app_id, auth in filed[:VERIFY_SAMPLE]:
                receipt = client.get(f"/v1/applications/{app_id}/receipt", headers=auth).json()
                begin = time.perf_counter()
                check = receipts.verify_receipt(w3, ledger, receipt)
                timings.append((time.perf_counter() - begin) * 1000)
                if not check.ok or check.pending:
                    raise RuntimeError(f"receipt of {app_id} does not verify: {check}")
        runtime.close()
        return {
            "database": "postgresql" if schema else "sqlite",
            "node": "anvil 1.7.1 automine (in memory)",
            "submissions": SUBMISSIONS,
            "submissions_per_s": round(SUBMISSIONS / elapsed, 1),
            "anchors": len(batches),
            "anchor_gas_per_batch": round(statistics.mean(gas)) if gas else None,
            "leaves_per_anchor": round(statistics.mean(b.leaf_count for b in batches), 1) if batches else None,
            "receipt_verify_ms": round(statistics.median(timings), 2),
        }
    finally:
        node.stop()
        drop_bench_database(schema, admin)
