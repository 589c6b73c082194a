"""The node side of a permissioned network: a second node implementation (Hardhat), the QBFT shape
(own chain id, interval blocks, zero gas price, an older fork), the fork check and RPC failover."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account

from chain.compiler import compile_contracts
from chain.errors import CompilerError, DeploymentError, NodeError
from chain.faults import RpcProxy
from chain.network import check_evm_version, node_evm_version
from chain.node import LocalNode, NodeConfig, free_port
from chain.rpc import connect
from chain.toolchain import PROJECT_ROOT
from procedures.config import DEV_RELAYER_KEY

QBFT_CHAIN_ID = 7441


@pytest.fixture(scope="module", params=["anvil", "hardhat"])
def qbft_node(request) -> Iterator[LocalNode]:
    """A node in the shape of a city's QBFT network: own chain id, 1 s blocks, no gas price, shanghai."""
    node = LocalNode(NodeConfig(port=free_port(), state_dir=None, chain_id=QBFT_CHAIN_ID,
                                implementation=request.param, block_time=1.0, gas_price=0, base_fee=0,
                                hardfork="shanghai"))
    node.start(timeout=60)
    yield node
    node.stop()


def test_a_qbft_shaped_node_mines_zero_price_legacy_transactions_on_an_interval(qbft_node):
    w3 = connect(qbft_node.url)
    assert w3.eth.chain_id == QBFT_CHAIN_ID
    sender = Account.from_key(DEV_RELAYER_KEY)  # a dev-mnemonic account, funded on both nodes
    before = w3.eth.block_number
    tx = {"chainId": QBFT_CHAIN_ID, "nonce": w3.eth.get_transaction_count(sender.address), "to": sender.address,
          "value": 1, "gas": 21_000, "gasPrice": 0}
    tx_hash = w3.eth.send_raw_transaction(sender.sign_transaction(tx).raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=15, poll_latency=0.1)
    assert receipt["status"] == 1 and receipt["blockNumber"] > before  # mined by the interval, not on arrival
    assert receipt["effectiveGasPrice"] == 0


def test_the_fork_probe_reads_what_the_node_runs_and_deploy_refuses_newer_code(qbft_node, anvil):
    assert node_evm_version(connect(qbft_node.url)) == "shanghai"
    assert node_evm_version(connect(anvil.url)) == "cancun"  # the default anvil runs a newer fork
    assert check_evm_version(connect(qbft_node.url), "shanghai") == "shanghai"
    assert check_evm_version(connect(qbft_node.url), "london") == "shanghai"
    with pytest.raises(DeploymentError, match="MACHI_EVM_VERSION=shanghai"):
        check_evm_version(connect(qbft_node.url), "cancun")


def test_an_unknown_fork_is_refused_with_the_choices(tmp_path):
    with pytest.raises(CompilerError, match="london"):
        compile_contracts([PROJECT_ROOT / "contracts" / "src"], cache_dir=tmp_path, evm_version="frontier")


def test_requests_fail_over_to_the_second_endpoint_and_stay_there(anvil):
    with RpcProxy(anvil.url) as first:
        w3 = connect([first.url, anvil.url])
        head = w3.eth.block_number
        first.down("refuse")
        assert w3.eth.block_number >= head  # answered by the second endpoint
        assert w3.provider.endpoint_uri == anvil.url  # type: ignore[attr-defined]
        with w3.batch_requests() as batch:  # batches (the indexer's) fail over too
            batch.add(w3.eth.get_block("latest"))
            assert len(batch.execute()) == 1


def test_no_endpoint_answering_is_a_node_error_without_the_urls_credentials():
    dead = f"http://user:s3cret@127.0.0.1:{free_port()}/key/abc"
    with pytest.raises(NodeError) as raised:
        connect([dead], timeout=1)
    assert "s3cret" not in str(raised.value) and "abc" not in str(raised.value)


def test_hardhat_is_given_its_own_name_for_paris(tmp_path):
    node = LocalNode(NodeConfig(port=free_port(), state_dir=tmp_path, implementation="hardhat", hardfork="paris"))
    argv = node.command()
    config = Path(argv[argv.index("--config") + 1]).read_text()
    assert '"hardfork": "merge"' in config and "paris" not in config
