"""The canonical link statement signed by the card and by the wallet.

One statement, two signatures:

* the card signs ``canonical_bytes()`` (RSA PKCS#1 v1.5 / SHA-256, by the JPKI
  authentication key and, for adults, the signing key);
* the wallet signs the EIP-712 typed data of the same statement.

Both commit to the purpose, the wallet, the chain, the registry contract, a
single-use server nonce and the time, so neither signature can be replayed for another
wallet, chain, registry or session.

Canonical bytes (UTF-8, ``\\n`` line ends, fixed order, lower-case hex nonce,
EIP-55 addresses, decimal integers)::

    Machi Ledger identity link v1
    purpose=link
    wallet=0x…
    chain_id=…
    registry=0x…
    nonce=<64 hex>
    issued_at=<unix seconds>

EIP-712: domain ``{name: "Machi Ledger Identity", version: "1", chainId,
verifyingContract: registry}``, primary type ``IdentityStatement(string purpose,address
wallet,uint256 chainId,address registry,bytes32 nonce,uint64 issuedAt)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from eth_hash.auto import keccak
from eth_keys.datatypes import PrivateKey, Signature
from eth_keys.exceptions import BadSignature
from eth_utils.exceptions import ValidationError

from protocol.addresses import checksum
from protocol.eip712 import EIP712_DOMAIN_FIELDS
from protocol.errors import InvalidAddress, MalformedStatement, WalletSignatureMismatch

__all__ = [
    "DOMAIN_TAG",
    "CardSignatures",
    "EIP712_DOMAIN_NAME",
    "EIP712_DOMAIN_VERSION",
    "EIP712_TYPES",
    "LinkStatement",
    "Purpose",
    "check_context",
    "sign_wallet",
    "verify_wallet_signature",
]

DOMAIN_TAG = "Machi Ledger identity link v1"
EIP712_DOMAIN_NAME = "Machi Ledger Identity"
EIP712_DOMAIN_VERSION = "1"
EIP712_TYPES: dict[str, list[dict[str, str]]] = {
    "EIP712Domain": EIP712_DOMAIN_FIELDS,
    "IdentityStatement": [
        {"name": "purpose", "type": "string"},
        {"name": "wallet", "type": "address"},
        {"name": "chainId", "type": "uint256"},
        {"name": "registry", "type": "address"},
        {"name": "nonce", "type": "bytes32"},
        {"name": "issuedAt", "type": "uint64"},
    ],
}


def _type_string(name: str) -> bytes:
    fields = ",".join(f"{f['type']} {f['name']}" for f in EIP712_TYPES[name])
    return f"{name}({fields})".encode()


_DOMAIN_TYPEHASH = keccak(_type_string("EIP712Domain"))
_STATEMENT_TYPEHASH = keccak(_type_string("IdentityStatement"))
_NAME_HASH = keccak(EIP712_DOMAIN_NAME.encode())
_VERSION_HASH = keccak(EIP712_DOMAIN_VERSION.encode())
_SECP256K1_HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0
_MAX_UINT64 = 2**64 - 1
_FIELDS = ("purpose", "wallet", "chain_id", "registry", "nonce", "issued_at")


@dataclass(frozen=True)
class CardSignatures:
    """What the card produced over ``LinkStatement.canonical_bytes()``: DER certificates and PKCS#1 v1.5
    / SHA-256 signatures (the signing pair only for adults who gave the signing password)."""

    auth_certificate: bytes
    auth_signature: bytes
    signing_certificate: bytes | None = None
    signing_signature: bytes | None = None


class Purpose(StrEnum):
    LINK = "link"
    RECOVER = "recover"
    RENEW = "renew"


def _u256(n: int) -> bytes:
    return n.to_bytes(32, "big")


def _addr(a: str) -> bytes:
    return bytes(12) + bytes.fromhex(a[2:])


def _checksum(value: Any, what: str) -> str:
    try:
        return checksum(value, what)
    except InvalidAddress as exc:
        raise MalformedStatement(exc.message) from None


@dataclass(frozen=True)
class LinkStatement:
    """What the resident signs.  Fields are validated and normalised on creation
    (addresses to EIP-55, ``nonce`` accepted as 32 bytes or 64 hex characters)."""

    purpose: Purpose
    wallet: str
    chain_id: int
    registry: str
    nonce: bytes
    issued_at: int

    def __post_init__(self) -> None:
        try:
            purpose = Purpose(self.purpose)
        except ValueError as exc:
            raise MalformedStatement("purpose must be link, recover or renew") from exc
        nonce: Any = self.nonce
        if isinstance(nonce, str):
            text = nonce[2:] if nonce.startswith("0x") else nonce
            try:
                nonce = bytes.fromhex(text)
            except ValueError as exc:
                raise MalformedStatement("nonce is not hex") from exc
        if not isinstance(nonce, bytes | bytearray) or len(nonce) != 32:
            raise MalformedStatement("nonce must be 32 bytes")
        for name, upper in (("chain_id", 2**256 - 1), ("issued_at", _MAX_UINT64)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= upper:
                raise MalformedStatement(f"{name} must be a positive integer")
        object.__setattr__(self, "purpose", purpose)
        object.__setattr__(self, "wallet", _checksum(self.wallet, "wallet"))
        object.__setattr__(self, "registry", _checksum(self.registry, "registry"))
        object.__setattr__(self, "nonce", bytes(nonce))

    @classmethod
    def create(
        cls,
        *,
        purpose: Purpose | str,
        wallet: str,
        chain_id: int,
        registry: str,
        nonce: bytes | str,
        issued_at: datetime | int,
    ) -> LinkStatement:
        ts = int(issued_at.timestamp()) if isinstance(issued_at, datetime) else issued_at
        return cls(purpose, wallet, chain_id, registry, nonce, ts)  # type: ignore[arg-type]

    @property
    def nonce_hex(self) -> str:
        return self.nonce.hex()

    @property
    def issued_at_datetime(self) -> datetime:
        return datetime.fromtimestamp(self.issued_at, UTC)

    # card side ---------------------------------------------------------------------

    def canonical_bytes(self) -> bytes:
        """The exact bytes the card signs."""
        return (
            f"{DOMAIN_TAG}\n"
            f"purpose={self.purpose.value}\n"
            f"wallet={self.wallet}\n"
            f"chain_id={self.chain_id}\n"
            f"registry={self.registry}\n"
            f"nonce={self.nonce_hex}\n"
            f"issued_at={self.issued_at}\n"
        ).encode()

    @classmethod
    def parse(cls, data: bytes) -> LinkStatement:
        """Inverse of ``canonical_bytes``; rejects anything non-canonical."""
        try:
            lines = data.decode("utf-8").split("\n")
        except UnicodeDecodeError as exc:
            raise MalformedStatement("not UTF-8") from exc
        if len(lines) != len(_FIELDS) + 2 or lines[0] != DOMAIN_TAG or lines[-1] != "":
            raise MalformedStatement("not a Machi Ledger identity statement")
        values: dict[str, str] = {}
        for line, name in zip(lines[1:-1], _FIELDS, strict=True):
            key, sep, value = line.partition("=")
            if key != name or not sep:
                raise MalformedStatement(f"expected field {name}")
            values[name] = value
        for name in ("chain_id", "issued_at"):
            v = values[name]
            if not v.isascii() or not v.isdigit() or (len(v) > 1 and v[0] == "0"):
                raise MalformedStatement(f"{name} is not a canonical integer")
        statement = cls(
            values["purpose"],  # type: ignore[arg-type]  # validated in __post_init__
            values["wallet"],
            int(values["chain_id"]),
            values["registry"],
            values["nonce"],  # type: ignore[arg-type]
            int(values["issued_at"]),
        )
        if statement.canonical_bytes() != data:
            raise MalformedStatement("not in canonical form")
        return statement

    # wallet side (EIP-712) ---------------------------------------------------------

    def typed_data(self) -> dict[str, Any]:
        """EIP-712 ``full_message`` for wallets (``eth_signTypedData_v4``)."""
        return {
            "types": EIP712_TYPES,
            "primaryType": "IdentityStatement",
            "domain": {
                "name": EIP712_DOMAIN_NAME,
                "version": EIP712_DOMAIN_VERSION,
                "chainId": self.chain_id,
                "verifyingContract": self.registry,
            },
            "message": {
                "purpose": self.purpose.value,
                "wallet": self.wallet,
                "chainId": self.chain_id,
                "registry": self.registry,
                "nonce": "0x" + self.nonce_hex,
                "issuedAt": self.issued_at,
            },
        }

    def domain_separator(self) -> bytes:
        return keccak(
            _DOMAIN_TYPEHASH + _NAME_HASH + _VERSION_HASH + _u256(self.chain_id)
            + _addr(self.registry)
        )

    def eip712_digest(self) -> bytes:
        """``keccak256(0x1901 ‖ domainSeparator ‖ hashStruct(statement))``."""
        struct_hash = keccak(
            _STATEMENT_TYPEHASH
            + keccak(self.purpose.value.encode())
            + _addr(self.wallet)
            + _u256(self.chain_id)
            + _addr(self.registry)
            + self.nonce
            + _u256(self.issued_at)
        )
        return keccak(b"\x19\x01" + self.domain_separator() + struct_hash)

    def to_json(self) -> dict[str, Any]:
        return {
            "purpose": self.purpose.value,
            "wallet": self.wallet,
            "chain_id": self.chain_id,
            "registry": self.registry,
            "nonce": self.nonce_hex,
            "issued_at": self.issued_at,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LinkStatement:
        try:
            return cls(
                data["purpose"], data["wallet"], data["chain_id"], data["registry"],
                data["nonce"], data["issued_at"],
            )
        except KeyError as exc:
            raise MalformedStatement(f"missing field {exc.args[0]}") from exc


def sign_wallet(statement: LinkStatement, private_key: bytes | str) -> bytes:
    """65-byte ``r ‖ s ‖ v`` (v = 27/28) EIP-712 signature by a secp256k1 key."""
    if isinstance(private_key, str):
        private_key = bytes.fromhex(private_key.removeprefix("0x"))
    sig = PrivateKey(private_key).sign_msg_hash(statement.eip712_digest())
    r, s, v = int(sig.r), int(sig.s), int(sig.v)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v + 27])


def verify_wallet_signature(statement: LinkStatement, signature: bytes | str) -> None:
    """Raise ``WalletSignatureMismatch`` unless ``signature`` is the statement wallet's
    EIP-712 signature over this statement (EOA wallets; low-s enforced as in
    OpenZeppelin ECDSA)."""
    if isinstance(signature, str):
        try:
            signature = bytes.fromhex(signature.removeprefix("0x"))
        except ValueError as exc:
            raise WalletSignatureMismatch("signature is not hex") from exc
    if len(signature) != 65:
        raise WalletSignatureMismatch("signature must be 65 bytes")
    v = signature[64]
    if v in (27, 28):
        v -= 27
    if v not in (0, 1):
        raise WalletSignatureMismatch("bad recovery id")
    if int.from_bytes(signature[32:64], "big") > _SECP256K1_HALF_N:
        raise WalletSignatureMismatch("non-canonical (high-s) signature")
    try:
        sig = Signature(signature_bytes=signature[:64] + bytes([v]))
        signer = sig.recover_public_key_from_msg_hash(statement.eip712_digest())
    except (BadSignature, ValidationError, ValueError) as exc:
        raise WalletSignatureMismatch("signature does not recover") from exc
    if signer.to_checksum_address() != statement.wallet:
        raise WalletSignatureMismatch()


def check_context(
    statement: LinkStatement,
    *,
    chain_id: int,
    registry: str,
    purpose: Purpose | str | None = None,
) -> None:
    """Raise ``MalformedStatement`` unless the statement targets this deployment."""
    if statement.chain_id != chain_id:
        raise MalformedStatement("statement is for another chain")
    if statement.registry != _checksum(registry, "registry"):
        raise MalformedStatement("statement is for another registry contract")
    if purpose is not None and statement.purpose != Purpose(purpose):
        raise MalformedStatement(f"statement purpose must be {Purpose(purpose).value}")
