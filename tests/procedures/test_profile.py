"""The network profile (issue 17): settings read and checked, the runtime deploying and relaying in the
profile's shape on a QBFT-shaped node (own chain id, interval blocks, zero gas price, shanghai), the fork
check before deploy, and ``machi status`` showing the profile beside what the node reports."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator

import pytest
from eth_account import Account
from pydantic import ValidationError

from chain.errors import DeploymentError
from chain.fees import FeeModel
from chain.node import LocalNode, NodeConfig, free_port
from chain.outbox import IntentStatus, TxIntent, enqueue
from chain.relayer import Relayer
from procedures.config import DEV_ADMIN_KEY, Settings
from procedures.profile import embedded_node_config
from procedures.runtime import Runtime
from scripts.demo_tools import BIN

QBFT_CHAIN_ID = 7441


@pytest.fixture(scope="module")
def qbft() -> Iterator[LocalNode]:
    """anvil in a QBFT network's shape: its own chain id, 1 s blocks, no gas price or base fee, shanghai."""
    node = LocalNode(NodeConfig(port=free_port(), state_dir=None, chain_id=QBFT_CHAIN_ID, block_time=1.0,
                                gas_price=0, base_fee=0, hardfork="shanghai"))
    node.start()
    yield node
    node.stop()


def _profile(qbft: LocalNode, database_url, tmp_path, **overrides) -> Settings:
    url, schema = database_url
    values = {"environment": "test", "var_dir": tmp_path / "var", "database_url": url, "database_schema": schema,
              "rpc_urls": [f"http://user:pw-s3cret@127.0.0.1:{free_port()}/key", qbft.url],
              "chain_id": QBFT_CHAIN_ID, "fee_model": "legacy", "gas_price_wei": 0, "evm_version": "shanghai",
              "confirmations": 0, "block_time": 1.0, "relayer_poll_interval": 0.05, **overrides}
    return Settings(**values)


def test_the_profile_is_read_from_the_environment(monkeypatch):
    for name, value in {"MACHI_RPC_URLS": " http://city:8545, https://bank.example/rpc ,", "MACHI_FEE_MODEL": "legacy",
                        "MACHI_GAS_PRICE_WEI": "0", "MACHI_EVM_VERSION": "shanghai", "MACHI_CONFIRMATIONS": "0",
                        "MACHI_BLOCK_TIME": "2", "MACHI_CHAIN_ID": "7441", "MACHI_RPC_TIMEOUT": "3",
                        "MACHI_ENVIRONMENT": "development"}.items():  # else another chain is production
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.effective_rpc_urls == ["http://city:8545", "https://bank.example/rpc"] and settings.external_rpc
    assert (settings.fee_model, settings.gas_price_wei, settings.evm_version) == (FeeModel.LEGACY, 0, "shanghai")
    assert (settings.confirmations, settings.effective_confirmations, settings.block_time) == (0, 1, 2.0)
    policy = settings.fee_policy()
    assert (policy.model, policy.gas_price) == (FeeModel.LEGACY, 0)
    monkeypatch.setenv("MACHI_RPC_URL", "http://first:8545")
    assert Settings().effective_rpc_urls == ["http://first:8545", "http://city:8545", "https://bank.example/rpc"]


def test_the_default_profile_is_the_embedded_anvil():
    settings = Settings()
    assert not settings.external_rpc and settings.effective_rpc_urls == ["http://127.0.0.1:8545"]
    assert (settings.fee_model, settings.evm_version, settings.confirmations) == (FeeModel.EIP1559, "cancun", 1)
    node = embedded_node_config(settings)
    assert (node.implementation, node.gas_price, node.base_fee, node.hardfork) == ("anvil", None, None, "cancun")


@pytest.mark.parametrize(("values", "message"), [
    ({"gas_price_wei": 0}, "MACHI_FEE_MODEL=legacy"),
    ({"fee_model": "legacy", "gas_price_wei": -1}, "greater than or equal to 0"),
    ({"evm_version": "frontier"}, "shanghai"),
    ({"confirmations": -1}, "greater than or equal to 0"),
    ({"rpc_urls": ["ws://node:8546"]}, "not an http"),
    ({"fee_model": "free"}, "eip1559"),
])
def test_a_bad_profile_is_refused_naming_the_setting(values, message):
    with pytest.raises(ValidationError, match=message):
        Settings(**values)


