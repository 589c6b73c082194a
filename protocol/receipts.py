"""Checking an e-application's receipt against the chain alone (no service involved).

A receipt is the application's history as openings (``protocol.applications.EventOpening``), each
with its leaf, its Merkle proof and the anchor (id + transaction) that put the root on chain.
``verify_receipt`` proves every anchored event with ``eth_call`` and the anchoring transaction's
receipt, through ``chain``'s clients; a node that stops answering midway ends the check with
``NodeError`` ("chain unreachable"), never with a verdict about the receipt.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from eth_abi.exceptions import DecodingError
from web3 import Web3
from web3.exceptions import BadFunctionCallOutput

from chain.contracts.ledger import ProcedureLedgerClient
from chain.errors import ContractLogicError
from chain.merkle import process_proof
from chain.receipts import node_chain_id, outage_as_node_error, transaction_receipt
from protocol.addresses import checksum
from protocol.applications import (
    RESIDENT_EVENTS,
    SYSTEM_EVENTS,
    ZERO_ADDRESS,
    EventOpening,
    from_hex,
    hex32,
    recover_typed,
)

__all__ = [
    "LEDGER_VERIFY_ABI",
    "CheckStatus",
    "EventCheck",
    "ReceiptCheck",
    "ledger_client",
    "verify_receipt",
]

#: The slice of ProcedureLedger's ABI a verifier needs (so a wallet verifies without compiling contracts).
LEDGER_VERIFY_ABI: list[dict[str, Any]] = [
    {"type": "function", "name": "verify", "stateMutability": "view",
     "inputs": [{"name": "leaf", "type": "bytes32"}, {"name": "proof", "type": "bytes32[]"},
                {"name": "anchorId", "type": "uint256"}],
     "outputs": [{"name": "", "type": "bool"}]},
    {"type": "function", "name": "anchors", "stateMutability": "view",
     "inputs": [{"name": "anchorId", "type": "uint256"}],
     "outputs": [{"name": "", "type": "tuple", "components": [
         {"name": "root", "type": "bytes32"}, {"name": "leafCount", "type": "uint64"},
         {"name": "anchoredAt", "type": "uint64"}, {"name": "blockNumber", "type": "uint64"}]}]},
    {"type": "function", "name": "anchorCount", "stateMutability": "view", "inputs": [],
     "outputs": [{"name": "", "type": "uint256"}]},
    {"type": "event", "name": "Anchored", "anonymous": False,
     "inputs": [{"name": "anchorId", "type": "uint256", "indexed": True},
                {"name": "root", "type": "bytes32", "indexed": True},
                {"name": "leafCount", "type": "uint64", "indexed": False}]},
    {"type": "error", "name": "ProcedureLedgerUnknownAnchor", "inputs": [{"name": "anchorId", "type": "uint256"}]},
]

#: What a ledger read may fail with that says something about the receipt (not about the node): an
#: unknown anchor reverts, a malformed proof node is no bytes32, an address without the contract
#: answers nothing decodable.
_REFUSALS = (ContractLogicError, ValueError, DecodingError, BadFunctionCallOutput)
_TX_HASH_CHARS = frozenset("0123456789abcdefABCDEF")


def ledger_client(w3: Web3, address: str) -> ProcedureLedgerClient:
    """A read-only ProcedureLedger client built from ``LEDGER_VERIFY_ABI`` (no compiler needed)."""
    return ProcedureLedgerClient(w3, address, LEDGER_VERIFY_ABI)


class CheckStatus(StrEnum):
    """The verdict on one event."""

    VERIFIED = "verified"
    PENDING = "pending"  # not anchored yet
    FAILED = "failed"


@dataclass
class EventCheck:
    """The verdict on one event of a receipt, and why."""

    seq: int
    type: str
    status: CheckStatus
    reason: str | None = None
    anchor_id: int | None = None
    tx_hash: str | None = None
    signer: str | None = None


@dataclass
class ReceiptCheck:
    """The verdict on a whole receipt, checked against the chain ``chain_id``."""

    application_id: str
    chain_id: int | None = None
    events: list[EventCheck] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No event failed and the receipt as a whole is consistent (pending events are not failures)."""
        return not self.problems and all(e.status != CheckStatus.FAILED for e in self.events)

    @property
    def pending(self) -> list[EventCheck]:
        """Events not anchored yet."""
        return [e for e in self.events if e.status == CheckStatus.PENDING]

    @property
    def verified(self) -> list[EventCheck]:
        """Events proven on chain."""
        return [e for e in self.events if e.status == CheckStatus.VERIFIED]


def verify_receipt(w3: Web3, ledger: ProcedureLedgerClient, receipt: Mapping[str, Any]) -> ReceiptCheck:
    """Check a receipt against the chain alone.

    For every event: its opening hashes to its leaf; the signature recovers to the actor (the
    applicant for resident acts); and, once anchored, ``ProcedureLedger.verify(leaf, proof,
    anchorId)`` holds and the named transaction is a successful call of *this* ledger that emitted
    ``Anchored(anchorId, root)`` with the root the proof leads to. The history must be complete
    (``seq`` 0, 1, 2…), each event starting in the status the previous one left.

    Args:
        w3: a connection to the chain (any node; nothing is read from the service).
        ledger: the ProcedureLedger the verifier trusts (from its own configuration).
        receipt: the receipt JSON as ``GET /v1/applications/{id}/receipt`` returns it.

    Raises:
        NodeError: the node stopped answering; nothing is concluded about the receipt.
        ValueError: the receipt names no valid ledger address, or an anchor without id or transaction.
    """
    with outage_as_node_error("verifying a receipt"):
        return _verify(w3, ledger, receipt)


