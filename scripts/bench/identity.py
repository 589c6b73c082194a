"""My Number card linking: verification cost, and a link from HTTP request to confirmed attestation.

* ``verify_*``: one full check of a signed link request as the service does it — statement context
  and freshness, certificate chain to the pinned roots, profile, both card signatures, CRL
  revocation, the wallet's EIP-712 signature (no database, no chain).  Goal: ≤ 5 ms p50.
* ``link_end_to_end_*``: ``POST /v1/identity/link?wait=true`` against a live service (uvicorn on a
  free port, its own in-memory anvil, SQLite in a temp dir or the PostgreSQL of ``DATABASE_URL``
  in a throwaway schema), until the attestation is confirmed on chain.
"""

from __future__ import annotations

import base64
import os
import statistics
import tempfile
import threading
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from eth_account import Account

from chain.node import LocalNode, NodeConfig, free_port
from chain.storage import make_engine
from procedures import ratelimit
from procedures.app import create_app
from procedures.config import DEV_ADMIN_KEY, Settings
from procedures.identity.testca import Sex, TestCA, TestCard, TestResident
from procedures.identity.trust import IdentityTrust, build_trust
from procedures.runtime import Runtime
from protocol.nonces import check_freshness, new_nonce
from protocol.statement import LinkStatement, check_context, sign_wallet, verify_wallet_signature
from scripts.bench._common import bench_database, drop_bench_database

VERIFY_RUNS = int(os.environ.get("BENCH_IDENTITY_VERIFY", "200"))
LINKS = int(os.environ.get("BENCH_IDENTITY_LINKS", "25"))
REGISTRY = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def _resident(n: int) -> TestResident:
    return TestResident(f"加賀 試験{n:03d}", date(1980, 1, 1 + n % 28), Sex.UNSPECIFIED, f"石川県加賀市大聖寺{n}番地")


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def _bench_verify(trust: IdentityTrust, card: TestCard) -> dict[str, float]:
    wallet = Account.create()
    requests = []
    for _ in range(VERIFY_RUNS):
        statement = LinkStatement.create(purpose="link", wallet=wallet.address, chain_id=31337, registry=REGISTRY,
                                         nonce=new_nonce(), issued_at=datetime.now(UTC))
        message = statement.canonical_bytes()
        requests.append((statement, card.sign_auth(message), card.sign_signing(message),
                         sign_wallet(statement, bytes(wallet.key))))
    assert card.signing_cert_der is not None
    samples = []
    for statement, auth_sig, signing_sig, wallet_sig in requests:
        started = time.perf_counter()
        parsed = LinkStatement.from_json(statement.to_json())
        check_context(parsed, chain_id=31337, registry=REGISTRY, purpose="link")
        check_freshness(parsed, now=datetime.now(UTC))
        trust.verifier.verify_card(card.auth_cert_der, card.signing_cert_der, message=parsed.canonical_bytes(),
                                   auth_signature=auth_sig, signing_signature=signing_sig)
        verify_wallet_signature(parsed, wallet_sig)
        samples.append(time.perf_counter() - started)
    return {"verify_p50_ms": _ms(statistics.median(samples)), "verify_p99_ms": _ms(_percentile(samples, 0.99))}


def _link(http: httpx.Client, card: TestCard) -> float:
    wallet = Account.create()
    challenge = http.post("/v1/identity/challenge", json={"wallet": wallet.address}).json()
    statement = LinkStatement.from_json(challenge["statement"])
    message = statement.canonical_bytes()
    assert card.signing_cert_der is not None
    body = {
        "statement": challenge["statement"],
        "auth_certificate": base64.b64encode(card.auth_cert_der).decode(),
        "auth_signature": base64.b64encode(card.sign_auth(message)).decode(),
        "signing_certificate": base64.b64encode(card.signing_cert_der).decode(),
        "signing_signature": base64.b64encode(card.sign_signing(message)).decode(),
        "wallet_signature": "0x" + sign_wallet(statement, bytes(wallet.key)).hex(),
    }
    started = time.perf_counter()
    response = http.post("/v1/identity/link", params={"wait": "true"}, json=body, timeout=120)
    elapsed = time.perf_counter() - started
    if response.status_code != 200 or response.json()["operation"]["status"] != "confirmed":
        raise RuntimeError(f"benchmark link failed: {response.status_code} {response.text[:300]}")
    return elapsed


def run() -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="machi-bench-identity-"))
    node = LocalNode(NodeConfig(port=free_port(), state_dir=None)).start()
    url, schema, admin = bench_database()
    server: uvicorn.Server | None = None
    runtime: Runtime | None = None
    try:
        settings = Settings(environment="test", var_dir=work / "var", database_url=url, rpc_url=node.url,
                            chain_id=node.config.chain_id, relayer_poll_interval=0.01, batch_max_wait=0.02)
        trust = build_trust(settings)  # creates the TEST CA in var/jpki-test-ca, as `machi serve` does
        ca = TestCA.load(work / "var" / "jpki-test-ca")
        cards = [ca.issue_card(_resident(n)) for n in range(LINKS)]
        figures = _bench_verify(trust, cards[0])

        runtime = Runtime.create(settings, engine=make_engine(url, schema=schema))
        runtime.deploy(Account.from_key(DEV_ADMIN_KEY))
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(create_app(settings, runtime=runtime, workers=True), host="127.0.0.1",
                                               port=port, log_config=None, access_log=False))
        threading.Thread(target=server.run, daemon=True).start()
        deadline = time.monotonic() + 30
        while not server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            samples = []
            for card in cards:
                ratelimit.reset()
                samples.append(_link(http, card))
        return {
            **figures,
            "link_end_to_end_p50_ms": _ms(statistics.median(samples)),
            "link_end_to_end_p99_ms": _ms(_percentile(samples, 0.99)),
            "verify_runs": VERIFY_RUNS,
            "links": LINKS,
            "database": "postgresql" if schema else "sqlite",
            "node": "anvil automine (in memory)",
        }
    finally:
        if server is not None:
            server.should_exit = True
            time.sleep(0.3)
        if runtime is not None:
            runtime.close()
        node.stop()
        drop_bench_database(schema, admin)