def test_production_needs_an_rpc_endpoint_and_takes_a_list():
    secrets = {"environment": "production", "secret_key": "s" * 40, "admin_key": "0x" + "11" * 32,
               "relayer_key": "0x" + "12" * 32, "topup_minter_key": "0x" + "13" * 32,
               "benefits_minter_key": "0x" + "14" * 32, "registrar_key": "0x" + "15" * 32,
               "freezer_key": "0x" + "16" * 32, "recovery_key": "0x" + "17" * 32, "settlement_key": "0x" + "18" * 32,
               "jpki_linkage_path": "/etc/machi/jlis-linkage.json"}
    with pytest.raises(ValidationError, match="MACHI_RPC_URLS"):
        Settings(**secrets)
    assert Settings(**secrets, rpc_urls=["https://city-node:8545"]).effective_rpc_url == "https://city-node:8545"


def test_the_embedded_node_takes_the_profiles_shape():
    node = embedded_node_config(Settings(environment="development", chain_id=7441, block_time=2, fee_model="legacy",
                                         gas_price_wei=0, evm_version="shanghai", node_implementation="hardhat"))
    assert (node.chain_id, node.block_time, node.gas_price, node.base_fee, node.hardfork, node.implementation) == (
        7441, 2, 0, 0, "shanghai", "hardhat")


def test_the_runtime_deploys_and_relays_legacy_zero_price_shanghai_code_through_a_failover(
        qbft, engine, sessions, database_url, tmp_path):
    runtime = Runtime.create(_profile(qbft, database_url, tmp_path), engine=engine)
    manifest, sent = runtime.deploy(Account.from_key(DEV_ADMIN_KEY))
    assert sent > 0 and manifest.chain_id == QBFT_CHAIN_ID
    w3 = runtime.w3
    assert w3.provider.endpoint_uri == qbft.url  # type: ignore[attr-defined]  # the first endpoint is down
    for entry in manifest.contracts.values():
        tx = w3.eth.get_transaction(entry.tx_hash)  # type: ignore[arg-type]
        assert (tx["type"], tx["gasPrice"]) == (0, 0), entry
    relayer = Relayer(w3=runtime.connect(), account=runtime.keys.relayer, engine=engine, session_factory=sessions,
                      lock_dir=tmp_path / "locks", config=runtime.relayer_config(), batchers=runtime.batchers(),
                      allowlist=runtime.allowlist("relayer"))
    call = runtime.ledger.anchor_call(os.urandom(32), 3)
    with sessions() as session, session.begin():
        intent_id = enqueue(session, sender=runtime.keys.relayer.address, to=call.to, data=call.data,
                            kind="ledger.anchor").id
    deadline = time.monotonic() + 30
    while True:  # blocks come every second: a few passes until the anchor is mined and counted
        relayer.step()
        with sessions() as session:
            intent = session.get(TxIntent, intent_id)
            assert intent is not None
            if intent.status not in (IntentStatus.PENDING, IntentStatus.QUEUED):
                break
        assert time.monotonic() < deadline, "the anchor was not confirmed"
        time.sleep(0.2)
    assert intent.status == IntentStatus.CONFIRMED
    tx = w3.eth.get_transaction(intent.tx_hash)  # type: ignore[arg-type]
    assert (tx["type"], tx["gasPrice"]) == (0, 0)
    runtime.close()


def test_deploy_refuses_code_for_a_newer_fork_than_the_node_runs(qbft, engine, sessions, database_url, tmp_path):
    runtime = Runtime.create(_profile(qbft, database_url, tmp_path, evm_version="cancun"), engine=engine)
    with pytest.raises(DeploymentError, match="MACHI_EVM_VERSION=shanghai"):
        runtime.deploy(Account.from_key(DEV_ADMIN_KEY))
    assert not (runtime.settings.deployments_dir / f"{QBFT_CHAIN_ID}.json").exists()  # nothing was sent
    runtime.close()


