"""chain.merkle on its own: OpenZeppelin StandardMerkleTree layout, proofs, tampering."""

from __future__ import annotations

import random

import pytest
from eth_abi.abi import encode
from eth_utils.crypto import keccak

from chain.merkle import MerkleTree, hash_encoded_leaf, hash_leaf, hash_pair, process_proof, verify


def _leaves(count: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    return [hash_encoded_leaf(rng.randbytes(40)) for _ in range(count)]


def test_leaf_hash_is_double_keccak_of_the_abi_encoding() -> None:
    values = (b"\x01" * 32, 42, "0x" + "ab" * 20)
    types = ["bytes32", "uint256", "address"]
    assert hash_leaf(types, values) == keccak(keccak(encode(types, list(values))))


def test_pairs_hash_sorted() -> None:
    a, b = b"\x01" * 32, b"\x02" * 32
    assert hash_pair(a, b) == hash_pair(b, a) == keccak(a + b)


@pytest.mark.parametrize("size", list(range(1, 18)) + [100, 257])
def test_every_proof_verifies_and_no_other_leaf_does(size: int) -> None:
    leaves = _leaves(size)
    tree = MerkleTree(leaves)
    outsider = hash_encoded_leaf(b"not in the tree")
    for index, leaf in enumerate(leaves):
        proof = tree.proof(index)
        assert verify(leaf, proof, tree.root) and tree.verify(index)
        assert len(proof) <= size.bit_length()
        assert not verify(outsider, proof, tree.root)
        if size > 1:
            assert not verify(leaf, proof[:-1], tree.root)


def test_layout_is_openzeppelins_standard_tree() -> None:
    """Leaves sorted by hash at the end of the array, tree[i] = hash(tree[2i+1], tree[2i+2])."""
    leaves = _leaves(5)
    tree = MerkleTree(leaves)
    ordered = sorted(leaves)
    nodes: list[bytes] = [b""] * 9
    for rank, leaf in enumerate(ordered):
        nodes[8 - rank] = leaf
    for i in range(3, -1, -1):
        nodes[i] = hash_pair(nodes[2 * i + 1], nodes[2 * i + 2])
    assert tree.root == nodes[0]
    # the proof of the smallest leaf (array index 8, a left child) starts with its right sibling, index 7
    assert tree.proof(leaves.index(ordered[0]))[0] == nodes[7]


def test_root_does_not_depend_on_input_order() -> None:
    leaves = _leaves(11)
    shuffled = leaves[:]
    random.Random(1).shuffle(shuffled)
    assert MerkleTree(leaves).root == MerkleTree(shuffled).root


def test_records_helper_and_lookup() -> None:
    records = [(i, b"\x00" * 31 + bytes([i])) for i in range(6)]
    tree = MerkleTree.of(records, ["uint256", "bytes32"])
    leaf = hash_leaf(["uint256", "bytes32"], records[4])
    assert tree.leaf(4) == leaf and tree.index_of(leaf) == 4
    assert process_proof(leaf, tree.proof(4)) == tree.root
    with pytest.raises(ValueError):
        tree.index_of(b"\x00" * 32)
    with pytest.raises(IndexError):
        tree.proof(6)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError):
        MerkleTree([])
    with pytest.raises(ValueError):
        MerkleTree([b"short"])


def test_duplicate_leaves_each_get_a_proof() -> None:
    leaf = hash_encoded_leaf(b"same")
    tree = MerkleTree([leaf, leaf, hash_encoded_leaf(b"other")])
    assert tree.verify(0) and tree.verify(1)
