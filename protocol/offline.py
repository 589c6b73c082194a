"""Offline payments against an ``OfflineReserve``: what the resident's wallet signs with no network, the QR
text that carries it to the merchant's counter, and the checks the counter makes offline.

The wallet signs EIP-712 ``OfflinePayment(address payer,address merchant,uint256 amount,bytes32 nonce,uint256
validBefore)`` over the reserve's domain ``{name: "Machi Offline Reserve", version: "1", chainId,
verifyingContract: reserve}`` — the chain and the contract are in every signature, so a payment for one
deployment is worthless on any other. The QR code holds ``machi-offline:1:<base64url of the payment's JSON>``.

The counter accepts a payment only if, against the reserve state it last synced (``ReserveSnapshot``): it is
ours (prefix, version, chain, reserve), for this merchant, signed by the payer, not expired and not valid for
longer than the rules allow, not seen before, within what the payer still had reserved minus what this
counter already accepted from them, and not past a pending release. What it cannot know offline — the same
reserve spent at another merchant — the reserve settles first come, first served: exactly one is paid.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data

from protocol.addresses import checksum
from protocol.eip712 import EIP712_DOMAIN_FIELDS
from protocol.errors import InvalidAddress, ProtocolError

__all__ = ["DOMAIN_NAME", "MAX_VALIDITY_S", "PREFIX", "OfflinePayment", "OfflineRefused", "ReserveSnapshot",
           "accept", "check_payment", "sign_offline_payment"]

PREFIX = "machi-offline:1:"
DOMAIN_NAME = "Machi Offline Reserve"
DOMAIN_VERSION = "1"
#: The longest validity a counter accepts (the reserve's release delay is longer than this plus a sync interval).
MAX_VALIDITY_S = 3 * 24 * 3600
TYPES: dict[str, list[dict[str, str]]] = {
    "EIP712Domain": EIP712_DOMAIN_FIELDS,
    "OfflinePayment": [
        {"name": "payer", "type": "address"},
        {"name": "merchant", "type": "address"},
        {"name": "amount", "type": "uint256"},
        {"name": "nonce", "type": "bytes32"},
        {"name": "validBefore", "type": "uint256"},
    ],
}
_HEX32 = re.compile(r"^0x[0-9a-f]{64}$")
_SIGNATURE = re.compile(r"^0x[0-9a-f]{130}$")


class OfflineRefused(ProtocolError):
    """The counter does not accept this offline payment; ``code`` says why in one word, the message in a line."""

    code = "offline_refused"

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message, reason=code)


@dataclass(frozen=True)
class OfflinePayment:
    """One signed offline payment (``to_tuple`` is the reserve's ``Payment`` struct)."""

    chain_id: int
    reserve: str
    payer: str
    merchant: str
    amount: int
    nonce: str  # 0x + 64 lower-case hex
    valid_before: int
    signature: str  # 0x + 65 bytes, lower-case hex

    def typed_data(self) -> dict[str, Any]:
        return {"types": TYPES, "primaryType": "OfflinePayment",
                "domain": {"name": DOMAIN_NAME, "version": DOMAIN_VERSION, "chainId": self.chain_id,
                           "verifyingContract": self.reserve},
                "message": {"payer": self.payer, "merchant": self.merchant, "amount": self.amount,
                            "nonce": self.nonce, "validBefore": self.valid_before}}

    def signer(self) -> str:
        """The address that signed it (whoever that is)."""
        signable = encode_typed_data(full_message=self.typed_data())
        return str(Account.recover_message(signable, signature=bytes.fromhex(self.signature[2:])))

    def to_json(self) -> dict[str, Any]:
        return {"chain_id": self.chain_id, "reserve": self.reserve, "payer": self.payer, "merchant": self.merchant,
                "amount": self.amount, "nonce": self.nonce, "valid_before": self.valid_before,
                "signature": self.signature}

    def to_text(self) -> str:
        """What the QR code (and the file) holds."""
        raw = json.dumps(self.to_json(), separators=(",", ":"), sort_keys=True).encode()
        return PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def to_tuple(self) -> tuple[str, str, int, bytes, int, bytes]:
        return (self.payer, self.merchant, self.amount, bytes.fromhex(self.nonce[2:]), self.valid_before,
                bytes.fromhex(self.signature[2:]))

    @classmethod
    def from_text(cls, text: str) -> OfflinePayment:
        """Parse a scanned code (untrusted).

        Raises:
            OfflineRefused: not ours (``not_ours``) or malformed (``malformed``).
        """
        text = text.strip()
        if not text.startswith(PREFIX):
            raise OfflineRefused("not_ours", "this is not a Machi Ledger offline payment code")
        try:
            body = text[len(PREFIX):]
            data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        except ValueError:
            raise OfflineRefused("malformed", "the offline payment code is damaged") from None
        return cls.from_json(data)

    @classmethod
    def from_json(cls, data: Any) -> OfflinePayment:
        """Check every field of untrusted JSON.

        Raises:
            OfflineRefused: ``malformed``.
        """
        names = ("chain_id", "reserve", "payer", "merchant", "amount", "nonce", "valid_before", "signature")
        if not isinstance(data, dict) or set(data) != set(names):
            raise OfflineRefused("malformed", "the offline payment code does not hold a payment")
        try:
            reserve, payer, merchant = (checksum(data[k], k) for k in ("reserve", "payer", "merchant"))
        except InvalidAddress:
            raise OfflineRefused("malformed", "the offline payment names an invalid address") from None
        numbers = [data[k] for k in ("chain_id", "amount", "valid_before")]
        if any(isinstance(n, bool) or not isinstance(n, int) or not 0 < n < 2**64 for n in numbers):
            raise OfflineRefused("malformed", "the offline payment holds an invalid number")
        if not (isinstance(data["nonce"], str) and _HEX32.fullmatch(data["nonce"])
                and isinstance(data["signature"], str) and _SIGNATURE.fullmatch(data["signature"])):
            raise OfflineRefused("malformed", "the offline payment's nonce or signature is malformed")
        return cls(chain_id=data["chain_id"], reserve=reserve, payer=payer, merchant=merchant, amount=data["amount"],
                   nonce=data["nonce"], valid_before=data["valid_before"], signature=data["signature"])


def sign_offline_payment(key: bytes, *, chain_id: int, reserve: str, merchant: str, amount: int, valid_before: int,
                         nonce: bytes | None = None) -> OfflinePayment:
    """The wallet's side, with no network: sign a payment of ``amount`` to ``merchant`` against the reserve."""
    account = Account.from_key(key)
    unsigned = OfflinePayment(chain_id=chain_id, reserve=checksum(reserve, "reserve"), payer=account.address,
                              merchant=checksum(merchant, "merchant"), amount=amount,
                              nonce="0x" + (nonce or secrets.token_bytes(32)).hex(), valid_before=valid_before,
                              signature="0x" + "00" * 65)
    signed = account.sign_message(encode_typed_data(full_message=unsigned.typed_data()))
    return OfflinePayment(**{**unsigned.to_json(), "signature": "0x" + bytes(signed.signature).hex()})


@dataclass
class ReserveSnapshot:
    """What a counter knows offline: the deployment, its own wallet, each payer's reserve when last synced
    (amount, release due time or 0), and the payments it accepted since (by nonce)."""

    chain_id: int
    reserve: str
    merchant: str
    synced_at: int
    reserves: dict[str, tuple[int, int]] = field(default_factory=dict)
    accepted: dict[str, OfflinePayment] = field(default_factory=dict)

    def accepted_from(self, payer: str) -> int:
        return sum(p.amount for p in self.accepted.values() if p.payer == payer)


def check_payment(payment: OfflinePayment, chain_id: int, reserve: str, merchant: str, now: int, *,
                  slack_s: int = 0) -> None:
    """What a counter and the service both check of an offline payment before its reserve: the chain and
    reserve, the merchant, the payer's signature and the validity window (``slack_s`` more for a clock apart).

    Raises:
        OfflineRefused: ``wrong_chain``, ``wrong_merchant``, ``bad_signature``, ``expired``, ``too_long``.
    """
    if (payment.chain_id, payment.reserve) != (chain_id, checksum(reserve)):
        raise OfflineRefused("wrong_chain", "this offline payment is for another chain or reserve")
    if payment.merchant != checksum(merchant):
        raise OfflineRefused("wrong_merchant", "this offline payment pays another merchant")
    try:
        signer = payment.signer()
    except ValueError:
        signer = ""
    if signer != payment.payer:
        raise OfflineRefused("bad_signature", "the payer's signature does not match this payment (tampered?)")
    if payment.valid_before <= now:
        raise OfflineRefused("expired", "this offline payment has expired")
    if payment.valid_before > now + MAX_VALIDITY_S + slack_s:
        raise OfflineRefused("too_long", "this offline payment is valid for longer than counters accept")


def accept(snapshot: ReserveSnapshot, payment: OfflinePayment, now: int) -> OfflinePayment:
    """Check ``payment`` offline against ``snapshot`` and keep it there (the counter then relays it later).

    Raises:
        OfflineRefused: ``wrong_chain``, ``wrong_merchant``, ``bad_signature``, ``expired``, ``too_long``,
            ``seen``, ``no_reserve``, ``release_pending``, ``over_reserve`` — nothing is kept.
    """
    check_payment(payment, snapshot.chain_id, snapshot.reserve, snapshot.merchant, now)
    if payment.nonce in snapshot.accepted:
        raise OfflineRefused("seen", "this offline payment was accepted already")
    reserved, release_at = snapshot.reserves.get(payment.payer, (0, 0))
    if reserved == 0:
        raise OfflineRefused("no_reserve", "the payer had no offline reserve when this counter last synced")
    if release_at and payment.valid_before > release_at:
        raise OfflineRefused("release_pending", "the payer's reserve is being released; pay online")
    left = reserved - snapshot.accepted_from(payment.payer)
    if payment.amount > left:
        raise OfflineRefused("over_reserve", f"over what is left of the payer's offline reserve ({left:,} coins)")
    snapshot.accepted[payment.nonce] = payment
    return payment
