"""ProcedureLedger: anchors of real Merkle trees, and receipts checked by the chain."""

from __future__ import annotations

import pytest
from eth_abi.abi import encode
from eth_utils.crypto import keccak

from chain.errors import ContractLogicError
from chain.merkle import MerkleTree, hash_encoded_leaf, hash_leaf
from tests.chain.contracts.helpers import Chain, random32, unchecked_call

EVENT_TYPES = ["bytes32", "uint64", "uint8", "bytes32"]  # application id, time, status, signature digest


def _events(count: int) -> list[tuple[bytes, int, int, bytes]]:
    return [(random32(), 1_750_000_000 + i, i % 5, random32()) for i in range(count)]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 33])
def test_every_leaf_of_an_anchored_tree_verifies_on_chain(evm: Chain, size: int) -> None:
    tree = MerkleTree.of(_events(size), EVENT_TYPES)
    receipt = evm.send(evm.ledger.anchor_call(tree.root, len(tree)), evm.operator)
    (anchor,) = evm.ledger.anchored(receipt)
    assert anchor.root == tree.root and anchor.leaf_count == size
    assert anchor.block_number == receipt["blockNumber"] and anchor.anchored_at == evm.now()
    assert evm.ledger.anchor(anchor.anchor_id) == anchor
    for index in range(size):
        assert evm.ledger.verify(tree.leaf(index), tree.proof(index), anchor.anchor_id)


def test_tampered_leaves_and_proofs_fail(evm: Chain) -> None:
    records = _events(8)
    tree = MerkleTree.of(records, EVENT_TYPES)
    evm.send(evm.ledger.anchor_call(tree.root, len(tree)), evm.operator)
    anchor_id = evm.ledger.anchor_count() - 1
    leaf, proof = tree.leaf(3), tree.proof(3)
    assert evm.ledger.verify(leaf, proof, anchor_id)

    changed = (records[3][0], records[3][1], 4, records[3][3])  # the status of the event altered
    assert not evm.ledger.verify(hash_leaf(EVENT_TYPES, changed), proof, anchor_id)
    assert not evm.ledger.verify(keccak(encode(EVENT_TYPES, records[3])), proof, anchor_id)  # single hash
    flipped = [proof[0], bytes(b ^ 1 for b in proof[1]), *proof[2:]]
    assert not evm.ledger.verify(leaf, flipped, anchor_id)
    assert not evm.ledger.verify(leaf, proof[:-1], anchor_id)
    assert not evm.ledger.verify(leaf, [*proof, random32()], anchor_id)
    assert not evm.ledger.verify(leaf, tree.proof(4), anchor_id)

    other = MerkleTree.of(_events(8), EVENT_TYPES)
    evm.send(evm.ledger.anchor_call(other.root, len(other)), evm.operator)
    assert not evm.ledger.verify(leaf, proof, anchor_id + 1)  # a receipt only verifies against its own batch


def test_double_hashing_stops_inner_nodes_from_passing_as_records(evm: Chain) -> None:
    tree = MerkleTree.of(_events(4), EVENT_TYPES)
    evm.send(evm.ledger.anchor_call(tree.root, len(tree)), evm.operator)
    anchor_id = evm.ledger.anchor_count() - 1
    proof = tree.proof(0)
    preimage = b"".join(sorted((tree.leaf(0), proof[0])))  # 64 bytes that hash to an inner node
    # with single-hashed leaves this forged "record" would verify; double-hashed, it does not
    assert evm.ledger.verify(keccak(preimage), proof[1:], anchor_id)
    assert not evm.ledger.verify(hash_encoded_leaf(preimage), proof[1:], anchor_id)


def test_anchors_are_numbered_and_immutable(evm: Chain) -> None:
    start = evm.ledger.anchor_count()
    roots = [random32() for _ in range(3)]
    for i, root in enumerate(roots):
        receipt = evm.send(evm.ledger.anchor_call(root, i + 1), evm.operator)
        (event,) = evm.ledger.events(receipt, "Anchored")
        assert (event["args"]["anchorId"], event["args"]["root"], event["args"]["leafCount"]) == (
            start + i,
            root,
            i + 1,
        )
    assert evm.ledger.anchor_count() == start + 3
    assert [evm.ledger.anchor(start + i).root for i in range(3)] == roots


def test_unknown_anchors_and_empty_batches_are_refused(evm: Chain) -> None:
    count = evm.ledger.anchor_count()
    with pytest.raises(ContractLogicError) as caught:
        evm.ledger.anchor(count)
    assert caught.value.name == "ProcedureLedgerUnknownAnchor" and caught.value.args_by_name == {"anchorId": count}
    with pytest.raises(ContractLogicError) as caught:
        evm.ledger.verify(random32(), [], count + 7)
    assert caught.value.name == "ProcedureLedgerUnknownAnchor"
    evm.reverts(evm.ledger.anchor_call(bytes(32), 1), evm.operator, "ProcedureLedgerEmptyRoot")
    evm.reverts(unchecked_call(evm.ledger, "anchor", random32(), 0), evm.operator, "ProcedureLedgerEmptyBatch")
    with pytest.raises(ValueError):
        evm.ledger.anchor_call(random32(), 0)


def test_a_single_leaf_batch_has_an_empty_proof(evm: Chain) -> None:
    leaf = hash_leaf(EVENT_TYPES, _events(1)[0])
    tree = MerkleTree([leaf])
    assert tree.root == leaf and tree.proof(0) == []
    evm.send(evm.ledger.anchor_call(tree.root, 1), evm.operator)
    assert evm.ledger.verify(leaf, [], evm.ledger.anchor_count() - 1)
