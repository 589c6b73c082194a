"""``chain.receipts``: a transaction the node does not know is ``None``; a node that does not answer is
``NodeError`` — the two are never confused (a real anvil behind ``chain.faults.RpcProxy``)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from chain.errors import ContractLogicError, NodeError
from chain.faults import RpcProxy
from chain.node import LocalNode
from chain.receipts import node_chain_id, outage_as_node_error, transaction_receipt
from chain.rpc import connect


@pytest.fixture
def proxy(anvil: LocalNode) -> Iterator[RpcProxy]:
    with RpcProxy(anvil.url) as p:
        yield p


def test_a_mined_transaction_has_its_receipt_and_an_unknown_one_is_none(w3, keys, new_account):
    tx_hash = w3.eth.send_transaction({"from": keys.deployer.address, "to": new_account().address, "value": 1})
    w3.eth.wait_for_transaction_receipt(tx_hash)
    found = transaction_receipt(w3, tx_hash)
    assert found is not None and found["transactionHash"] == tx_hash
    assert transaction_receipt(w3, "0x" + os.urandom(32).hex()) is None
    assert node_chain_id(w3) == 31337


def test_a_refused_node_is_node_error_not_a_missing_transaction(proxy):
    through = connect(proxy.url, timeout=1.0)
    proxy.down("refuse")
    with pytest.raises(NodeError, match="did not answer while reading transaction 0x"):
        transaction_receipt(through, "0x" + os.urandom(32).hex())
    with pytest.raises(NodeError, match="chain id"):
        node_chain_id(through)
    proxy.up()
    assert node_chain_id(through) == 31337


def test_only_outages_are_translated():
    revert = ContractLogicError("ProcedureLedgerUnknownAnchor", {"anchorId": 7})
    with pytest.raises(ContractLogicError), outage_as_node_error("reading an anchor"):
        raise revert
    with pytest.raises(NodeError, match="while reading an anchor") as caught, outage_as_node_error("reading an anchor"):
        raise ConnectionRefusedError("refused")
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)
