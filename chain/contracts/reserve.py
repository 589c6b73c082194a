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
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from web3 import Web3

from chain.compiler import CompileResult
from chain.contracts.authorization import TRANSFER_WITH_AUTHORIZATION_TYPES, Eip712Domain
from chain.contracts.base import Call, ContractClient, role_id, to_bytes32

__all__ = ["OfflineReserveClient", "PaymentTuple", "Refusal", "deploy_reserve", "sign_receive_authorization",
           "sign_release_request"]

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
