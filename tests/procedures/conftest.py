"""Fixtures for the service: settings aimed at the test chain and database, a runtime, a client."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient

from chain.contracts.authorization import random_nonce
from chain.contracts.coin import RegionalCoinClient
from chain.node import free_port
from procedures.app import create_app
from procedures.auth.service import create_staff
from procedures.config import Settings, get_settings
from procedures.runtime import Runtime


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> Iterator[None]:
    """Every test starts with empty rate-limit counters (the limits themselves: test_rate_limits)."""
    from procedures import ratelimit

    ratelimit.reset()
    yield
    ratelimit.reset()


#: The monitoring token of the test settings, and the headers that send it (the detailed /healthz, /metrics).
METRICS_TOKEN = "test-metrics-token"  # noqa: S105 - a test value
MONITORING = {"Authorization": f"Bearer {METRICS_TOKEN}"}


@pytest.fixture
def settings(anvil, tmp_path, database_url) -> Settings:
    url, _ = database_url
    return Settings(
        environment="test", var_dir=tmp_path / "var", database_url=url, rpc_url=anvil.url,
        chain_id=anvil.config.chain_id, relayer_poll_interval=0.01, batch_max_wait=0.02,
        metrics_token=METRICS_TOKEN,
        recovery_sweep_interval=0.05,
    )


@pytest.fixture
def runtime(settings, engine, sessions, w3, city, keys) -> Iterator[Runtime]:
    """The service runtime on the session's city deployment (the same contracts as ``city``)."""
    from chain.deploy import manifest_path, save_manifest

    save_manifest(city.manifest, manifest_path(settings.deployments_dir, w3.eth.chain_id))
    rt = Runtime.create(settings, engine=engine)
    _, sent = rt.deploy(keys.admin)  # idempotent: everything is there already
    assert sent == 0
    yield rt
    rt.stop_workers()


@pytest.fixture
def client(settings, runtime) -> Iterator[TestClient]:
    with TestClient(create_app(settings, runtime=runtime, workers=True)) as c:
        yield c


@dataclass
class Resident:
    """A test resident: an attested wallet with coins and an access token."""

    account: LocalAccount
    headers: dict[str, str]

    @property
    def address(self) -> str:
        return self.account.address


@pytest.fixture
def arrange(w3, city, test_operator, keys):
    """Arrange chain state as the test operator: attest residents/merchants, mint coins."""
    from chain.contracts.base import send_call
    from chain.contracts.coin import RegionalCoinClient
    from chain.contracts.registry import AssuranceLevel, IdentityRegistryClient

    registry = IdentityRegistryClient(w3, city.registry.address, city.registry.abi)
    coin = RegionalCoinClient(w3, city.coin.address, city.coin.abi)

    class Arrange:
        def attest(self, wallet: str, level: AssuranceLevel = AssuranceLevel.RESIDENT_OF_CITY) -> None:
            send_call(w3, test_operator, registry.attest_call(
                wallet, os.urandom(32), level, int(time.time()) + 365 * 86400, os.urandom(32)))

        def merchant(self, wallet: str) -> None:
            send_call(w3, test_operator, registry.register_merchant_call(
                wallet, os.urandom(32), int(time.time()) + 365 * 86400, os.urandom(32)))

        def mint(self, wallet: str, amount: int) -> None:
            send_call(w3, test_operator, coin.mint_call(wallet, amount))

        def balance(self, wallet: str) -> int:
            return coin.balance_of(wallet)

        def points(self, wallet: str) -> int:
            """The wallet's unexpired points (premiums, benefits and rewards arrive as points)."""
            return coin.points_of(wallet).unexpired

        def set_minter_allowance(self, minter: str, allowance: int) -> None:
            """The master minter's (the deployer's) configureMinter: a budget running out."""
            send_call(w3, keys.deployer, coin.configure_minter_call(minter, allowance))

        def freeze(self, wallet: str, frozen: bool = True) -> None:
            send_call(w3, test_operator, coin.freeze_call(wallet) if frozen else coin.unfreeze_call(wallet))

    return Arrange()


def wallet_login(client: TestClient | httpx.Client | str, account: LocalAccount) -> dict[str, str]:
    """Log a wallet in through the API (a client, or a base URL); returns the Authorization header."""
    if isinstance(client, str):
        with httpx.Client(base_url=client, timeout=30) as http:
            return wallet_login(http, account)
    response = wallet_login_response(client, account)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def wallet_login_response(client: TestClient | httpx.Client, account: LocalAccount) -> Any:
    """The answer to a correctly signed wallet login (a refusal is the test's to check)."""
    challenge = client.post("/v1/auth/wallet/challenge", json={"wallet": account.address}).json()
    signed = account.sign_message(encode_typed_data(full_message=challenge["typed_data"]))
    return client.post("/v1/auth/wallet/token", json={
        "wallet": account.address, "nonce": challenge["nonce"],
        "deadline": challenge["typed_data"]["message"]["deadline"],
        "signature": "0x" + signed.signature.hex().removeprefix("0x"),
    })


def auth_json(auth: Any) -> dict[str, Any]:
    """A signed transfer authorization as the API's JSON."""
    return dict(auth.to_json())


