"""Shared fixtures: a real anvil, the compiled contracts, a real database (SQLite, or PostgreSQL
when ``DATABASE_URL`` is set), and per-test isolation (chain snapshot/revert, tables emptied).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3
from web3.contract import Contract

from chain.compiler import Artifact, CompileResult, compile_contracts
from chain.deploy import Manifest, deploy
from chain.node import LocalNode, NodeConfig, free_port, rpc_call
from chain.plan import COIN, LEDGER, REGISTRY, PlanParams, city_plan, plan_params
from chain.rpc import connect
from chain.storage import Base, make_engine, make_session_factory
from chain.toolchain import PROJECT_ROOT
from procedures.config import (
    DEV_ADMIN_KEY,
    DEV_BENEFITS_MINTER_KEY,
    DEV_FREEZER_KEY,
    DEV_RECOVERY_KEY,
    DEV_REGISTRAR_KEY,
    DEV_RELAYER_KEY,
    DEV_SETTLEMENT_KEY,
    DEV_TOPUP_MINTER_KEY,
    normalise_database_url,
)
from procedures.db import migrate

FIXTURE_CONTRACTS = PROJECT_ROOT / "tests" / "fixtures" / "contracts"
ARTIFACTS = Path(os.environ.get("MACHI_TEST_ARTIFACTS", PROJECT_ROOT / "test-artifacts"))

# Session-scoped chain fixtures that must exist *before* a test's snapshot is taken, otherwise the
# revert at the end of the first test using them would undo their deployment. No function-scoped fixture
# may take one of these names: it would be set up before the snapshot and its chain writes never reverted
# (the card counter, once called ``counter``, left the city treasury bound for every later test).
_SESSION_CHAIN_FIXTURES = ("city", "counter", "test_operator")


# --------------------------------------------------------------------------- chain
@pytest.fixture(scope="session")
def compiled() -> CompileResult:
    """The project's contracts plus the test fixtures, compiled once (and cached across runs)."""
    return compile_contracts([PROJECT_ROOT / "contracts" / "src", FIXTURE_CONTRACTS])


@pytest.fixture(scope="session")
def anvil() -> Iterator[LocalNode]:
    """A real anvil on a free port, in memory, automining."""
    node = LocalNode(NodeConfig(port=free_port(), state_dir=None, chain_id=31337))
    node.start()
    yield node
    node.stop()


@pytest.fixture(scope="session")
def w3(anvil: LocalNode) -> Web3:
    """web3 connected to the session's anvil."""
    return connect(anvil.url)


@pytest.fixture(autouse=True)
def _chain_isolation(request: pytest.FixtureRequest) -> Iterator[None]:
    """Revert the chain to its state before the test, for tests that touch the chain."""
    names = request.fixturenames
    if "w3" not in names and "anvil" not in names:
        yield
        return
    for name in _SESSION_CHAIN_FIXTURES:
        if name in names:
            request.getfixturevalue(name)
    node: LocalNode = request.getfixturevalue("anvil")
    snapshot = rpc_call(node.url, "evm_snapshot")
    yield
    if node.running:
        rpc_call(node.url, "evm_revert", [snapshot])
        rpc_call(node.url, "evm_setAutomine", [True])


@dataclass
class Keys:
    """The dev keys (anvil's well-known accounts), one per on-chain role; ``deployer`` is the admin."""

    deployer: LocalAccount
    relayer: LocalAccount
    topup: LocalAccount
    benefits: LocalAccount
    registrar: LocalAccount
    freezer: LocalAccount
    recovery: LocalAccount
    settlement: LocalAccount

    @property
    def admin(self) -> LocalAccount:
        """The admin key (DEFAULT_ADMIN, master minter, pauser): the deployer."""
        return self.deployer


@pytest.fixture(scope="session")
def keys() -> Keys:
    return Keys(
        deployer=Account.from_key(DEV_ADMIN_KEY),
        relayer=Account.from_key(DEV_RELAYER_KEY),
        topup=Account.from_key(DEV_TOPUP_MINTER_KEY),
        benefits=Account.from_key(DEV_BENEFITS_MINTER_KEY),
        registrar=Account.from_key(DEV_REGISTRAR_KEY),
        freezer=Account.from_key(DEV_FREEZER_KEY),
        recovery=Account.from_key(DEV_RECOVERY_KEY),
        settlement=Account.from_key(DEV_SETTLEMENT_KEY),
    )


@pytest.fixture
def new_account(w3: Web3, anvil: LocalNode) -> Any:
    """Factory: a fresh random account, optionally funded with ETH for gas."""

    def make(eth: int = 0) -> LocalAccount:
        account = Account.create()
        if eth:
            rpc_call(anvil.url, "anvil_setBalance", [account.address, hex(eth * 10**18)])
        return account

    return make


@dataclass
class City:
    """The city's contracts deployed by the production plan."""

    manifest: Manifest
    registry: Contract
    coin: Contract
    ledger: Contract


