"""What residents, clerks, the service and anyone verifying a receipt must agree on, byte for byte.

This module has no service dependencies (no database, no settings): the resident wallet imports it
to hash and sign submissions and to verify receipts against the chain alone.

* **Content hash** of a submission: ``keccak256`` of canonical JSON (sorted keys, no spaces, UTF-8)
  of ``{"procedure", "version", "form", "attachments": [{"name", "content_type", "size", "sha256"}],
  "salt"}``. The salt (32 random bytes chosen by the wallet) keeps short forms from being guessed.
* **Signatures** are EIP-712 in the domain ``{name: "Machi Ledger Procedures", version: "1", chainId,
  verifyingContract: ProcedureLedger}``. Residents sign ``ResidentAct(applicant, action, application,
  content, nonce, deadline)`` (``submit`` — with ``application`` empty, the id does not exist yet —,
  ``resubmit``, ``withdraw``); clerks' decisions are signed with their own key as ``StaffAct(staff,
  action, application, seq, details, at)``.
* **Leaves**: every event becomes ``keccak256(keccak256(abi.encode(bytes32 × 7)))`` over a random
  salt and six salted commitments — application id, procedure code + version, the event (seq, type,
  statuses, time), its content hash, the actor, the signature. Nothing in a leaf is readable
  without its opening, which only the receipt holder has.
* **Receipt** = openings + leaf + Merkle proof + anchor id + anchoring transaction. ``verify_receipt``
  checks it with ``eth_call``/``eth_getTransactionReceipt`` only.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3 import Web3

from chain.contracts.ledger import ProcedureLedgerClient
from chain.merkle import hash_leaf, process_proof

DOMAIN_NAME = "Machi Ledger Procedures"
DOMAIN_VERSION = "1"
ZERO_HASH = "0x" + "00" * 32
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
LEAF_TYPES = ("bytes32",) * 7

#: Event types, grouped by who vouches for them.
RESIDENT_EVENTS = {"submitted": "submit", "resubmitted": "resubmit", "withdrawn": "withdraw"}
STAFF_EVENTS = ("assigned", "approved", "rejected", "returned", "commented")
SYSTEM_EVENTS = ("fee_paid", "fee_failed", "fee_refunded", "benefit_paid", "benefit_failed", "lapsed", "erased")

_EIP712_DOMAIN = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
RESIDENT_ACT_TYPES = [
    {"name": "applicant", "type": "address"},
    {"name": "action", "type": "string"},
    {"name": "application", "type": "string"},
    {"name": "content", "type": "bytes32"},
    {"name": "nonce", "type": "bytes32"},
    {"name": "deadline", "type": "uint256"},
]
STAFF_ACT_TYPES = [
    {"name": "staff", "type": "address"},
    {"name": "action", "type": "string"},
    {"name": "application", "type": "string"},
    {"name": "seq", "type": "uint64"},
    {"name": "details", "type": "bytes32"},
    {"name": "at", "type": "uint64"},
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


def ledger_client(w3: Web3, address: str) -> ProcedureLedgerClient:
    """A read-only ProcedureLedger client built from ``LEDGER_VERIFY_ABI`` (no compiler needed)."""
    return ProcedureLedgerClient(w3, address, LEDGER_VERIFY_ABI)


# --------------------------------------------------------------------------- hashing
def canonical_json(value: Any) -> bytes:
    """Canonical JSON bytes: sorted keys, no insignificant whitespace, UTF-8 (not ASCII-escaped)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def hex32(value: bytes) -> str:
    """``0x``-hex of 32 bytes."""
    return "0x" + bytes(value).hex()


def from_hex(value: str) -> bytes:
    """Bytes of a ``0x``-hex string.

    Raises:
        ValueError: not hex.
    """
    return bytes.fromhex(value.removeprefix("0x"))


