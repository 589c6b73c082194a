"""ERC-3009 ``TransferWithAuthorization``: keyed nonces, signing, and the batch item encoding.

Residents never hold gas: their wallet signs an authorization (EIP-712 typed data over the
coin's domain) and the city's relayer submits it, usually many per transaction through
``RegionalCoin.batchTransferWithAuthorization``.

Nonces are keyed sequential nonces (OpenZeppelin 5.7's shape): the ``bytes32`` nonce is
``key (192 bits) << 64 | sequence (64 bits)``. Keys are independent; within a key the sequence
numbers must be used in order from 0 (``RegionalCoinClient.nonces(owner, key)`` is the next one).
Key 0 is EIP-2612 ``permit``'s nonce and refused for ERC-3009 (by the coin, the API and
``sign_transfer_authorization``), so wallets use a non-zero key:

* key 1 (``SEQUENCE_KEY``, ``sequence_nonce(n)``), the wallet's own sequence, kept in the coin's
  account word beside its balance: a payment on it writes no extra storage, the first one included.
  What ``machi-wallet pay`` signs; the service tells the wallet the next number (chain plus its
  payments still in progress), since an item relayed out of order is skipped as ``NonceAhead``;
* a fresh random key with sequence 0 (``random_nonce()``), for authorizations relayed later or
  never (application fees, offline reserves), which must not hold up the key-1 payments behind
  them (costs a fresh 22.1k storage slot).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address

from chain.contracts.base import ZERO_BYTES32, to_bytes32

KEY_BITS = 192
SEQUENCE_BITS = 64
#: The nonce key whose sequence the coin keeps in the account word (``RegionalCoin.SEQUENCE_KEY``).
SEQUENCE_KEY = 1

#: The EIP-712 struct the payer signs (ERC-3009).
TRANSFER_WITH_AUTHORIZATION_TYPES: dict[str, list[dict[str, str]]] = {
    "TransferWithAuthorization": [
        {"name": "from", "type": "address"},
        {"name": "to", "type": "address"},
        {"name": "value", "type": "uint256"},
        {"name": "validAfter", "type": "uint256"},
        {"name": "validBefore", "type": "uint256"},
        {"name": "nonce", "type": "bytes32"},
    ]
}

#: ABI type of ``RegionalCoin.Authorization`` (a static tuple: every item is exactly 320 bytes).
AUTHORIZATION_ABI_TYPE = "(address,address,uint256,uint256,uint256,bytes32,uint8,bytes32,bytes32,bytes32)"
AUTHORIZATION_ITEM_SIZE = 10 * 32


# ---------------------------------------------------------------------------- nonces
def make_nonce(key: int, sequence: int) -> bytes:
    """The ``bytes32`` ERC-3009 nonce for ``key`` and ``sequence``: ``key << 64 | sequence``.

    Raises:
        ValueError: ``key`` does not fit 192 bits or ``sequence`` 64 bits.
    """
    if not 0 <= key < 2**KEY_BITS:
        raise ValueError(f"nonce key must fit {KEY_BITS} bits")
    if not 0 <= sequence < 2**SEQUENCE_BITS:
        raise ValueError(f"nonce sequence must fit {SEQUENCE_BITS} bits")
    return ((key << SEQUENCE_BITS) | sequence).to_bytes(32, "big")


def split_nonce(nonce: bytes | str | int) -> tuple[int, int]:
    """``(key, sequence)`` of a packed nonce (bytes32, hex or the uint256 ``nonces()`` returns)."""
    value = nonce if isinstance(nonce, int) else int.from_bytes(to_bytes32(nonce, "nonce"), "big")
    return value >> SEQUENCE_BITS, value & (2**SEQUENCE_BITS - 1)


def sequence_nonce(sequence: int) -> bytes:
    """The wallet's ``sequence``-th nonce of its built-in key 1 (``SEQUENCE_KEY``)."""
    return make_nonce(SEQUENCE_KEY, sequence)