def _status(settings: Settings, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MACHI_") and k != "DATABASE_URL"}
    environment.update({"MACHI_ENVIRONMENT": "test", "MACHI_VAR_DIR": str(settings.var_dir),
                        "DATABASE_URL": str(settings.database_url), "COLUMNS": "200",
                        "MACHI_RPC_URLS": ",".join(settings.rpc_urls), "MACHI_CHAIN_ID": str(settings.chain_id),
                        "MACHI_FEE_MODEL": "legacy", "MACHI_GAS_PRICE_WEI": "0", "MACHI_EVM_VERSION": "shanghai",
                        "MACHI_CONFIRMATIONS": "0", "MACHI_BLOCK_TIME": "1", **env})
    if settings.database_schema:
        environment["MACHI_DATABASE_SCHEMA"] = settings.database_schema
    return subprocess.run([str(BIN / "machi"), "status"], env=environment, capture_output=True, text=True,
                          timeout=120, check=False)


def test_machi_status_shows_the_profile_and_what_the_node_reports(qbft, engine, sessions, database_url, tmp_path):
    settings = _profile(qbft, database_url, tmp_path)
    runtime = Runtime.create(settings, engine=engine)
    runtime.deploy(Account.from_key(DEV_ADMIN_KEY))
    runtime.close()
    shown = _status(settings)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    out = shown.stdout
    for expected in ("legacy, gas price 0 wei", "contracts compiled for shanghai", "final once mined (BFT)",
                     f"{qbft.url} (timeout 5 s)", "node chain id", str(QBFT_CHAIN_ID), "anvil", "runs shanghai",
                     "shanghai code runs there", "block time", "1 s", "RegionalCoin"):
        assert expected in out, (expected, out)
    assert "pw-s3cret" not in out + shown.stderr and "/key" not in out  # endpoints shown without credentials

    wrong = _status(settings, MACHI_CHAIN_ID="7442", MACHI_EVM_VERSION="cancun")
    assert wrong.returncode == 1, wrong.stdout
    assert "MACHI_CHAIN_ID says 7442" in wrong.stdout and "set MACHI_EVM_VERSION=shanghai" in wrong.stdout


def test_an_operator_command_sends_in_the_profiles_fee_model(qbft, engine, sessions, database_url, tmp_path):
    from procedures.admin_cli import submit

    runtime = Runtime.create(_profile(qbft, database_url, tmp_path), engine=engine)
    runtime.deploy(Account.from_key(DEV_ADMIN_KEY))
    before = runtime.w3.eth.block_number
    submit(runtime, runtime.coin.pause_call(), "pause", keystore=None, password_file=None, print_tx=False)
    submit(runtime, runtime.coin.unpause_call(), "unpause", keystore=None, password_file=None, print_tx=False)
    sent = [tx for number in range(before + 1, runtime.w3.eth.block_number + 1)
            for tx in runtime.w3.eth.get_block(number, full_transactions=True)["transactions"]]
    assert len(sent) == 2 and all((tx["type"], tx["gasPrice"]) == (0, 0) for tx in sent), sent  # type: ignore[index]
    runtime.close()


def test_machi_will_not_start_an_in_memory_hardhat_node_that_would_vanish(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MACHI_") and k != "DATABASE_URL"}
    env.update({"MACHI_ENVIRONMENT": "development", "MACHI_VAR_DIR": str(tmp_path / "var"),
                "MACHI_NODE_IMPLEMENTATION": "hardhat", "MACHI_NODE_PORT": str(free_port()), "COLUMNS": "200"})
    deployed = subprocess.run([str(BIN / "machi"), "deploy"], env=env, capture_output=True, text=True, timeout=120,
                              check=False)
    assert deployed.returncode == 1
    assert "keeps its chain only in memory" in deployed.stderr and "machi node" in deployed.stderr, deployed.stderr