@pytest.fixture
def coin(w3, city) -> RegionalCoinClient:
    """A client of the city's coin (reads, and signing authorizations as a test wallet)."""
    return RegionalCoinClient(w3, city.coin.address, city.coin.abi)


def sign(coin, account, to, value, **kw):
    """A fresh authorization valid for ten minutes."""
    return coin.sign_authorization(account, to, value, nonce=kw.pop("nonce", random_nonce()),
                                   valid_before=kw.pop("valid_before", int(time.time()) + 600), **kw)


def wait_until(predicate: Callable[[], Any], timeout: float = 20.0, what: str = "condition",
               show: Callable[[], Any] | None = None) -> Any:
    """Poll ``predicate`` until it returns something truthy (the relayer works in the background);
    ``show()`` explains a timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}" + (f": {show()}" if show else ""))
        time.sleep(0.05)


def admin_headers(client, runtime, username: str) -> dict[str, str]:
    """Authorization headers of a new ``admin`` staff account ``username``."""
    password = f"{username} password 1"
    with runtime.sessions() as session, session.begin():
        create_staff(session, runtime.vault, username=username, password=password, role="admin")
    response = client.post("/v1/auth/staff/token", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def pass_recovery_delay(runtime: Any, identity_id: str, timeout: float = 30.0) -> None:
    """Let a requested recovery's delay pass on chain (anvil time travel: tests only), once its request
    is on chain; the service's worker may then execute it."""
    from chain.node import rpc_call
    from procedures.identity.models import WalletIdentity

    def eta() -> Any:
        with runtime.sessions() as session:
            row = session.get(WalletIdentity, identity_id)
            return row.recovery_eta if row is not None else None

    due = wait_until(eta, timeout, what="the recovery's eta (the request on chain)")
    wait = int(due.timestamp()) - runtime.coin.block_time()
    url = runtime.settings.rpc_url
    if wait > 0:
        rpc_call(url, "evm_increaseTime", [wait])
    rpc_call(url, "evm_mine")


def let_recovery_run(runtime: Any, identity_id: str, timeout: float = 30.0) -> Any:
    """Let a requested recovery's delay pass (``pass_recovery_delay``) and wait until the service's worker
    executed it and folded it back; returns the new wallet's identity row."""
    from procedures.identity.models import WalletIdentity

    pass_recovery_delay(runtime, identity_id, timeout)

    def done() -> Any:
        with runtime.sessions() as session:
            row = session.get(WalletIdentity, identity_id)
            return row if row is not None and row.status != "recovering" else None

    return wait_until(done, timeout, what="the recovery's execution")


@pytest.fixture
def operator(client, runtime) -> dict[str, str]:
    """Authorization headers of a city operator (an ``admin`` staff account)."""
    return admin_headers(client, runtime, "operator")


@pytest.fixture
def second_operator(client, runtime) -> dict[str, str]:
    """Authorization headers of another ``admin`` staff account (four eyes)."""
    return admin_headers(client, runtime, "auditor")


def service_env(anvil: Any, database_url: tuple[str, str | None], var: Path, **extra: str) -> dict[str, str]:
    """Environment for a `machi serve` subprocess on the test chain and database."""
    url, schema = database_url
    env = {**os.environ, "MACHI_ENVIRONMENT": "test", "MACHI_RPC_URL": anvil.url, "DATABASE_URL": url,
           "MACHI_VAR_DIR": str(var), "MACHI_LOG_LEVEL": "WARNING", "MACHI_RELAYER_POLL_INTERVAL": "0.01",
           "MACHI_BATCH_MAX_WAIT": "0.05", **extra}
    if schema:
        env["MACHI_DATABASE_SCHEMA"] = schema
    return env


@pytest.fixture
def make_resident(client, arrange):
    """Factory: an attested resident with ``coins`` and a logged-in token."""

    def make(coins: int = 0, level: int = 2) -> Resident:
        from chain.contracts.registry import AssuranceLevel

        account = Account.create()
        arrange.attest(account.address, AssuranceLevel(level))
        if coins:
            arrange.mint(account.address, coins)
        return Resident(account, wallet_login(client, account))

    return make


@pytest.fixture
def live_server(settings, runtime) -> Iterator[str]:
    """The real app on http://127.0.0.1:<free port>, workers running."""
    port = free_port()
    config = uvicorn.Config(create_app(settings, runtime=runtime, workers=True), host="127.0.0.1", port=port,
                            log_config=None, access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def cli_env(monkeypatch, runtime, database_url):
    """The operator CLI's settings (``machi …`` run in-process): the test chain, database and deployment manifest."""
    url, schema = database_url
    for name, value in {"MACHI_ENVIRONMENT": "test", "MACHI_RPC_URL": runtime.settings.rpc_url,
                        "DATABASE_URL": url, "MACHI_VAR_DIR": str(runtime.settings.var_dir)}.items():
        monkeypatch.setenv(name, value)
    if schema:
        monkeypatch.setenv("MACHI_DATABASE_SCHEMA", schema)
    get_settings.cache_clear()
    yield runtime
    get_settings.cache_clear()
