"""What residents, clerks, the service and anyone verifying a receipt must agree on about e-applications.

The resident wallet imports it to hash and sign submissions; the service to check and record them.

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

A receipt (openings + leaf + Merkle proof + anchor) is checked against the chain by ``protocol.receipts``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak

from chain.merkle import hash_leaf
from protocol.addresses import checksum
from protocol.eip712 import EIP712_DOMAIN_FIELDS, recover_typed, sign_typed

__all__ = [
    "DOMAIN_NAME",
    "DOMAIN_VERSION",
    "LEAF_TYPES",
    "RESIDENT_ACT_TYPES",
    "RESIDENT_EVENTS",
    "STAFF_ACT_TYPES",
    "STAFF_EVENTS",
    "SYSTEM_EVENTS",
    "ZERO_ADDRESS",
    "ZERO_HASH",
    "EventOpening",
    "attachment_digest",
    "canonical_json",
    "content_hash",
    "details_hash",
    "domain",
    "from_hex",
    "hex32",
    "recover_typed",
    "resident_act",
    "sign_typed",
    "staff_act",
]

DOMAIN_NAME = "Machi Ledger Procedures"
DOMAIN_VERSION = "1"
ZERO_HASH = "0x" + "00" * 32
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
LEAF_TYPES = ("bytes32",) * 7

#: Event types, grouped by who vouches for them.
RESIDENT_EVENTS = {"submitted": "submit", "resubmitted": "resubmit", "withdrawn": "withdraw"}
STAFF_EVENTS = ("assigned", "approved", "rejected", "returned", "commented",
                "civic_reviewed", "civic_in_progress", "civic_merged")  # a civic report's review, progress, merge
#: ``reported``: a civic report filed through Open311, recorded by the service (no wallet signs it).
SYSTEM_EVENTS = ("fee_paid", "fee_failed", "fee_refunded", "benefit_paid", "benefit_failed", "lapsed", "erased",
                 "reported")

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
            "verifyingContract": checksum(ledger, "ledger")}


def resident_act(chain_id: int, ledger: str, *, applicant: str, action: str, application: str, content: str,
                 nonce: str, deadline: int) -> dict[str, Any]:
    """EIP-712 typed data of a resident's act (``submit``, ``resubmit``, ``withdraw``)."""
    return {
        "types": {"EIP712Domain": EIP712_DOMAIN_FIELDS, "ResidentAct": RESIDENT_ACT_TYPES},
        "primaryType": "ResidentAct",
        "domain": domain(chain_id, ledger),
        "message": {"applicant": checksum(applicant, "applicant"), "action": action, "application": application,
                    "content": content, "nonce": nonce, "deadline": int(deadline)},
    }


def staff_act(chain_id: int, ledger: str, *, staff: str, action: str, application: str, seq: int, details: str,
              at: int) -> dict[str, Any]:
    """EIP-712 typed data of a staff member's act (assignment, decision, comment)."""
    return {
        "types": {"EIP712Domain": EIP712_DOMAIN_FIELDS, "StaffAct": STAFF_ACT_TYPES},
        "primaryType": "StaffAct",
        "domain": domain(chain_id, ledger),
        "message": {"staff": checksum(staff, "staff"), "action": action, "application": application,
                    "seq": int(seq), "details": details, "at": int(at)},
    }


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
            "actor": commit("actor", ["address"], [checksum(self.actor, "actor")]),
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
