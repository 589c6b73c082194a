"""``make soak``: payments under load with faults — the service killed, the chain RPC cut.

A real anvil (its own process, in memory, automine) sits behind a cuttable TCP proxy
(``chain.faults.RpcProxy``); the service runs as a separate uvicorn process (API and workers) on
a throwaway database (SQLite, or a fresh schema on the PostgreSQL of ``DATABASE_URL``) and talks
to the chain only through the proxy. Then ``--clients`` residents pay ``--payments`` payment
requests over HTTP (each created by a merchant just before, with an ``Idempotency-Key``), mixed
with refunds and e-application submissions. Meanwhile the service is killed with SIGKILL
``--kills`` times at random moments and restarted, and the RPC is refused for ``--outage``
seconds. Clients honour ``Retry-After`` and retry the very same signed authorization.

At the end (after the outbox and webhook queue drained): every accepted payment confirmed exactly
once on chain, none lost or duplicated, ``machi reconcile`` clean, every webhook event delivered.
Prints one JSON line; exits 1 when anything is lost, duplicated or differs.

``--shape`` picks the node (``scripts.shapes``): the default anvil, anvil shaped like a QBFT network
(2 s blocks, zero gas price, legacy transactions, shanghai) or Hardhat's node with interval mining.

    python -m scripts.soak [--payments 10000] [--clients 100] [--kills 5] [--outage 30] [--seed N]
                           [--shape anvil|qbft|hardhat]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account
from eth_account.signers.local import LocalAccount

from chain.contracts.authorization import random_nonce
from chain.contracts.base import role_id, send_call
from chain.contracts.registry import AssuranceLevel
from chain.faults import RpcProxy
from chain.node import LocalNode, free_port
from chain.toolchain import PROJECT_ROOT
from procedures.auth.service import create_staff, issue_token
from procedures.config import DEV_ADMIN_KEY, Settings
from procedures.merchants.webhooks import EVENT_TYPES
from procedures.profile import embedded_node_config
from procedures.runtime import Runtime
from scripts.bench._common import bench_database, drop_bench_database
from scripts.bench.payments import _send_all as send_all
from scripts.bench.procedures import _signed_body as signed_submission
from scripts.shapes import SHAPES, shape_settings
from scripts.soak_check import drain, payments_verdict, reconcile_verdict, webhooks_verdict
from scripts.soak_clients import Api, ClientPlan, Mix, PlannedPayment, Results, run_client
from scripts.soak_faults import FaultDriver
from scripts.soak_service import ServiceProcess, WebhookReceiver

OPERATOR_PASSWORD = "soak operator " + uuid.uuid4().hex  # a throwaway account in a throwaway database
BANK = {"bank_code": "0146", "branch_code": "101", "account_type": "ordinary", "account_number": "1234567",
        "holder_name_kana": "ｿ-ｸｼｮｳﾃﾝ"}
LOGS = PROJECT_ROOT / "var" / "soak"


@dataclass
class SoakConfig:
    """The size of a soak run."""

    payments: int = 10_000
    clients: int = 100
    kills: int = 5
    outage: float = 30.0
    merchants: int = 4
    seed: int | None = None
    timeout: float = 3600.0
    drain_timeout: float = 600.0
    shape: str = "anvil"


def parse_args(argv: list[str] | None = None) -> SoakConfig:
    """Command-line options → ``SoakConfig``."""
    parser = argparse.ArgumentParser(prog="python -m scripts.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--payments", type=int, default=10_000, help="payments in total (default 10000)")
    parser.add_argument("--clients", type=int, default=100, help="concurrent resident clients (default 100)")
    parser.add_argument("--kills", type=int, default=5, help="kill -9 + restarts of the service (default 5)")
    parser.add_argument("--outage", type=float, default=30.0, help="seconds the chain RPC is refused (default 30)")
    parser.add_argument("--merchants", type=int, default=4, help="merchants being paid (default 4)")
    parser.add_argument("--seed", type=int, default=None, help="seed for amounts and fault moments")
    parser.add_argument("--timeout", type=float, default=3600.0, help="give up on the load after this many seconds")
    parser.add_argument("--shape", choices=list(SHAPES), default="anvil",
                        help="the node: anvil (default), qbft (anvil shaped like a QBFT network) or hardhat")
    args = parser.parse_args(argv)
    if args.payments < 1 or args.clients < 1 or args.merchants < 1 or args.kills < 0 or args.outage < 0:
        parser.error("payments, clients and merchants must be positive; kills and outage not negative")
    return SoakConfig(payments=args.payments, clients=min(args.clients, args.payments), kills=args.kills,
                      outage=args.outage, merchants=args.merchants, seed=args.seed, timeout=args.timeout,
                      shape=args.shape)


def _service_env(url: str, schema: str | None, var: Path, rpc_url: str, shape: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "MACHI_DATABASE_URL"}
    env.update({
        "MACHI_ENVIRONMENT": "test", "MACHI_RPC_URL": rpc_url, "DATABASE_URL": url, "MACHI_VAR_DIR": str(var),
        "MACHI_LOG_LEVEL": "WARNING", "MACHI_RPC_TIMEOUT": "3", "MACHI_RELAYER_POLL_INTERVAL": "0.05",
        "MACHI_BATCH_MAX_WAIT": "0.2", "MACHI_WEBHOOK_RETRY_SCHEDULE": "[1, 2, 5]",
        "MACHI_WEBHOOK_POLL_INTERVAL": "0.2", "MACHI_APPLICATIONS_ANCHOR_INTERVAL": "2", **SHAPES[shape],
        # the soak funds its residents with one operator: no second staff member to approve large top-ups
        "MACHI_TOPUP_FOUR_EYES_YEN": str(10**12),
    })
    if schema:
        env["MACHI_DATABASE_SCHEMA"] = schema
    return env


def _wait(predicate: Any, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.2)


def _merchants(http: httpx.Client, operator: dict[str, str], receiver: WebhookReceiver,
               count: int) -> list[dict[str, str]]:
    """Onboard merchants through the operator API, each with a webhook endpoint at the receiver."""
    merchants = []
    for index in range(count):
        response = http.post("/v1/admin/merchants", headers=operator,
                             json={"business_name": f"ソーク商店 {index}", "bank_account": BANK})
        response.raise_for_status()
        body = response.json()
        auth = f"Bearer {body['api_key']['secret']}"
        hook = http.post("/v1/webhook_endpoints", headers={"Authorization": auth},
                         json={"url": receiver.url(body["id"]), "enabled_events": list(EVENT_TYPES)})
        hook.raise_for_status()
        receiver.expect(body["id"], hook.json()["secret"])
        merchants.append({"id": body["id"], "wallet": body["wallet"], "auth": auth})
    for merchant in merchants:
        _wait(lambda m=merchant: http.get("/v1/merchant", headers={"Authorization": m["auth"]}).json()["status"]
              == "active", "merchant registration")
    return merchants


def _fund(runtime: Runtime, http: httpx.Client, operator: dict[str, str], residents: list[LocalAccount],
          needs: list[int]) -> None:
    """Attest the residents on chain (an operator key), then top them up through the API (the service mints).

    Twice what they will pay: acceptance counts a payment mined but not yet seen by the relayer both
    in the chain balance and as still in progress (briefly, or for as long as a killed service is
    down), so an exactly funded payer would be refused now and then — safe, but not what we measure.
    """
    registry, coin, deployer = runtime.registry, runtime.coin, Account.from_key(DEV_ADMIN_KEY)
    cap = coin.balance_cap(AssuranceLevel.RESIDENT_OF_CITY)
    if max(needs) * 3 > cap:
        raise ValueError(f"payments per client too large for the balance cap {cap}; use more clients")
    expires = int(time.time()) + 30 * 86400
    send_all(runtime.w3, deployer, [registry.attest_call(r.address, os.urandom(32), AssuranceLevel.RESIDENT_OF_CITY,
                                                         expires, os.urandom(32)) for r in residents],
             fees=runtime.settings.fee_policy())
    for index, (resident, need) in enumerate(zip(residents, needs, strict=True)):
        response = http.post("/v1/admin/topups", headers=operator, json={
            "wallet": resident.address, "amount": 2 * need, "reference": f"soak-{index}"})
        response.raise_for_status()
    _wait(lambda: all(coin.balance_of(r.address) >= 2 * n for r, n in zip(residents, needs, strict=True)),
          "top-ups confirmed", timeout=300)


def _plans(runtime: Runtime, http: httpx.Client, config: SoakConfig, merchants: list[dict[str, str]],
           operator: dict[str, str], rng: random.Random) -> list[ClientPlan]:
    """Residents with coins and tokens, and every payment signed in advance (on their devices, untimed)."""
    residents = [Account.create() for _ in range(config.clients)]
    counts = [config.payments // config.clients + int(i < config.payments % config.clients)
              for i in range(config.clients)]
    amounts = [[10 + rng.randrange(90) for _ in range(n)] for n in counts]
    _fund(runtime, http, operator, residents, [sum(row) for row in amounts])
    with runtime.sessions() as session, session.begin():
        tokens = [issue_token(session, "resident", r.address, timedelta(hours=12))[0] for r in residents]
    signing = http.get("/v1/procedures/signing").json()
    coin, valid_before = runtime.coin, int(time.time()) + 12 * 3600
    plans = []
    for index, (resident, row) in enumerate(zip(residents, amounts, strict=True)):
        payments = []
        for k, amount in enumerate(row):
            merchant = (index + k) % len(merchants)
            auth = coin.sign_authorization(resident, merchants[merchant]["wallet"], amount, nonce=random_nonce(),
                                           valid_before=valid_before)
            payments.append(PlannedPayment(merchant, amount, auth.to_json()))
        plans.append(ClientPlan(index, {"Authorization": f"Bearer {tokens[index]}"}, payments,
                                partial(signed_submission, resident, signing)))
    return plans


def _load(service: ServiceProcess, proxy: RpcProxy, plans: list[ClientPlan], merchants: list[dict[str, str]],
          config: SoakConfig, rng: random.Random) -> tuple[Results, FaultDriver, float]:
    """All clients at once, with the faults; returns what they saw, the driver, and the seconds it took."""
    results = Results()
    done = [0]
    lock = threading.Lock()

    def tick() -> None:
        with lock:
            done[0] += 1

    driver = FaultDriver(service, proxy, kills=config.kills, outage_s=config.outage,
                         progress=lambda: done[0] / config.payments, rng=rng, merchant_auth=merchants[0]["auth"])
    deadline = time.monotonic() + config.timeout

    def client(plan: ClientPlan) -> None:
        api = Api(service.base, results, deadline, driver.failed)
        try:
            run_client(api, plan, merchants, Mix(), tick)
        except BaseException:
            driver.failed.set()  # the others stop too
            raise
        finally:
            api.close()

    started = time.monotonic()
    driver.start()
    finished = False
    try:
        with ThreadPoolExecutor(max_workers=len(plans), thread_name_prefix="soak-client") as pool:
            for future in [pool.submit(client, plan) for plan in plans]:
                future.result()
        finished = True
    finally:
        elapsed = time.monotonic() - started
        if not finished:
            driver.cancelled.set()
        driver.join(config.timeout)
        if driver.error is not None:
            raise RuntimeError(f"the fault driver failed: {driver.error}") from driver.error
    return results, driver, elapsed


def run(config: SoakConfig) -> dict[str, Any]:
    """One soak run; returns the report (see the module docstring)."""
    rng = random.Random(config.seed)
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / f"service-{uuid.uuid4().hex[:8]}.log"
    url, schema, admin = bench_database()
    var = Path(tempfile.mkdtemp(prefix="machi-soak-"))
    profile = Settings(environment="test", var_dir=var, database_url=url, database_schema=schema,
                       **shape_settings(config.shape))  # strings, parsed as from the environment
    node = LocalNode(replace(embedded_node_config(profile), port=free_port(), state_dir=None)).start(timeout=90)
    proxy = RpcProxy(node.url).start()
    receiver = WebhookReceiver().start()
    service: ServiceProcess | None = None
    runtime: Runtime | None = None
    try:
        settings = profile.model_copy(update={"rpc_url": node.url})
        runtime = Runtime.create(settings)
        city_admin = Account.from_key(DEV_ADMIN_KEY)
        runtime.deploy(city_admin)
        grant = runtime.registry.grant_role_call(role_id("REGISTRAR_ROLE"), city_admin.address)
        send_call(runtime.w3, city_admin, grant, fees=settings.fee_policy())
        with runtime.sessions() as session, session.begin():
            create_staff(session, runtime.vault, username="soak", password=OPERATOR_PASSWORD, role="admin")
        service = ServiceProcess(_service_env(url, schema, var, proxy.url, config.shape), log)
        service.start()
        with httpx.Client(base_url=service.base, timeout=60) as http:
            token = http.post("/v1/auth/staff/token", json={"username": "soak", "password": OPERATOR_PASSWORD})
            token.raise_for_status()
            operator = {"Authorization": f"Bearer {token.json()['access_token']}"}
            merchants = _merchants(http, operator, receiver, config.merchants)
            plans = _plans(runtime, http, config, merchants, operator, rng)

        results, driver, load_s = _load(service, proxy, plans, merchants, config, rng)
        drain_s = drain(runtime, config.drain_timeout)
        verdict = payments_verdict(runtime, [(payer, nonce) for payer, nonce, _ in results.accepted],
                                   results.unacknowledged)
        differences, _ = reconcile_verdict(runtime)
        hooks = webhooks_verdict(runtime, receiver.received)
        counts = results.counts
        return {
            "bench": "soak",
            "shape": config.shape,
            "accepted": len(results.accepted),
            "confirmed": verdict["confirmed"],
            "lost": verdict["lost"],
            "duplicated": verdict["duplicated"],
            "reconcile_differences": differences,
            "kills": service.kills,
            "rpc_outage_s": round(driver.rpc_outage_s, 1),
            "restart_s_max": round(max(driver.restart_s, default=0.0), 1),
            "duration_s": round(load_s + drain_s, 1),
            "payments_planned": config.payments,
            "clients": config.clients,
            "payments_per_s": round(len(results.accepted) / load_s, 1),
            "drain_s": round(drain_s, 1),
            "unacknowledged": len(results.unacknowledged),
            "unacknowledged_confirmed": verdict["unacknowledged_confirmed"],
            "refused": len(results.refused),
            "refused_examples": results.refused[:3],
            "refunds": len(results.refunds),
            "submissions": len(results.submissions),
            "payment_requests_created": counts["payment_requests_created"],
            "transfers_failed": verdict["transfers_failed"],
            "http_503": counts["http_503"],
            "http_503_chain_unavailable": counts["http_503_chain_unavailable"],
            "http_5xx_other": sum(v for k, v in counts.items() if k.startswith("http_5") and not k.startswith(
                "http_503")),
            "malformed_errors": counts["malformed_errors"],
            "connection_refused": counts["connection_refused"],
            "connection_lost": counts["connection_lost"],
            **hooks,
            "webhook_bad_signatures": receiver.bad_signatures,
            **dict(sorted(driver.probes.items())),
            "database": "postgresql" if schema else "sqlite",
            "service_log": str(log.relative_to(PROJECT_ROOT)),
        }
    finally:
        if service is not None:
            service.stop()
        receiver.stop()
        proxy.stop()
        if runtime is not None:
            runtime.close()
        node.stop()
        shutil.rmtree(var, ignore_errors=True)
        drop_bench_database(schema, admin)


def failures(report: dict[str, Any]) -> list[str]:
    """Why a report is a failure (empty when it passes)."""
    must_be_zero = ("lost", "duplicated", "reconcile_differences", "webhooks_undelivered", "http_5xx_other",
                    "malformed_errors", "refused")
    problems = [f"{key}={report[key]}" for key in must_be_zero if report[key]]
    if report["accepted"] + report["unacknowledged"] != report["payments_planned"]:
        problems.append("not every planned payment got a definite answer")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Run, print the JSON line, exit 0 only when nothing was lost, duplicated or different."""
    report = run(parse_args(argv))
    print(json.dumps(report, ensure_ascii=False), flush=True)
    problems = failures(report)
    if problems:
        print("soak failed: " + ", ".join(problems), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
