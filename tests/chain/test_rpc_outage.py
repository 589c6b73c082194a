"""The chain connection under faults: a real anvil behind ``chain.faults.RpcProxy``.

A refused or stalled node must surface as a recognisable "unreachable" error (never a hang), and
the connection must work again, with the node's state intact, once the proxy is back up.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from chain.errors import NodeError
from chain.faults import RpcProxy
from chain.node import LocalNode
from chain.rpc import connect, is_unreachable


@pytest.fixture
def proxy(anvil: LocalNode) -> Iterator[RpcProxy]:
    with RpcProxy(anvil.url) as p:
        yield p


def test_a_refused_node_is_unreachable_and_answers_again_after_the_outage(proxy, w3):
    through = connect(proxy.url, timeout=1.0)
    before = through.eth.block_number
    proxy.down("refuse")
    with pytest.raises(Exception) as refused:
        through.eth.block_number  # noqa: B018
    assert is_unreachable(refused.value), repr(refused.value)
    with pytest.raises(NodeError):
        connect(proxy.url, timeout=1.0)  # a new connection is refused too
    proxy.up()
    assert through.eth.block_number == w3.eth.block_number >= before  # same node, same state


def test_a_stalled_node_times_out_instead_of_hanging(proxy):
    through = connect(proxy.url, timeout=0.5)
    proxy.down("stall")
    with pytest.raises(requests.Timeout) as stalled:
        through.eth.get_transaction_count("0x0000000000000000000000000000000000000001")
    assert is_unreachable(stalled.value)
    proxy.up()
    assert through.eth.get_transaction_count("0x0000000000000000000000000000000000000001") == 0


def test_a_revert_or_a_bad_request_is_not_mistaken_for_an_outage():
    wrapped = ValueError("execution reverted")
    assert not is_unreachable(wrapped)
    try:
        try:
            raise requests.ConnectionError("refused")
        except requests.ConnectionError as inner:
            raise RuntimeError("while reading the balance") from inner
    except RuntimeError as outer:
        assert is_unreachable(outer)  # found through __cause__
