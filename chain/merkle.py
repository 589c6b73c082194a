"""Merkle trees the way OpenZeppelin builds and checks them (``ProcedureLedger.verify``).

* Leaves are double-hashed, ``keccak256(bytes.concat(keccak256(abi.encode(values))))``, so that an
  inner node (64 bytes of preimage) can never pass as a leaf.
* Pairs are hashed *sorted* (``MerkleProof``'s commutative keccak256), so a proof is just the
  sibling hashes, no left/right flags.
* The tree has the shape of OpenZeppelin's ``StandardMerkleTree`` (npm ``@openzeppelin/merkle-tree``):
  leaves sorted by hash, stored in an array ``tree[0]`` = root, children of ``i`` at ``2i+1``, ``2i+2``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak


def hash_leaf(types: Sequence[str], values: Sequence[Any]) -> bytes:
    """The leaf of a record: ``keccak256(keccak256(abi.encode(values)))`` with Solidity ``types``.

    Raises:
        eth_abi exceptions: the values do not fit the types.
    """
    return keccak(keccak(abi_encode(list(types), list(values))))


def hash_encoded_leaf(encoded: bytes) -> bytes:
    """The leaf of an already ABI-encoded record: ``keccak256(keccak256(encoded))``."""
    return keccak(keccak(encoded))


def hash_pair(a: bytes, b: bytes) -> bytes:
    """OpenZeppelin's commutative node hash: keccak256 of the two children, smaller first."""
    return keccak(a + b) if a < b else keccak(b + a)


def process_proof(leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root that ``proof`` leads to from ``leaf`` (``MerkleProof.processProof``)."""
    node = bytes(leaf)
    for sibling in proof:
        node = hash_pair(node, bytes(sibling))
    return node


def verify(leaf: bytes, proof: Sequence[bytes], root: bytes) -> bool:
    """Whether ``leaf`` belongs to the tree of ``root`` given ``proof`` (what the ledger checks on chain)."""
    return process_proof(leaf, proof) == bytes(root)


class MerkleTree:
    """A tree over leaf hashes, OpenZeppelin ``StandardMerkleTree`` layout.

    ``leaves`` are the 32-byte leaf hashes (``hash_leaf``), in the caller's order; ``proof(i)`` is
    the proof of the ``i``-th of them. The tree itself is built over the leaves sorted by hash, so
    the root does not depend on the caller's order.
    """

    def __init__(self, leaves: Sequence[bytes]) -> None:
        """Build the tree.

        Raises:
            ValueError: no leaves, or a leaf is not 32 bytes.
        """
        if not leaves:
            raise ValueError("a Merkle tree needs at least one leaf")
        self._leaves = [bytes(leaf) for leaf in leaves]
        for index, leaf in enumerate(self._leaves):
            if len(leaf) != 32:
                raise ValueError(f"leaf {index} is {len(leaf)} bytes, expected a 32-byte hash")
        count = len(self._leaves)
        order = sorted(range(count), key=lambda i: self._leaves[i])
        size = 2 * count - 1
        tree: list[bytes] = [b""] * size
        self._position = [0] * count  # caller's index -> index in ``tree``
        for rank, original in enumerate(order):
            position = size - 1 - rank
            tree[position] = self._leaves[original]
            self._position[original] = position
        for i in range(size - 1 - count, -1, -1):
            tree[i] = hash_pair(tree[2 * i + 1], tree[2 * i + 2])
        self._tree = tree

    @classmethod
    def of(cls, values: Sequence[Sequence[Any]], types: Sequence[str]) -> MerkleTree:
        """A tree over records: each ``values[i]`` is ABI-encoded with ``types`` and double-hashed."""
        return cls([hash_leaf(types, record) for record in values])

    @property
    def root(self) -> bytes:
        """The 32-byte root to anchor."""
        return self._tree[0]

    @property
    def leaves(self) -> list[bytes]:
        """The leaf hashes in the caller's order."""
        return list(self._leaves)

    def __len__(self) -> int:
        return len(self._leaves)

    def leaf(self, index: int) -> bytes:
        """The ``index``-th leaf hash (caller's order)."""
        return self._leaves[index]

    def index_of(self, leaf: bytes) -> int:
        """The caller's index of ``leaf``.

        Raises:
            ValueError: not a leaf of this tree.
        """
        try:
            return self._leaves.index(bytes(leaf))
        except ValueError:
            raise ValueError("not a leaf of this tree") from None

    def proof(self, index: int) -> list[bytes]:
        """The sibling hashes from the ``index``-th leaf (caller's order) up to the root.

        Raises:
            IndexError: no such leaf.
        """
        if not 0 <= index < len(self._leaves):
            raise IndexError(f"leaf index {index} out of range (tree of {len(self._leaves)})")
        position = self._position[index]
        proof: list[bytes] = []
        while position > 0:
            sibling = position + 1 if position % 2 == 1 else position - 1
            proof.append(self._tree[sibling])
            position = (position - 1) // 2
        return proof

    def verify(self, index: int, leaf: bytes | None = None) -> bool:
        """Check leaf ``index`` (or another ``leaf`` with that leaf's proof) against this root."""
        return verify(self._leaves[index] if leaf is None else leaf, self.proof(index), self.root)
