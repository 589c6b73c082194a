"""Typed client of ``OfflineReserve``: offline payments that cannot bounce.

A resident reserves coins (``reserve_call`` with their ERC-3009 ``ReceiveWithAuthorization`` to the reserve,
see ``sign_receive_authorization``); offline payments signed against the reserve (``protocol.offline``) are
settled later in batches (``settle_batch_call``; ``screen_batch`` says beforehand what each item would do);
a release of the unused reserve is requested with the resident's signature and done after the delay.

Payments are passed as the contract's ``Payment`` tuples ``(payer, merchant, amount, nonce, validBefore,
signature)`` — this package does not import the protocol that builds them.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any, cast

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_utils.abi import function_signature_to_4byte_selector
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3 import Web3
from web3.types import TxReceipt

from chain.batching import ItemOutcome
from chain.compiler import CompileResult
from chain.contracts.authorization import TRANSFER_WITH_AUTHORIZATION_TYPES, Eip712Domain
from chain.contracts.base import Call, ContractClient, role_id, to_bytes32
from chain.contracts.coin import BatchOutcomeError

__all__ = ["OfflineReserveClient", "PaymentTuple", "Refusal", "ReserveBatcher", "decode_payment_item", "released",
           "deploy_reserve", "encode_payment_item", "sign_receive_authorization", "sign_release_request"]

PaymentTuple = tuple[str, str, int, bytes, int, bytes]

#: ERC-3009's ``ReceiveWithAuthorization``: the fields of ``TransferWithAuthorization`` under its own name.
RECEIVE_WITH_AUTHORIZATION_TYPES = {"ReceiveWithAuthorization": TRANSFER_WITH_AUTHORIZATION_TYPES[
    "TransferWithAuthorization"]}
RELEASE_TYPES = {"ReleaseRequest": [{"name": "payer", "type": "address"}, {"name": "nonce", "type": "bytes32"}]}
DOMAIN_NAME, DOMAIN_VERSION = "Machi Offline Reserve", "1"


class Refusal(enum.IntEnum):
    """Why ``settleBatch`` refused an item (the contract's ``Refusal``)."""

    NONE = 0
    EXPIRED = 1
    INVALID_SIGNATURE = 2
    NONCE_USED = 3
    INSUFFICIENT_RESERVE = 4
    ZERO_AMOUNT = 5
    MERCHANT_REFUSED = 6

    @property
    def label(self) -> str:
        """The contract's name for it (``InsufficientReserve``): the intent's error code."""
        return "".join(part.capitalize() for part in self.name.split("_"))


_PAYMENT_TYPE = "(address,address,uint256,bytes32,uint256,bytes)"
_SETTLE_SELECTOR = function_signature_to_4byte_selector(f"settleBatch({_PAYMENT_TYPE}[])")
SETTLED_TOPIC = keccak(text="OfflinePaymentSettled(address,address,bytes32,uint256)")
RELEASED_TOPIC = keccak(text="Released(address,uint256)")
REFUSED_TOPIC = keccak(text="OfflinePaymentRefused(address,address,bytes32,uint8)")


def encode_payment_item(p: PaymentTuple) -> bytes:
    """One offline payment as a batch item (the ABI encoding of the contract's ``Payment``)."""
    return abi_encode([_PAYMENT_TYPE], [OfflineReserveClient._item(p)])


def decode_payment_item(item: bytes) -> PaymentTuple:
    """The payment a batch item carries.

    Raises:
        ValueError: not an encoded payment.
    """
    try:
        ((payer, merchant, amount, nonce, valid_before, signature),) = abi_decode([_PAYMENT_TYPE], item)
    except Exception as exc:  # noqa: BLE001 - eth_abi raises several unrelated types for bad input
        raise ValueError(f"not an encoded offline payment: {exc}") from None
    return (to_checksum_address(payer), to_checksum_address(merchant), int(amount), bytes(nonce), int(valid_before),
            bytes(signature))


def released(w3: Web3, reserve: str, tx_hash: str) -> list[tuple[str, int]]:
    """``(payer, coins returned)`` of each ``Released`` event of ``reserve`` in transaction ``tx_hash``."""
    receipt = w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
    wanted = to_checksum_address(reserve)
    out: list[tuple[str, int]] = []
    for log in receipt["logs"]:
        topics = [bytes(t) for t in log["topics"]]
        if to_checksum_address(log["address"]) == wanted and topics and topics[0] == RELEASED_TOPIC:
            out.append((to_checksum_address(topics[1][12:]), int.from_bytes(bytes(log["data"])[:32], "big")))
    return out


class ReserveBatcher:
    """``chain.batching.Batcher`` for the reserve's ``settleBatch``: many offline payments in one call, each
    item's fate read back from its ``OfflinePaymentSettled`` / ``OfflinePaymentRefused`` event (the contract
    emits exactly one per item, in order)."""

    #: The ``TxIntent.batch_key`` of offline payments.
    KEY = "reserve.payments"

    def __init__(self, reserve_address: str) -> None:
        self.reserve_address = to_checksum_address(reserve_address)

    def encode(self, items: Sequence[bytes]) -> bytes:
        """``settleBatch`` calldata carrying ``items`` in order.

        Raises:
            ValueError: an item is not an encoded payment.
        """
        payments = [OfflineReserveClient._item(decode_payment_item(item)) for item in items]
        return _SETTLE_SELECTOR + abi_encode([f"{_PAYMENT_TYPE}[]"], [payments])

    def outcomes(self, receipt: TxReceipt, items: Sequence[bytes]) -> list[ItemOutcome]:
        """Settled items succeed; refused ones fail with the refusal's name as the error code.

        Raises:
            BatchOutcomeError: the receipt's events do not match ``items``.
        """
        found: list[tuple[bytes, bytes, Refusal]] = []
        for log in receipt["logs"]:
            if to_checksum_address(log["address"]) != self.reserve_address:
                continue
            topics = [bytes(t) for t in log["topics"]]
            if not topics or topics[0] not in (SETTLED_TOPIC, REFUSED_TOPIC):
                continue
            reason = Refusal.NONE if topics[0] == SETTLED_TOPIC else Refusal(bytes(log["data"])[31])
            found.append((topics[1][12:], topics[3], reason))
        if len(found) != len(items):
            raise BatchOutcomeError(f"the receipt reports {len(found)} offline payments, expected {len(items)}")
        outcomes = []
        for index, ((payer, nonce, reason), item) in enumerate(zip(found, items, strict=True)):
            p = decode_payment_item(item)
            if (to_checksum_address(payer), nonce) != (p[0], p[3]):
                raise BatchOutcomeError(f"event {index} is about another offline payment than item {index}")
            detail: dict[str, Any] = {"payer": p[0], "nonce": "0x" + nonce.hex(), "reason": reason.label}
            if reason is Refusal.NONE:
                outcomes.append(ItemOutcome(ok=True, result=detail))
            else:
                outcomes.append(ItemOutcome(False, reason.label, f"offline payment refused: {reason.label}", detail))
        return outcomes


def sign_receive_authorization(account: LocalAccount, coin: Eip712Domain, to: str, value: int, *, valid_after: int,
                               valid_before: int, nonce: bytes) -> bytes:
    """The payer's ERC-3009 ``ReceiveWithAuthorization`` signature (65 bytes): only ``to`` (the reserve) can
    collect it, so a relayer cannot redirect the coins."""
    message = {"from": account.address, "to": to_checksum_address(to), "value": value, "validAfter": valid_after,
               "validBefore": valid_before, "nonce": nonce}
    return bytes(account.sign_typed_data(coin.as_dict(), RECEIVE_WITH_AUTHORIZATION_TYPES, message).signature)


def sign_release_request(account: LocalAccount, chain_id: int, reserve: str, nonce: bytes) -> bytes:
    """The payer's EIP-712 ``ReleaseRequest`` for their unused reserve (65 bytes)."""
    domain = {"name": DOMAIN_NAME, "version": DOMAIN_VERSION, "chainId": chain_id,
              "verifyingContract": to_checksum_address(reserve)}
    return bytes(account.sign_typed_data(domain, RELEASE_TYPES, {"payer": account.address, "nonce": nonce}).signature)


class OfflineReserveClient(ContractClient):
    """The deployed ``OfflineReserve``."""

    ARTIFACT = "OfflineReserve"
    RELAYER_ROLE = role_id("RELAYER_ROLE")
    PAYMENT_ABI_TYPE = "(address,address,uint256,bytes32,uint256,bytes)[]"

    # ------------------------------------------------------------------ calls
    def reserve_call(self, payer: str, amount: int, *, valid_after: int, valid_before: int, nonce: bytes,
                     signature: bytes) -> Call:
        """Move ``amount`` of ``payer``'s coins into their reserve (RELAYER_ROLE; their signature)."""
        if amount <= 0:
            raise ValueError("a reserve is a positive number of coins")
        return self._call("reserve", to_checksum_address(payer), amount, valid_after, valid_before,
                          to_bytes32(nonce, "nonce"), signature)

    def settle_batch_call(self, payments: Sequence[PaymentTuple]) -> Call:
        """Settle signed offline payments in order (RELAYER_ROLE); refused items are skipped, never reverting."""
        return self._call("settleBatch", [self._item(p) for p in payments])

    def request_release_call(self, payer: str, nonce: bytes, signature: bytes) -> Call:
        """Start the release of ``payer``'s unused reserve (RELAYER_ROLE; their signature)."""
        return self._call("requestRelease", to_checksum_address(payer), to_bytes32(nonce, "nonce"), signature)

    def release_call(self, payer: str) -> Call:
        """Return ``payer``'s unused reserve once the release is due (anyone)."""
        return self._call("release", to_checksum_address(payer))

    def grant_relayer_call(self, account: str) -> Call:
        """Let ``account`` relay (DEFAULT_ADMIN_ROLE)."""
        return self._call("grantRole", self.RELAYER_ROLE, to_checksum_address(account))

    # ------------------------------------------------------------------ reads
    def screen_batch(self, payments: Sequence[PaymentTuple], relayer: str) -> list[Refusal]:
        """What ``settleBatch`` would do with each item now (an ``eth_call`` as ``relayer``)."""
        raw = self._eth_call(self.settle_batch_call(payments).data, sender=relayer)
        (reasons,) = abi_decode(["uint8[]"], raw)
        return [Refusal(r) for r in reasons]

    def reserve_of(self, payer: str) -> tuple[int, int]:
        """``(coins reserved, release due time or 0)``."""
        amount, release_at = self._read("reserveOf", to_checksum_address(payer))
        return int(amount), int(release_at)

    def reserves_of(self, payers: Sequence[str]) -> list[tuple[int, int]]:
        """``reserve_of`` of each payer, in one JSON-RPC batch (a counter's sync reads a page of them)."""
        if not payers:
            return []
        with self.w3.batch_requests() as batch:
            for payer in payers:
                batch.add(self.contract.functions.reserveOf(to_checksum_address(payer)))
            answers = cast(list[Any], batch.execute())
        return [(int(amount), int(release_at)) for amount, release_at in answers]

    def is_nonce_used(self, payer: str, nonce: bytes) -> bool:
        return bool(self._read("isNonceUsed", to_checksum_address(payer), to_bytes32(nonce, "nonce")))

    def release_delay(self) -> int:
        return int(self._read("releaseDelay"))

    @staticmethod
    def _item(p: PaymentTuple) -> tuple[Any, ...]:
        payer, merchant, amount, nonce, valid_before, signature = p
        return (to_checksum_address(payer), to_checksum_address(merchant), amount, to_bytes32(nonce, "nonce"),
                valid_before, signature)


def deploy_reserve(w3: Web3, deployer: LocalAccount, compiled: CompileResult, coin: str,
                   release_delay: int) -> OfflineReserveClient:
    """Deploy an ``OfflineReserve`` for ``coin`` (``deployer`` is its admin). It must then be registered as a
    city account in the IdentityRegistry to hold coins, and the relayer granted RELAYER_ROLE."""
    from chain.deploy import send_transaction

    artifact = compiled[OfflineReserveClient.ARTIFACT]
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    tx = factory.constructor(to_checksum_address(coin), release_delay, deployer.address).build_transaction(
        {"from": deployer.address})
    receipt = send_transaction(w3, deployer, dict(tx))
    return OfflineReserveClient(w3, receipt["contractAddress"], artifact.abi)
