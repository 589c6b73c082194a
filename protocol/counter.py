"""What a My Number card signs at a counter, with no phone: a payment at a merchant's reader, and the opt-in
to a card wallet at a city counter.

The card's user-authentication key (4-digit PIN) signs the statement's canonical bytes (RSA PKCS#1 v1.5 /
SHA-256), exactly as it signs a link statement (``protocol.statement``) — so each kind of statement starts
with a tag line of its own, and binds the chain and the contract it is for (the domain separation EIP-712
gives a wallet's signature): a signature made for one purpose, chain or deployment is worthless for any
other. Every statement carries a single-use nonce the service issued and the service's time.

A card payment (the merchant, the wallet it pays, the amount, the payment request; UTF-8, ``\\n``, fixed
order, EIP-55 addresses, decimal integers, lower-case hex nonce)::

    Machi Ledger card payment v1
    merchant=mer_…
    pay_to=0x…
    amount=1200
    payment_request=pr_…
    nonce=<64 hex>
    issued_at=<unix seconds>
    chain_id=31337
    coin=0x…

An opt-in to a card wallet (the registry is the contract that will know the wallet)::

    Machi Ledger card wallet opt-in v1
    nonce=<64 hex>
    issued_at=<unix seconds>
    chain_id=31337
    registry=0x…
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from protocol.addresses import checksum
from protocol.errors import InvalidAddress, MalformedStatement

__all__ = ["OPT_IN_TAG", "PAYMENT_TAG", "CardPaymentStatement", "OptInStatement"]

PAYMENT_TAG = "Machi Ledger card payment v1"
OPT_IN_TAG = "Machi Ledger card wallet opt-in v1"

_ID = re.compile(r"^[a-z]{2,4}_[0-9A-Za-z]{8,40}$")
_NONCE = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")
_MAX_UINT64 = 2**64 - 1


def _nonce(value: Any) -> str:
    if not isinstance(value, str) or not _NONCE.fullmatch(value):
        raise MalformedStatement("nonce must be 32 bytes of hex")
    return value.lower().removeprefix("0x")


def _integer(value: Any, name: str, low: int = 0, high: int = _MAX_UINT64) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise MalformedStatement(f"{name} must be a whole number from {low} to {high}")
    return value


def _address(value: Any, name: str) -> str:
    try:
        return checksum(value, name)
    except InvalidAddress as exc:
        raise MalformedStatement(exc.message) from None


def _identifier(value: Any, name: str, prefix: str) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value) or not value.startswith(prefix + "_"):
        raise MalformedStatement(f"{name} must be an id starting with {prefix}_")
    return value


class _Statement:
    """Checked construction and JSON, the same for every statement: ``CHECKS`` names each field (in order) and
    the check that parses it."""

    CHECKS: ClassVar[dict[str, Callable[[Any], Any]]] = {}
    nonce: str

    @classmethod
    def create(cls, **fields: Any) -> Self:
        """A checked statement.

        Raises:
            MalformedStatement: missing or extra fields, or a field out of its shape or range.
        """
        if set(fields) != set(cls.CHECKS):
            raise MalformedStatement(f"the statement has exactly the fields {', '.join(cls.CHECKS)}")
        return cls(**{name: check(fields[name]) for name, check in cls.CHECKS.items()})

    @classmethod
    def from_json(cls, data: Any) -> Self:
        """Parse what ``to_json`` wrote (untrusted input).

        Raises:
            MalformedStatement: not an object, missing, extra or malformed fields.
        """
        if not isinstance(data, dict):
            raise MalformedStatement("the statement is a JSON object")
        return cls.create(**data)

    def to_json(self) -> dict[str, Any]:
        return {**{name: getattr(self, name) for name in self.CHECKS}, "nonce": "0x" + self.nonce}


@dataclass(frozen=True)
class CardPaymentStatement(_Statement):
    """A payment the card holder approves at a merchant's reader (see the module docstring)."""

    merchant: str
    pay_to: str
    amount: int
    payment_request: str
    nonce: str  # 64 lower-case hex digits
    issued_at: int
    chain_id: int
    coin: str

    CHECKS: ClassVar[dict[str, Callable[[Any], Any]]] = {
        "merchant": lambda v: _identifier(v, "merchant", "mer"),
        "pay_to": lambda v: _address(v, "pay_to"),
        "amount": lambda v: _integer(v, "amount", 1, 10**12),
        "payment_request": lambda v: _identifier(v, "payment_request", "pr"),
        "nonce": _nonce,
        "issued_at": lambda v: _integer(v, "issued_at"),
        "chain_id": lambda v: _integer(v, "chain_id", 1),
        "coin": lambda v: _address(v, "coin"),
    }

    def canonical_bytes(self) -> bytes:
        """What the card signs."""
        return "\n".join([PAYMENT_TAG, f"merchant={self.merchant}", f"pay_to={self.pay_to}", f"amount={self.amount}",
                          f"payment_request={self.payment_request}", f"nonce={self.nonce}",
                          f"issued_at={self.issued_at}", f"chain_id={self.chain_id}", f"coin={self.coin}"]).encode()


@dataclass(frozen=True)
class OptInStatement(_Statement):
    """The card holder's consent, at a city counter, to a card wallet held by the service."""

    nonce: str
    issued_at: int
    chain_id: int
    registry: str

    CHECKS: ClassVar[dict[str, Callable[[Any], Any]]] = {
        "nonce": _nonce,
        "issued_at": lambda v: _integer(v, "issued_at"),
        "chain_id": lambda v: _integer(v, "chain_id", 1),
        "registry": lambda v: _address(v, "registry"),
    }

    def canonical_bytes(self) -> bytes:
        """What the card signs."""
        return "\n".join([OPT_IN_TAG, f"nonce={self.nonce}", f"issued_at={self.issued_at}",
                          f"chain_id={self.chain_id}", f"registry={self.registry}"]).encode()