@pytest.fixture(scope="session")
def city(w3: Web3, compiled: CompileResult, keys: Keys, tmp_path_factory: pytest.TempPathFactory) -> City:
    """IdentityRegistry, RegionalCoin, ProcedureLedger and OfflineReserve deployed and wired by ``chain.plan``."""
    params = PlanParams(
        currency_name="Kaga Coin",
        currency_symbol="KAGA",
        relayer=keys.relayer.address,
        registrar=keys.registrar.address,
        freezer=keys.freezer.address,
        recovery=keys.recovery.address,
        topup_minter=keys.topup.address,
        benefits_minter=keys.benefits.address,
        topup_allowance=10**12,
        benefits_allowance=10**10,
    )
    manifest, _ = deploy(
        w3,
        keys.deployer,
        compiled,
        city_plan(),
        tmp_path_factory.mktemp("deployments"),
        params=plan_params(params, keys.deployer.address),
    )

    def at(name: str) -> Contract:
        return w3.eth.contract(address=Web3.to_checksum_address(manifest.address(name)), abi=compiled[name].abi)

    return City(manifest, at(REGISTRY), at(COIN), at(LEDGER))


# --------------------------------------------------------------------------- database
@pytest.fixture(scope="session")
def database_url() -> Iterator[tuple[str, str | None]]:
    """(SQLAlchemy URL, PostgreSQL schema or None). PostgreSQL whenever DATABASE_URL is set."""
    raw = os.environ.get("DATABASE_URL") or os.environ.get("MACHI_DATABASE_URL")
    if raw:
        url = normalise_database_url(raw)
        schema = f"t_{uuid.uuid4().hex[:10]}"
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        yield url, schema
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
    else:
        import tempfile

        directory = tempfile.mkdtemp(prefix="machi-db-")
        yield f"sqlite:///{directory}/test.db", None


@pytest.fixture(scope="session")
def engine(database_url: tuple[str, str | None]) -> Iterator[Engine]:
    """A migrated database (the real Alembic migrations)."""
    url, schema = database_url
    eng = make_engine(url, schema=schema)
    migrate(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def sessions(engine: Engine) -> Iterator[sessionmaker[Session]]:
    """A session factory; every table is emptied after the test."""
    yield make_session_factory(engine)
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests leave screenshots and reports."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium under Playwright, one per test session (shared by the console and story tests:
    a second sync Playwright in the same process would fail)."""
    from scripts.demo_clerk import CHROMIUM, CHROMIUM_ARGS

    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: `make test` installs it (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, artifacts_dir: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser context per test; a screenshot is saved under test-artifacts/ at the end."""
    context = browser.new_context(locale="ja-JP", viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    yield pg
    name = request.node.name.replace("/", "_").replace("[", "-").replace("]", "")
    try:
        pg.screenshot(path=str(artifacts_dir / "screenshots" / f"{name}.png"), full_page=True)
    finally:
        context.close()


def deploy_fixture(w3: Web3, deployer: LocalAccount, artifact: Artifact) -> Contract:
    """Deploy a fixture contract that takes no constructor arguments (outside any deployment plan)."""
    from chain.deploy import send_transaction

    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    receipt = send_transaction(w3, deployer, factory.constructor().build_transaction({"from": deployer.address}))
    return w3.eth.contract(address=receipt["contractAddress"], abi=artifact.abi)


@pytest.fixture(scope="session")
def counter(w3: Web3, compiled: CompileResult, keys: Keys) -> Contract:
    """The small fixture contract (tests/fixtures/contracts/Counter.sol), deployed once."""
    return deploy_fixture(w3, keys.deployer, compiled["Counter"])


@pytest.fixture(scope="session")
def test_operator(w3: Web3, anvil: LocalNode, city: City, keys: Keys) -> LocalAccount:
    """A test-only key with REGISTRAR_ROLE, FREEZER_ROLE and a minter allowance, for arranging chain state.

    Service tests arrange residents and balances with it instead of the service's own keys, so
    they never race the running relayer workers for those keys' nonces.
    """
    from chain.contracts.base import role_id, send_call
    from chain.contracts.coin import RegionalCoinClient
    from chain.contracts.registry import IdentityRegistryClient

    operator = Account.create()
    rpc_call(anvil.url, "anvil_setBalance", [operator.address, hex(1000 * 10**18)])
    registry = IdentityRegistryClient(w3, city.registry.address, city.registry.abi)
    coin = RegionalCoinClient(w3, city.coin.address, city.coin.abi)
    send_call(w3, keys.deployer, registry.grant_role_call(role_id("REGISTRAR_ROLE"), operator.address))
    send_call(w3, keys.deployer, coin.grant_role_call(role_id("FREEZER_ROLE"), operator.address))
    send_call(w3, keys.deployer, coin.configure_minter_call(operator.address, 10**12))
    return operator