def random_nonce_key() -> int:
    """A random 192-bit nonce key other than 0 (``permit``'s) and 1 (the wallet's sequence)."""
    while True:
        key = secrets.randbits(KEY_BITS)
        if key > SEQUENCE_KEY:
            return key


def random_nonce() -> bytes:
    """A one-off nonce: a fresh random key at sequence 0 (independent of every other payment)."""
    return make_nonce(random_nonce_key(), 0)


# ---------------------------------------------------------------------------- authorizations
@dataclass(frozen=True)
class Eip712Domain:
    """The coin's EIP-712 domain (``RegionalCoinClient.domain()`` reads it from the chain)."""

    name: str
    version: str
    chain_id: int
    verifying_contract: str

    def as_dict(self) -> dict[str, Any]:
        """The ``domain_data`` dict eth-account expects."""
        return {
            "name": self.name,
            "version": self.version,
            "chainId": self.chain_id,
            "verifyingContract": to_checksum_address(self.verifying_contract),
        }


@dataclass(frozen=True)
class Authorization:
    """One signed ERC-3009 ``TransferWithAuthorization`` plus an unsigned payment reference.

    Field order is the Solidity struct ``RegionalCoin.Authorization``. ``ref`` labels the item in
    the batch events (the payment request it settles); it is not covered by the signature.

    Attributes:
        from_: the payer, who signed.
        to: the payee.
        value: coins (0 decimals: yen).
        valid_after, valid_before: the validity window (unix seconds, exclusive at both ends).
        nonce: keyed nonce (``make_nonce``).
        v, r, s: the EIP-712 ECDSA signature.
        ref: opaque 32-byte payment reference.
    """

    from_: str
    to: str
    value: int
    valid_after: int
    valid_before: int
    nonce: bytes
    v: int
    r: bytes
    s: bytes
    ref: bytes = ZERO_BYTES32

    def with_ref(self, ref: bytes | str) -> Authorization:
        """The same signed authorization labelled with another payment reference."""
        return replace(self, ref=to_bytes32(ref, "ref"))

    @property
    def nonce_key(self) -> int:
        """The 192-bit key of the nonce."""
        return split_nonce(self.nonce)[0]

    @property
    def sequence(self) -> int:
        """The 64-bit sequence number of the nonce within its key."""
        return split_nonce(self.nonce)[1]

    @property
    def signature(self) -> bytes:
        """The 65-byte ``r ‖ s ‖ v`` signature (for the ``bytes signature`` overloads)."""
        return self.r + self.s + bytes([self.v])

    def to_json(self) -> dict[str, Any]:
        """The signed authorization as the service's API takes it (``{"authorization": …}``; ``ref`` is not sent)."""
        return {"from": self.from_, "to": self.to, "value": self.value, "valid_after": self.valid_after,
                "valid_before": self.valid_before, "nonce": "0x" + self.nonce.hex(), "v": self.v,
                "r": "0x" + self.r.hex(), "s": "0x" + self.s.hex()}

    def message(self) -> dict[str, Any]:
        """The EIP-712 message that was signed."""
        return {
            "from": self.from_,
            "to": self.to,
            "value": self.value,
            "validAfter": self.valid_after,
            "validBefore": self.valid_before,
            "nonce": self.nonce,
        }

    def as_tuple(self) -> tuple[Any, ...]:
        """The ``RegionalCoin.Authorization`` struct as a tuple (web3 argument)."""
        return (
            self.from_,
            self.to,
            self.value,
            self.valid_after,
            self.valid_before,
            self.nonce,
            self.v,
            self.r,
            self.s,
            self.ref,
        )

    def encode(self) -> bytes:
        """The ABI encoding of the struct: one 320-byte batch item (``TxIntent.batch_item``)."""
        return abi_encode([AUTHORIZATION_ABI_TYPE], [self.as_tuple()])

    @classmethod
    def decode(cls, item: bytes) -> Authorization:
        """Parse a batch item made by ``encode``.

        Raises:
            ValueError: not a 320-byte encoded authorization.
        """
        if len(item) != AUTHORIZATION_ITEM_SIZE:
            raise ValueError(f"an authorization item is {AUTHORIZATION_ITEM_SIZE} bytes, got {len(item)}")
        (fields,) = abi_decode([AUTHORIZATION_ABI_TYPE], item)
        from_, to, value, valid_after, valid_before, nonce, v, r, s, ref = fields
        return cls(
            to_checksum_address(from_),
            to_checksum_address(to),
            int(value),
            int(valid_after),
            int(valid_before),
            bytes(nonce),
            int(v),
            bytes(r),
            bytes(s),
            bytes(ref),
        )