def _verify(w3: Web3, ledger: ProcedureLedgerClient, receipt: Mapping[str, Any]) -> ReceiptCheck:
    app_id = str(receipt.get("application_id", "?"))
    chain_id = node_chain_id(w3)
    check = ReceiptCheck(application_id=app_id, chain_id=chain_id)
    if checksum(str(receipt.get("ledger", ZERO_ADDRESS)), "the receipt's ledger") != ledger.address:
        check.problems.append(f"the receipt names ledger {receipt.get('ledger')}, not the trusted {ledger.address}")
    if int(receipt.get("chain_id", -1)) != chain_id:
        check.problems.append(f"the receipt is for chain {receipt.get('chain_id')}, the node is chain {chain_id}")
    applicant = str(receipt.get("applicant", ZERO_ADDRESS))
    anchors: dict[tuple[int, str], str | None] = {}
    previous_status: str | None = None
    for expected_seq, data in enumerate(receipt.get("events", [])):
        try:
            opening = EventOpening.from_json({**data, "application_id": data.get("application_id", app_id)})
        except (KeyError, TypeError, ValueError) as exc:
            check.events.append(EventCheck(int(data.get("seq", -1)), str(data.get("type", "?")), CheckStatus.FAILED,
                                           f"malformed event: {exc}"))
            continue
        result = EventCheck(opening.seq, opening.type, CheckStatus.FAILED)
        check.events.append(result)
        if opening.application_id != app_id:
            result.reason = "the event belongs to another application"
            continue
        if opening.seq != expected_seq:
            check.problems.append(f"history incomplete: expected event {expected_seq}, found {opening.seq}")
        if previous_status is not None and opening.from_status != previous_status:
            check.problems.append(f"event {opening.seq} starts in {opening.from_status}, not {previous_status}")
        previous_status = opening.to_status
        try:
            leaf = opening.leaf()
        except (ValueError, TypeError) as exc:
            result.reason = f"malformed opening: {exc}"
            continue
        if hex32(leaf) != str(data.get("leaf", "")).lower():
            result.reason = "the event's contents do not hash to its leaf (altered)"
            continue
        reason = _check_signature(opening, chain_id, ledger.address, applicant, result)
        if reason:
            result.reason = reason
            continue
        anchor = data.get("anchor")
        if not anchor:
            result.status, result.reason = CheckStatus.PENDING, "not anchored yet"
            continue
        result.anchor_id, result.tx_hash = int(anchor["anchor_id"]), str(anchor["tx_hash"])
        try:
            proof = [from_hex(node) for node in data.get("proof") or []]
            root = process_proof(leaf, proof)
            if not ledger.verify(leaf, proof, result.anchor_id):
                result.reason = f"ProcedureLedger.verify refuses the leaf in anchor {result.anchor_id}"
                continue
        except _REFUSALS as exc:
            result.reason = f"ProcedureLedger.verify failed: {exc}"
            continue
        key = (result.anchor_id, result.tx_hash.lower())
        if key not in anchors:
            anchors[key] = _check_anchor_tx(w3, ledger, result.anchor_id, result.tx_hash, root)
        if anchors[key]:
            result.reason = anchors[key]
            continue
        result.status, result.reason = CheckStatus.VERIFIED, None
    return check


def _check_signature(opening: EventOpening, chain_id: int, ledger: str, applicant: str,
                     result: EventCheck) -> str | None:
    typed = opening.typed_data(chain_id, ledger, applicant)
    if typed is None:
        if opening.type not in SYSTEM_EVENTS:
            return f"unknown event type {opening.type!r}"
        if from_hex(opening.signature) or opening.actor.lower() != ZERO_ADDRESS:
            return "a fact recorded by the service carries no signature"
        return None
    signer = recover_typed(typed, opening.signature)
    result.signer = signer
    if signer is None or signer.lower() != opening.actor.lower():
        return "the signature was not made by the recorded actor"
    if opening.type in RESIDENT_EVENTS and signer.lower() != applicant.lower():
        return "a resident act not signed by the applicant's wallet"
    return None


def _check_anchor_tx(w3: Web3, ledger: ProcedureLedgerClient, anchor_id: int, tx_hash: str, root: bytes) -> str | None:
    """``None`` when ``tx_hash`` is a successful call of ``ledger`` that anchored ``root`` as ``anchor_id``.

    Raises:
        NodeError: the node did not answer (the transaction may well exist).
    """
    digits = tx_hash.removeprefix("0x")
    if not tx_hash.startswith("0x") or len(digits) != 64 or not _TX_HASH_CHARS.issuperset(digits):
        return f"{tx_hash!r} is not a transaction hash"
    tx_receipt = transaction_receipt(w3, tx_hash)
    if tx_receipt is None:
        return f"transaction {tx_hash} not found on this chain"
    if int(tx_receipt["status"]) != 1:
        return f"transaction {tx_hash} failed"
    if tx_receipt["to"] is None or checksum(str(tx_receipt["to"])) != ledger.address:
        return f"transaction {tx_hash} is not a call of the ledger"
    for anchored in ledger.anchored(tx_receipt):
        if anchored.anchor_id == anchor_id:
            if anchored.root != root:
                return f"anchor {anchor_id} in {tx_hash} has another root"
            if ledger.anchor(anchor_id).root != root:
                return f"the ledger holds another root for anchor {anchor_id}"
            return None
    return f"transaction {tx_hash} did not create anchor {anchor_id}"
