"""Typed client of ``ProcedureLedger``: Merkle roots of signed procedure events.

The service anchors batches (``anchor_call``, ANCHOR_ROLE); anyone checks a receipt with
``verify(leaf, proof, anchor_id)``. Build trees and proofs with ``chain.merkle``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from web3.types import TxReceipt

from chain.contracts.base import Call, ContractClient, role_id, to_bytes32


@dataclass(frozen=True)
class Anchor:
    """One anchored batch.

    Attributes:
        anchor_id: its number (from 0).
        root: the Merkle root.
        leaf_count: leaves in the batch.
        anchored_at: block timestamp of the anchoring.
        block_number: block of the anchoring transaction.
    """

    anchor_id: int
    root: bytes
    leaf_count: int
    anchored_at: int
    block_number: int


class ProcedureLedgerClient(ContractClient):
    """The deployed ``ProcedureLedger``."""

    ARTIFACT = "ProcedureLedger"
    ANCHOR_ROLE = role_id("ANCHOR_ROLE")

    def anchor_call(self, root: bytes | str, leaf_count: int) -> Call:
        """Append the root of a batch of ``leaf_count`` leaves (ANCHOR_ROLE).

        Raises:
            ValueError: the root is not 32 bytes, or ``leaf_count`` is not a positive uint64
                (the chain also refuses a zero root).
        """
        if not 0 < leaf_count < 2**64:
            raise ValueError("leaf_count must be a positive uint64")
        return self._call("anchor", to_bytes32(root, "root"), leaf_count)

    def anchor_count(self) -> int:
        """How many anchors exist (the next anchor's id)."""
        return int(self._read("anchorCount"))

    def anchor(self, anchor_id: int) -> Anchor:
        """Anchor ``anchor_id``.

        Raises:
            ContractLogicError: ``ProcedureLedgerUnknownAnchor`` for an id never anchored.
        """
        root, leaf_count, anchored_at, block_number = self._read("anchors", anchor_id)
        return Anchor(anchor_id, bytes(root), int(leaf_count), int(anchored_at), int(block_number))

    def verify(self, leaf: bytes | str, proof: Sequence[bytes | str], anchor_id: int) -> bool:
        """Whether ``leaf`` is in batch ``anchor_id`` given its ``proof``, checked by the chain.

        Raises:
            ContractLogicError: ``ProcedureLedgerUnknownAnchor`` for an id never anchored.
        """
        siblings = [to_bytes32(node, "proof node") for node in proof]
        return bool(self._read("verify", to_bytes32(leaf, "leaf"), siblings, anchor_id))

    def anchored(self, receipt: TxReceipt) -> list[Anchor]:
        """The anchors a mined transaction created (from its ``Anchored`` events)."""
        return [
            Anchor(
                int(event["args"]["anchorId"]),
                bytes(event["args"]["root"]),
                int(event["args"]["leafCount"]),
                int(self.w3.eth.get_block(receipt["blockNumber"])["timestamp"]),
                int(receipt["blockNumber"]),
            )
            for event in self.events(receipt, "Anchored")
        ]