def encode_authorization_item(auth: Authorization) -> bytes:
    """The batch item for ``auth`` (what the service stores as the outbox intent's ``batch_item``)."""
    return auth.encode()


def decode_authorization_item(item: bytes) -> Authorization:
    """Inverse of ``encode_authorization_item``.

    Raises:
        ValueError: malformed item.
    """
    return Authorization.decode(item)


def sign_transfer_authorization(
    account: LocalAccount,
    coin_address: str,
    chain_id: int,
    name: str,
    to: str,
    value: int,
    valid_after: int,
    valid_before: int,
    nonce: bytes,
    *,
    version: str = "1",
    ref: bytes = ZERO_BYTES32,
) -> Authorization:
    """Sign an ERC-3009 ``TransferWithAuthorization`` from ``account`` to ``to``.

    Args:
        account: the payer's key.
        coin_address, chain_id, name, version: the coin's EIP-712 domain (``name`` is the ERC-20
            name, e.g. ``"Kaga Coin"``; version ``"1"``).
        to: the payee.
        value: coins to move.
        valid_after, valid_before: validity window in unix seconds (exclusive at both ends).
        nonce: a keyed nonce (``make_nonce`` / ``random_nonce``).
        ref: opaque payment reference carried along (not signed).

    Raises:
        ValueError: the nonce or ref is not 32 bytes, the nonce has key 0 (the EIP-2612 permit nonce,
            which the coin refuses for ERC-3009), or a number is negative.
    """
    if min(value, valid_after, valid_before) < 0:
        raise ValueError("value and validity times must not be negative")
    if split_nonce(nonce)[0] == 0:
        raise ValueError("nonce key 0 belongs to EIP-2612 permits; use a non-zero key (random_nonce)")
    domain = Eip712Domain(name, version, chain_id, coin_address)
    unsigned = Authorization(
        from_=account.address,
        to=to_checksum_address(to),
        value=value,
        valid_after=valid_after,
        valid_before=valid_before,
        nonce=to_bytes32(nonce, "nonce"),
        v=0,
        r=ZERO_BYTES32,
        s=ZERO_BYTES32,
        ref=to_bytes32(ref, "ref"),
    )
    signed = account.sign_typed_data(domain.as_dict(), TRANSFER_WITH_AUTHORIZATION_TYPES, unsigned.message())
    r, s = int(signed.r).to_bytes(32, "big"), int(signed.s).to_bytes(32, "big")
    return replace(unsigned, v=int(signed.v), r=r, s=s)


def authorization_signer(auth: Authorization, domain: Eip712Domain) -> str:
    """The address that signed ``auth`` under ``domain`` (the service checks it equals ``from_``
    before queueing a payment, so a bad signature fails fast instead of as a batch skip).

    Raises:
        ValueError: the signature is malformed.
    """
    signable = encode_typed_data(domain.as_dict(), TRANSFER_WITH_AUTHORIZATION_TYPES, auth.message())
    try:
        return str(Account.recover_message(signable, vrs=(auth.v, auth.r, auth.s)))
    except Exception as exc:  # eth-keys raises several types for malformed signatures
        raise ValueError(f"malformed signature: {exc}") from exc
