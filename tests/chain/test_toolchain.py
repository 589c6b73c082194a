"""Compiler cache and errors, the local node's lifecycle, idempotent deployment."""

from __future__ import annotations

import shutil

import pytest

from chain.compiler import compile_contracts
from chain.deploy import ContractSpec, DeploymentPlan, deploy, load_manifest
from chain.errors import CompilerError, DeploymentError, NodeError, ToolchainError
from chain.node import LocalNode, NodeConfig, free_port, rpc_call
from chain.rpc import connect
from chain.toolchain import find_toolchain
from tests.conftest import FIXTURE_CONTRACTS


def test_compiler_cache_hit_and_miss(tmp_path):
    sources = tmp_path / "src"
    shutil.copytree(FIXTURE_CONTRACTS, sources)
    cache = tmp_path / "build"
    first = compile_contracts([sources], cache_dir=cache)
    assert not first.cache_hit and first["Counter"].deployable
    second = compile_contracts([sources], cache_dir=cache)
    assert second.cache_hit and second.cache_key == first.cache_key
    assert second["Counter"].bytecode == first["Counter"].bytecode
    counter = sources / "Counter.sol"
    counter.write_text(counter.read_text().replace("_value += by;", "_value += by + 0;"))
    third = compile_contracts([sources], cache_dir=cache)
    assert not third.cache_hit and third.cache_key != first.cache_key
    assert len(list(cache.glob("*.json"))) == 2


def test_compile_error_names_file_line_and_message(tmp_path):
    broken = tmp_path / "src" / "Broken.sol"
    broken.parent.mkdir()
    broken.write_text("// SPDX-License-Identifier: MIT\npragma solidity ^0.8.24;\n\ncontract Broken {\n"
                      "    function f() external { uint256 x = ; }\n}\n")
    with pytest.raises(CompilerError) as info:
        compile_contracts([broken.parent], cache_dir=tmp_path / "build")
    [message] = info.value.errors
    assert "Broken.sol:5:" in message
    assert "ParserError" in message
    assert not list(tmp_path.glob("build/*.json"))  # a failed build is never cached


def test_missing_anvil_names_the_fix(tmp_path):
    (tmp_path / "node_modules").mkdir()
    with pytest.raises(ToolchainError, match="npm ci"):
        find_toolchain(contracts_dir=tmp_path, install=False)


def test_node_restart_keeps_state(tmp_path):
    node = LocalNode(NodeConfig(port=free_port(), state_dir=tmp_path / "chain"))
    address = "0x000000000000000000000000000000000000bEEF"
    with node:
        rpc_call(node.url, "anvil_setBalance", [address, hex(123_456)])
        rpc_call(node.url, "evm_mine")
        height = int(str(rpc_call(node.url, "eth_blockNumber")), 16)
    assert not node.running
    assert (tmp_path / "chain" / "state.json").exists()
    with node:
        assert int(str(rpc_call(node.url, "eth_getBalance", [address, "latest"])), 16) == 123_456
        assert int(str(rpc_call(node.url, "eth_blockNumber")), 16) == height


def test_node_refuses_a_busy_port(anvil):
    busy = LocalNode(NodeConfig(port=anvil.config.port, state_dir=None))
    with pytest.raises(NodeError, match="already in use"):
        busy.start()


def test_unreachable_rpc_is_a_node_error():
    with pytest.raises(NodeError, match="no JSON-RPC node"):
        connect(f"http://127.0.0.1:{free_port()}", timeout=1)


def test_deploy_is_idempotent_and_detects_a_reset_chain(tmp_path, compiled, keys):
    plan = DeploymentPlan([ContractSpec("Counter", "Counter")])
    node = LocalNode(NodeConfig(port=free_port(), state_dir=None))
    with node:
        w3 = connect(node.url)
        manifest, sent = deploy(w3, keys.deployer, compiled, plan, tmp_path)
        assert sent == 1 and w3.eth.get_code(manifest.address("Counter"))
        again, sent_again = deploy(w3, keys.deployer, compiled, plan, tmp_path)
        assert sent_again == 0 and again.address("Counter") == manifest.address("Counter")
        assert load_manifest(w3, tmp_path).contracts["Counter"].abi_hash == compiled["Counter"].abi_hash
    # A fresh node (no persisted state) is a reset chain: the manifest must not be trusted.
    with LocalNode(NodeConfig(port=free_port(), state_dir=None)) as fresh:
        w3 = connect(fresh.url)
        with pytest.raises(DeploymentError, match="--redeploy"):
            load_manifest(w3, tmp_path)
        with pytest.raises(DeploymentError, match="reset"):
            deploy(w3, keys.deployer, compiled, plan, tmp_path)
        redeployed, sent = deploy(w3, keys.deployer, compiled, plan, tmp_path, redeploy=True)
        assert sent == 1 and load_manifest(w3, tmp_path).address("Counter") == redeployed.address("Counter")


def test_city_plan_wires_roles(city, keys):
    registrar = city.registry.functions.REGISTRAR_ROLE().call()
    assert city.registry.functions.hasRole(registrar, keys.registrar.address).call()
    assert not city.registry.functions.hasRole(registrar, keys.relayer.address).call()
    relayer_role = city.coin.functions.RELAYER_ROLE().call()
    assert city.coin.functions.hasRole(relayer_role, keys.relayer.address).call()
    assert city.coin.functions.minterAllowance(keys.topup.address).call() == 10**12
    assert city.coin.functions.minterAllowance(keys.benefits.address).call() == 10**10
    anchor = city.ledger.functions.ANCHOR_ROLE().call()
    assert city.ledger.functions.hasRole(anchor, keys.relayer.address).call()
    assert not city.ledger.functions.hasRole(anchor, keys.topup.address).call()