def attachment_digest(name: str, content_type: str, data: bytes) -> dict[str, Any]:
    """What a submission's content hash covers of one attachment (its bytes only by SHA-256)."""
    return {"name": name, "content_type": content_type, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def content_hash(procedure: str, version: int, form: Mapping[str, Any], attachments: Sequence[Mapping[str, Any]],
                 salt: str) -> str:
    """The ``0x``-hex content hash a resident signs for a submission or resubmission.

    Args:
        procedure, version: the catalog entry and form version filed.
        form: the answers.
        attachments: ``attachment_digest`` of each file, in order.
        salt: ``0x``-hex of 32 random bytes.
    """
    body = {"procedure": procedure, "version": version, "form": dict(form),
            "attachments": [dict(a) for a in attachments], "salt": salt.lower()}
    return hex32(keccak(canonical_json(body)))


def details_hash(details: Mapping[str, Any]) -> str:
    """``0x``-hex hash of an event's details (reason, deadline, assignee, transaction…)."""
    return hex32(keccak(canonical_json(dict(details))))


# --------------------------------------------------------------------------- EIP-712
def domain(chain_id: int, ledger: str) -> dict[str, Any]:
    """The EIP-712 domain of procedure signatures."""
    return {"name": DOMAIN_NAME, "version": DOMAIN_VERSION, "chainId": int(chain_id),
            "verifyingContract": to_checksum_address(ledger)}


def resident_act(chain_id: int, ledger: str, *, applicant: str, action: str, application: str, content: str,
                 nonce: str, deadline: int) -> dict[str, Any]:
    """EIP-712 typed data of a resident's act (``submit``, ``resubmit``, ``withdraw``)."""
    return {
        "types": {"EIP712Domain": _EIP712_DOMAIN, "ResidentAct": RESIDENT_ACT_TYPES},
        "primaryType": "ResidentAct",
        "domain": domain(chain_id, ledger),
        "message": {"applicant": to_checksum_address(applicant), "action": action, "application": application,
                    "content": content, "nonce": nonce, "deadline": int(deadline)},
    }


def staff_act(chain_id: int, ledger: str, *, staff: str, action: str, application: str, seq: int, details: str,
              at: int) -> dict[str, Any]:
    """EIP-712 typed data of a staff member's act (assignment, decision, comment)."""
    return {
        "types": {"EIP712Domain": _EIP712_DOMAIN, "StaffAct": STAFF_ACT_TYPES},
        "primaryType": "StaffAct",
        "domain": domain(chain_id, ledger),
        "message": {"staff": to_checksum_address(staff), "action": action, "application": application,
                    "seq": int(seq), "details": details, "at": int(at)},
    }


def sign_typed(account: Any, typed: dict[str, Any]) -> str:
    """``0x``-hex 65-byte signature of ``typed`` by a local account."""
    signed = account.sign_message(encode_typed_data(full_message=typed))
    return "0x" + bytes(signed.signature).hex()


def recover_typed(typed: dict[str, Any], signature: str) -> str | None:
    """The checksummed address that signed ``typed``, or ``None`` for a malformed signature."""
    try:
        return str(Account.recover_message(encode_typed_data(full_message=typed), signature=from_hex(signature)))
    except Exception:  # noqa: BLE001 - any decoding failure means "not a valid signature"
        return None


# --------------------------------------------------------------------------- leaves
@dataclass(frozen=True)
class EventOpening:
    """Everything a leaf commits to (what a receipt reveals to its holder).

    Attributes:
        application_id: the application.
        procedure_code, procedure_version: its catalog entry.
        seq: position of the event in the application's history (from 0).
        type: ``submitted``, ``approved``, ``fee_paid``… (see the ``*_EVENTS`` constants).
        from_status, to_status: the status before and after (equal for comments and payments).
        occurred_at: unix seconds.
        content_hash: the signed content (submissions), the details hash (staff acts, facts), or zero.
        actor: the address that signed, or the zero address for facts recorded by the service.
        signature: ``0x``-hex signature, ``"0x"`` for facts.
        salt: ``0x``-hex 32 random bytes.
        nonce, deadline: the resident's signed nonce and deadline (resident acts only).
    """

    application_id: str
    procedure_code: str
    procedure_version: int
    seq: int
    type: str
    from_status: str
    to_status: str
    occurred_at: int
    content_hash: str
    actor: str
    signature: str
    salt: str
    nonce: str | None = None
    deadline: int | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EventOpening:
        """An opening from a receipt's event object.

        Raises:
            KeyError, TypeError, ValueError: a field is missing or malformed.
        """
        return cls(
            application_id=str(data["application_id"]), procedure_code=str(data["procedure"]["code"]),
            procedure_version=int(data["procedure"]["version"]), seq=int(data["seq"]), type=str(data["type"]),
            from_status=str(data["from_status"]), to_status=str(data["to_status"]),
            occurred_at=int(data["occurred_at"]), content_hash=str(data["content_hash"]), actor=str(data["actor"]),
            signature=str(data["signature"]), salt=str(data["salt"]),
            nonce=data.get("nonce"), deadline=None if data.get("deadline") is None else int(data["deadline"]),
        )

    def commitments(self) -> dict[str, bytes]:
        """The six salted commitments of the leaf, by name."""
        salt = from_hex(self.salt)
        if len(salt) != 32:
            raise ValueError("salt must be 32 bytes")

        def commit(tag: str, types: list[str], values: list[Any]) -> bytes:
            return keccak(abi_encode(["bytes32", "string", *types], [salt, tag, *values]))

        return {
            "application": commit("application", ["string"], [self.application_id]),
            "procedure": commit("procedure", ["string", "uint32"], [self.procedure_code, self.procedure_version]),
            "event": commit("event", ["uint32", "string", "string", "string", "uint64"],
                            [self.seq, self.type, self.from_status, self.to_status, self.occurred_at]),
            "content": commit("content", ["bytes32"], [from_hex(self.content_hash)]),
            "actor": commit("actor", ["address"], [to_checksum_address(self.actor)]),
            "signature": commit("signature", ["bytes"], [from_hex(self.signature)]),
        }

    def leaf(self) -> bytes:
        """The 32-byte leaf (double-hashed, as ``ProcedureLedger.verify`` expects)."""
        c = self.commitments()
        return hash_leaf(LEAF_TYPES, [from_hex(self.salt), c["application"], c["procedure"], c["event"],
                                      c["content"], c["actor"], c["signature"]])

    def typed_data(self, chain_id: int, ledger: str, applicant: str) -> dict[str, Any] | None:
        """The EIP-712 data the actor signed, or ``None`` for facts (unsigned)."""
        if self.type in RESIDENT_EVENTS:
            action = RESIDENT_EVENTS[self.type]
            return resident_act(chain_id, ledger, applicant=applicant, action=action,
                                application="" if action == "submit" else self.application_id,
                                content=self.content_hash, nonce=self.nonce or ZERO_HASH, deadline=self.deadline or 0)
        if self.type in STAFF_EVENTS:
            return staff_act(chain_id, ledger, staff=self.actor, action=self.type, application=self.application_id,
                             seq=self.seq, details=self.content_hash, at=self.occurred_at)
        return None


# --------------------------------------------------------------------------- receipts
@dataclass
class EventCheck:
    """The verdict on one event of a receipt: ``verified``, ``pending`` (not anchored yet) or ``failed``."""

    seq: int
    type: str
    status: str
    reason: str | None = None
    anchor_id: int | None = None
    tx_hash: str | None = None
    signer: str | None = None


@dataclass
class ReceiptCheck:
    """The verdict on a whole receipt."""

    application_id: str
    events: list[EventCheck] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No event failed and the receipt as a whole is consistent (pending events are not failures)."""
        return not self.problems and all(e.status != "failed" for e in self.events)

    @property
    def pending(self) -> list[EventCheck]:
        """Events not anchored yet."""
        return [e for e in self.events if e.status == "pending"]

    @property
    def verified(self) -> list[EventCheck]:
        """Events proven on chain."""
        return [e for e in self.events if e.status == "verified"]


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
    """
    app_id = str(receipt.get("application_id", "?"))
    check = ReceiptCheck(application_id=app_id)
    if to_checksum_address(str(receipt.get("ledger", ZERO_ADDRESS))) != ledger.address:
        check.problems.append(f"the receipt names ledger {receipt.get('ledger')}, not the trusted {ledger.address}")
    chain_id = int(w3.eth.chain_id)
    if int(receipt.get("chain_id", -1)) != chain_id:
        check.problems.append(f"the receipt is for chain {receipt.get('chain_id')}, the node is chain {chain_id}")
    applicant = str(receipt.get("applicant", ZERO_ADDRESS))
    anchors: dict[tuple[int, str], str | None] = {}
    previous_status: str | None = None
    for expected_seq, data in enumerate(receipt.get("events", [])):
        try:
            opening = EventOpening.from_json({**data, "application_id": data.get("application_id", app_id)})
        except (KeyError, TypeError, ValueError) as exc:
            check.events.append(EventCheck(int(data.get("seq", -1)), str(data.get("type", "?")), "failed",
                                           f"malformed event: {exc}"))
            continue
        result = EventCheck(opening.seq, opening.type, "failed")
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
            result.status, result.reason = "pending", "not anchored yet"
            continue
        result.anchor_id, result.tx_hash = int(anchor["anchor_id"]), str(anchor["tx_hash"])
        try:
            proof = [from_hex(node) for node in data.get("proof") or []]
            root = process_proof(leaf, proof)
            if not ledger.verify(leaf, proof, result.anchor_id):
                result.reason = f"ProcedureLedger.verify refuses the leaf in anchor {result.anchor_id}"
                continue
        except Exception as exc:  # noqa: BLE001 - unknown anchor ids revert; any failure is a failed check
            result.reason = f"ProcedureLedger.verify failed: {exc}"
            continue
        key = (result.anchor_id, result.tx_hash.lower())
        if key not in anchors:
            anchors[key] = _check_anchor_tx(w3, ledger, result.anchor_id, result.tx_hash, root)
        if anchors[key]:
            result.reason = anchors[key]
            continue
        result.status, result.reason = "verified", None
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
    """``None`` when ``tx_hash`` is a successful call of ``ledger`` that anchored ``root`` as ``anchor_id``."""
    try:
        tx_receipt = w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001 - TransactionNotFound and transport errors alike
        return f"transaction {tx_hash} not found on this chain"
    if int(tx_receipt["status"]) != 1:
        return f"transaction {tx_hash} failed"
    if to_checksum_address(str(tx_receipt["to"])) != ledger.address:
        return f"transaction {tx_hash} is not a call of the ledger"
    for anchored in ledger.anchored(tx_receipt):
        if anchored.anchor_id == anchor_id:
            if anchored.root != root:
                return f"anchor {anchor_id} in {tx_hash} has another root"
            if ledger.anchor(anchor_id).root != root:
                return f"the ledger holds another root for anchor {anchor_id}"
            return None
    return f"transaction {tx_hash} did not create anchor {anchor_id}"
