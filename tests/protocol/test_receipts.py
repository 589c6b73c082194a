"""Receipt verification against a real chain, without the service: a two-event history anchored on the
city's ProcedureLedger, verified; a node that stops answering ends the check in ``NodeError`` ("chain
unreachable"), never in "not found" or "altered"."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3
from web3.middleware import Web3Middleware

from chain.contracts.base import send_call
from chain.contracts.ledger import ProcedureLedgerClient
from chain.errors import NodeError
from chain.faults import RpcProxy
from chain.merkle import MerkleTree
from chain.rpc import connect
from protocol.applications import ZERO_ADDRESS, ZERO_HASH, EventOpening, content_hash, hex32, resident_act, sign_typed
from protocol.receipts import CheckStatus, ledger_client, verify_receipt

APPLICATION = "app_receipt_test"


def _event(opening: EventOpening, tree: MerkleTree, index: int, anchor: dict[str, Any]) -> dict[str, Any]:
    """An event as ``GET /v1/applications/{id}/receipt`` lists it."""
    return {
        "application_id": opening.application_id, "seq": opening.seq, "type": opening.type,
        "procedure": {"code": opening.procedure_code, "version": opening.procedure_version},
        "from_status": opening.from_status, "to_status": opening.to_status, "occurred_at": opening.occurred_at,
        "content_hash": opening.content_hash, "actor": opening.actor, "signature": opening.signature,
        "salt": opening.salt, "nonce": opening.nonce, "deadline": opening.deadline,
        "leaf": hex32(tree.leaf(index)), "proof": [hex32(node) for node in tree.proof(index)], "anchor": anchor,
    }


@pytest.fixture
def receipt(w3: Web3, city: Any, keys: Any) -> dict[str, Any]:
    """A resident's signed submission and a fee fact recorded by the service, anchored in one batch."""
    resident = Account.create()
    ledger, chain_id, now = city.ledger.address, w3.eth.chain_id, int(time.time())
    content = content_hash("snow-removal", 1, {"snow_depth_cm": 40}, [], hex32(os.urandom(32)))
    nonce, deadline = hex32(os.urandom(32)), now + 600
    signed = sign_typed(resident, resident_act(chain_id, ledger, applicant=resident.address, action="submit",
                                               application="", content=content, nonce=nonce, deadline=deadline))
    openings = [
        EventOpening(APPLICATION, "snow-removal", 1, 0, "submitted", "", "submitted", now, content,
                     resident.address, signed, hex32(os.urandom(32)), nonce, deadline),
        EventOpening(APPLICATION, "snow-removal", 1, 1, "fee_paid", "submitted", "submitted", now, ZERO_HASH,
                     ZERO_ADDRESS, "0x", hex32(os.urandom(32))),
    ]
    tree = MerkleTree([o.leaf() for o in openings])
    client = ProcedureLedgerClient(w3, ledger, city.ledger.abi)
    anchor_id = client.anchor_count()
    mined = send_call(w3, keys.relayer, client.anchor_call(tree.root, len(openings)))  # the relayer holds ANCHOR
    anchor = {"anchor_id": anchor_id, "tx_hash": "0x" + bytes(mined["transactionHash"]).hex()}
    return {"application_id": APPLICATION, "ledger": ledger, "chain_id": chain_id, "applicant": resident.address,
            "events": [_event(o, tree, i, anchor) for i, o in enumerate(openings)]}


@pytest.fixture
def proxy(anvil: Any) -> Iterator[RpcProxy]:
    with RpcProxy(anvil.url) as p:
        yield p


def _through(proxy: RpcProxy) -> Web3:
    return connect(proxy.url, timeout=1.0)


def test_an_anchored_receipt_verifies_against_the_chain(w3, receipt):
    check = verify_receipt(w3, ledger_client(w3, receipt["ledger"]), receipt)
    assert check.ok, check
    assert [e.status for e in check.events] == [CheckStatus.VERIFIED, CheckStatus.VERIFIED]
    assert check.chain_id == w3.eth.chain_id and check.events[0].signer == receipt["applicant"]


def test_a_node_refusing_from_the_start_is_chain_unreachable(proxy, receipt):
    through = _through(proxy)
    ledger = ledger_client(through, receipt["ledger"])
    proxy.down("refuse")
    with pytest.raises(NodeError, match="did not answer"):
        verify_receipt(through, ledger, receipt)


def test_an_outage_at_the_anchoring_transaction_is_not_a_missing_transaction(proxy, receipt):
    """The node goes away exactly when the anchoring transaction is looked up: a verifier used to
    report "transaction … not found on this chain" there, as if the receipt named a forged anchor."""
    through = _through(proxy)
    ledger = ledger_client(through, receipt["ledger"])
    receipt = {**receipt, "events": receipt["events"][:1]}  # the lookup is the last thing the check asks

    class CutBeforeReceipts(Web3Middleware):
        def request_processor(self, method: str, params: Any) -> Any:
            if method == "eth_getTransactionReceipt":
                proxy.down("refuse")
            return method, params

    through.middleware_onion.add(CutBeforeReceipts, "cut-before-receipts")
    with pytest.raises(NodeError, match="did not answer"):
        verify_receipt(through, ledger, receipt)
    through.middleware_onion.remove("cut-before-receipts")
    proxy.up()
    assert verify_receipt(through, ledger, receipt).ok  # the same receipt, once the node answers again


def test_an_anchoring_transaction_the_chain_does_not_know_is_not_found(w3, receipt):
    tampered = json.loads(json.dumps(receipt))
    for event in tampered["events"]:
        event["anchor"]["tx_hash"] = hex32(os.urandom(32))
    check = verify_receipt(w3, ledger_client(w3, receipt["ledger"]), tampered)
    assert not check.ok and {e.status for e in check.events} == {CheckStatus.FAILED}
    assert "not found on this chain" in check.events[0].reason


def test_a_malformed_transaction_hash_fails_the_event_without_asking_the_node(w3, receipt):
    tampered = json.loads(json.dumps(receipt))
    tampered["events"][1]["anchor"]["tx_hash"] = "0x1234"
    check = verify_receipt(w3, ledger_client(w3, receipt["ledger"]), tampered)
    assert check.events[0].status == CheckStatus.VERIFIED and check.events[1].status == CheckStatus.FAILED
    assert "is not a transaction hash" in check.events[1].reason
