"""Typed client of ``RegionalCoin`` and the batch relay of signed authorizations.

``RegionalCoinClient`` reads balances, minter budgets, freezes, policy and nonces as Python
values and returns ``Call`` calldata for every write. ``CoinBatcher`` plugs the coin's
``batchTransferWithAuthorization`` into the relayer (``chain.batching.Batcher``): the service
queues one ``encode_authorization_item(auth)`` per payment; the relayer packs up to a hundred
into one call and reads each item's fate back from the ``AuthorizationUsed`` (relayed) /
``AuthorizationSkipped`` events.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, cast

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_utils.abi import function_signature_to_4byte_selector
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3.types import TxReceipt

from chain.batching import ItemOutcome
from chain.contracts.authorization import (
    AUTHORIZATION_ABI_TYPE,
    AUTHORIZATION_ITEM_SIZE,
    Authorization,
    Eip712Domain,
    decode_authorization_item,
    make_nonce,
    sign_transfer_authorization,
    split_nonce,
)
from chain.contracts.base import ZERO_BYTES32, Call, ContractClient, optional_address, role_id, to_bytes32
from chain.contracts.registry import AssuranceLevel, Kind
from chain.errors import ChainError


class SkipReason(IntEnum):
    """``RegionalCoin.SkipReason``: why the batch skipped an item (``NONE`` = relayed).

    The numeric codes are stable (the ABI carries a ``uint8``); ``label`` is the Solidity name.
    """

    NONE = 0
    NOT_YET_VALID = 1
    EXPIRED = 2
    INVALID_SIGNATURE = 3
    NONCE_USED = 4
    NONCE_AHEAD = 5
    SENDER_NOT_VERIFIED = 6
    SENDER_FROZEN = 7
    RECIPIENT_NOT_VERIFIED = 8
    RECIPIENT_FROZEN = 9
    TRANSFER_NOT_ALLOWED = 10
    INSUFFICIENT_BALANCE = 11
    BALANCE_CAP_EXCEEDED = 12
    NONCE_KEY_ZERO = 13
    POINTS_EXPIRED = 14
    POINTS_NOT_TRANSFERABLE = 15

    @property
    def label(self) -> str:
        """The Solidity enum member name, e.g. ``"NonceUsed"`` (used as the intent's error code)."""
        return "".join(part.capitalize() for part in self.name.split("_"))

    @property
    def description(self) -> str:
        """What the reason means, in one sentence."""
        return _SKIP_DESCRIPTIONS[self]


_SKIP_DESCRIPTIONS = {
    SkipReason.NONE: "relayed",
    SkipReason.NOT_YET_VALID: "the authorization is not valid yet (now <= validAfter)",
    SkipReason.EXPIRED: "the authorization expired (now >= validBefore)",
    SkipReason.INVALID_SIGNATURE: "the signature is not the payer's (or is malformed)",
    SkipReason.NONCE_USED: "the nonce was already used or cancelled",
    SkipReason.NONCE_AHEAD: "an earlier sequence number of the same nonce key is still unused",
    SkipReason.SENDER_NOT_VERIFIED: "the payer is not verified (no record, revoked or expired)",
    SkipReason.SENDER_FROZEN: "the payer is frozen",
    SkipReason.RECIPIENT_NOT_VERIFIED: "the payee is not verified (no record, revoked, expired or zero)",
    SkipReason.RECIPIENT_FROZEN: "the payee is frozen",
    SkipReason.TRANSFER_NOT_ALLOWED: "the transfer policy forbids payments between these kinds",
    SkipReason.INSUFFICIENT_BALANCE: "the payer's balance is too low",
    SkipReason.BALANCE_CAP_EXCEEDED: "the payment would put a resident payee over the balance cap",
    SkipReason.NONCE_KEY_ZERO: "nonce key 0 belongs to EIP-2612 permits; an authorization needs another key",
    SkipReason.POINTS_EXPIRED: "the payment would need points that have expired",
    SkipReason.POINTS_NOT_TRANSFERABLE: "the payment would need points, and points pay merchants only",
}


class FreezeKind(IntEnum):
    """``RegionalCoin.FreezeKind``: ``REPORTED_LOST`` freezes like ``FROZEN`` but lets a recovery move the
    wallet."""

    NONE = 0
    FROZEN = 1
    REPORTED_LOST = 2


@dataclass(frozen=True)
class Points:
    """``pointsOf(account)``: a wallet's points (never part of its coins, ``balanceOf``).

    Attributes:
        unexpired: points a payment to a merchant may spend (before coins).
        expired: points past their expiry month, waiting for the sweep to give them back to the fund.
        next_expiry: unix second at which the earliest unexpired points stop counting (0: none).
        next_amount: how many points stop counting then.
    """

    unexpired: int
    expired: int
    next_expiry: int
    next_amount: int


@dataclass(frozen=True)
class PointsFund:
    """``pointsFund()``: the fund (the coin contract's own account), its coins and how many back points."""

    address: str
    coins: int
    reserved: int

    @property
    def free(self) -> int:
        """Fund coins not backing any point (expired points come back here; credits use them first)."""
        return self.coins - self.reserved


@dataclass(frozen=True)
class PendingRecovery:
    """``pendingRecovery(lost)``: where a requested recovery goes and from when it may run.

    Attributes:
        successor: the new wallet (``None`` when nothing is pending).
        eta: unix second from which ``executeRecovery`` may run (0 when nothing is pending).
        evidence: the successor's evidence commitment.
    """

    successor: str | None
    eta: int
    evidence: bytes

    @property
    def pending(self) -> bool:
        """A recovery was requested and neither cancelled nor executed."""
        return self.eta != 0

BATCH_SIGNATURE = f"batchTransferWithAuthorization({AUTHORIZATION_ABI_TYPE}[])"
BATCH_SELECTOR = function_signature_to_4byte_selector(BATCH_SIGNATURE)
AUTHORIZATION_USED_TOPIC = keccak(text="AuthorizationUsed(address,bytes32)")
AUTHORIZATION_SKIPPED_TOPIC = keccak(text="AuthorizationSkipped(bytes32,address,bytes32,uint8)")


class BatchOutcomeError(ChainError):
    """A receipt's batch events do not match the items it was asked about."""

    code = "batch_outcome_mismatch"


# ---------------------------------------------------------------------------- batch encoding
def batch_calldata(items: Sequence[bytes]) -> bytes:
    """Calldata of ``batchTransferWithAuthorization(items)`` from encoded items.

    The struct is static, so the array is its length followed by the 320-byte items as they are.

    Raises:
        ValueError: an item is not 320 bytes long.
    """
    for index, item in enumerate(items):
        if len(item) != AUTHORIZATION_ITEM_SIZE:
            raise ValueError(f"item {index} is {len(item)} bytes, expected {AUTHORIZATION_ITEM_SIZE}")
    return BATCH_SELECTOR + abi_encode(["uint256", "uint256"], [32, len(items)]) + b"".join(items)


@dataclass(frozen=True)
class BatchItemResult:
    """What the batch did with one item.

    Attributes:
        reason: ``SkipReason.NONE`` when relayed.
        ref, from_, nonce: from the event (equal to the item's).
    """

    reason: SkipReason
    ref: bytes
    from_: str
    nonce: bytes

    @property
    def relayed(self) -> bool:
        """The payment went through."""
        return self.reason is SkipReason.NONE


def decode_batch_outcomes(
    receipt: TxReceipt, items: Sequence[bytes], coin_address: str | None = None
) -> list[BatchItemResult]:
    """One result per item of a mined batch, from its ``AuthorizationUsed`` (ERC-3009: the item was relayed) and
    ``AuthorizationSkipped`` events (the contract emits exactly one of them per item, in item order; a relayed
    item's ``ref`` is the item's own, which the chain does not repeat).

    Args:
        receipt: the successful batch transaction's receipt.
        items: the encoded items the batch carried, in order.
        coin_address: only count events of this contract (recommended).

    Raises:
        BatchOutcomeError: the events do not match the items (count, payer, nonce or ref).
    """
    wanted = to_checksum_address(coin_address) if coin_address else None
    results: list[BatchItemResult] = []
    for log in receipt["logs"]:
        if wanted is not None and to_checksum_address(log["address"]) != wanted:
            continue
        topics = [bytes(t) for t in log["topics"]]
        if not topics or topics[0] not in (AUTHORIZATION_USED_TOPIC, AUTHORIZATION_SKIPPED_TOPIC):
            continue
        data = bytes(log["data"])
        if topics[0] == AUTHORIZATION_USED_TOPIC:  # AuthorizationUsed(authorizer indexed, nonce indexed)
            results.append(BatchItemResult(SkipReason.NONE, b"", to_checksum_address(topics[1][12:]), topics[2]))
        else:  # AuthorizationSkipped(ref indexed, from indexed, nonce, reason)
            results.append(BatchItemResult(SkipReason(data[63]), topics[1], to_checksum_address(topics[2][12:]),
                                           data[:32]))
    if len(results) != len(items):
        raise BatchOutcomeError(f"the receipt reports {len(results)} batch items, expected {len(items)}")
    matched = []
    for index, (result, item) in enumerate(zip(results, items, strict=True)):
        auth = decode_authorization_item(item)
        if (result.from_, result.nonce) != (auth.from_, auth.nonce) or result.ref not in (b"", auth.ref):
            raise BatchOutcomeError(f"batch event {index} is about another authorization than item {index}")
        matched.append(BatchItemResult(result.reason, auth.ref, result.from_, result.nonce))
    return matched


class CoinBatcher:
    """``chain.batching.Batcher`` for the coin's batch relay of signed authorizations."""

    #: The ``TxIntent.batch_key`` the service uses for coin payments.
    KEY = "coin.authorizations"

    def __init__(self, coin_address: str) -> None:
        """Args:
        coin_address: the coin whose events ``outcomes`` reads.
        """
        self.coin_address = to_checksum_address(coin_address)

    def encode(self, items: Sequence[bytes]) -> bytes:
        """Calldata of the batch call carrying ``items`` in this order.

        Raises:
            ValueError: an item is not an encoded authorization.
        """
        return batch_calldata(items)

    def outcomes(self, receipt: TxReceipt, items: Sequence[bytes]) -> list[ItemOutcome]:
        """Relayed items succeed; skipped ones fail with the skip reason's name as error code.

        Raises:
            BatchOutcomeError: the receipt's events do not match ``items``.
        """
        outcomes = []
        for result in decode_batch_outcomes(receipt, items, self.coin_address):
            detail: dict[str, Any] = {
                "ref": "0x" + result.ref.hex(),
                "from": result.from_,
                "nonce": "0x" + result.nonce.hex(),
                "reason": result.reason.label,
                "code": int(result.reason),
            }
            if result.relayed:
                outcomes.append(ItemOutcome(ok=True, result=detail))
            else:
                message = f"authorization skipped: {result.reason.description}"
                outcomes.append(ItemOutcome(False, result.reason.label, message, detail))
        return outcomes


# ---------------------------------------------------------------------------- client
class RegionalCoinClient(ContractClient):
    """The deployed ``RegionalCoin`` (1 coin = 1 yen, 0 decimals)."""

    ARTIFACT = "RegionalCoin"
    MASTER_MINTER_ROLE = role_id("MASTER_MINTER_ROLE")
    PAUSER_ROLE = role_id("PAUSER_ROLE")
    FREEZER_ROLE = role_id("FREEZER_ROLE")
    RECOVERY_ROLE = role_id("RECOVERY_ROLE")
    RELAYER_ROLE = role_id("RELAYER_ROLE")

    _domain: Eip712Domain | None = None

    # ------------------------------------------------------------------ ERC-20 reads
    def name(self) -> str:
        """The ERC-20 name (also the EIP-712 domain name)."""
        return str(self._read("name"))

    def symbol(self) -> str:
        """The ERC-20 symbol."""
        return str(self._read("symbol"))

    def decimals(self) -> int:
        """Always 0: one coin is one yen."""
        return int(self._read("decimals"))

    def total_supply(self) -> int:
        """Coins in circulation."""
        return int(self._read("totalSupply"))

    def balance_of(self, account: str) -> int:
        """``account``'s balance."""
        return int(self._read("balanceOf", to_checksum_address(account)))

    def allowance(self, owner: str, spender: str) -> int:
        """ERC-20 allowance of ``spender`` over ``owner``'s coins."""
        return int(self._read("allowance", to_checksum_address(owner), to_checksum_address(spender)))

    # ------------------------------------------------------------------ coin reads
    def registry_address(self) -> str:
        """The identity registry every transfer is checked against."""
        return to_checksum_address(self._read("registry"))

    def is_minter(self, account: str) -> bool:
        """Whether ``account`` is a configured minter."""
        return bool(self._read("isMinter", to_checksum_address(account)))

    def minter_allowance(self, minter: str) -> int:
        """How many coins ``minter`` may still mint (0 for non-minters)."""
        return int(self._read("minterAllowance", to_checksum_address(minter)))

    def points_of(self, account: str) -> Points:
        """``account``'s unexpired and expired points and its next expiry."""
        unexpired, expired, next_expiry, next_amount = self._read("pointsOf", to_checksum_address(account))
        return Points(int(unexpired), int(expired), int(next_expiry), int(next_amount))

    def points_of_many(self, accounts: Sequence[str], block: int | None = None) -> list[Points]:
        """``points_of`` of each account, read at one block (default: the head) in one round trip."""
        if not accounts:
            return []
        block = int(self.w3.eth.block_number) if block is None else block
        with self.w3.batch_requests() as batch:
            for account in accounts:
                data = self.contract.encode_abi("pointsOf", args=[to_checksum_address(account)])
                batch.add(self.w3.eth.call({"to": self.address, "data": data}, block))
            answers = [bytes(answer) for answer in cast(list[Any], batch.execute())]
        return [Points(*(int.from_bytes(a[i:i + 32], "big") for i in range(0, 128, 32))) for a in answers]

    def points_fund(self) -> PointsFund:
        """The points fund's address, coins and reserve."""
        fund, coins, reserved = self._read("pointsFund")
        return PointsFund(to_checksum_address(fund), int(coins), int(reserved))

    def is_frozen(self, account: str) -> bool:
        """Whether ``account`` is frozen (can neither send nor receive), either kind."""
        return bool(self._read("isFrozen", to_checksum_address(account)))

    def freeze_kind(self, account: str) -> FreezeKind:
        """How ``account`` is frozen (``REPORTED_LOST`` still lets a recovery move it)."""
        return FreezeKind(self._read("freezeKindOf", to_checksum_address(account)))

    def pending_recovery(self, lost_wallet: str) -> PendingRecovery:
        """The requested, not yet executed or cancelled recovery of ``lost_wallet``."""
        successor, eta, evidence = self._read("pendingRecovery", to_checksum_address(lost_wallet))
        return PendingRecovery(optional_address(successor), int(eta), bytes(evidence))

    def recovery_delay(self) -> int:
        """Seconds between a recovery request and its execution."""
        return int(self._read("recoveryDelay"))

    def paused(self) -> bool:
        """Whether every balance change is stopped."""
        return bool(self._read("paused"))

    def is_transfer_allowed(self, from_kind: Kind, to_kind: Kind) -> bool:
        """Whether the policy lets ``from_kind`` pay ``to_kind`` (``Kind.NONE``: mint as sender, burn as
        recipient)."""
        return bool(self._read("isTransferAllowed", Kind(from_kind), Kind(to_kind)))

    def transfer_policy(self) -> int:
        """The policy bitmap: bit ``4 * from_kind + to_kind`` set means allowed."""
        return int(self._read("transferPolicy"))

    def balance_cap(self, level: AssuranceLevel) -> int:
        """The most a resident at ``level`` may hold (0 for ``NONE``)."""
        return int(self._read("balanceCap", AssuranceLevel(level)))

    # ------------------------------------------------------------------ nonces and authorizations
    def nonces(self, owner: str, key: int | None = None) -> int:
        """Without ``key``: the EIP-2612 permit nonce (key 0's sequence). With ``key``: the next packed
        ERC-3009 nonce of that key, ``key << 64 | next sequence`` (see ``split_nonce``)."""
        if key is None:
            return int(self._read("nonces", to_checksum_address(owner)))
        return int(self._read("nonces", to_checksum_address(owner), key))

    def next_nonce(self, owner: str, key: int) -> bytes:
        """The nonce ``owner``'s next authorization with ``key`` must carry."""
        return make_nonce(*split_nonce(self.nonces(owner, key)))

    def balance_and_used(self, owner: str, nonces: Sequence[bytes | str]) -> tuple[int, list[bool]]:
        """``owner``'s balance and whether each of its ``nonces`` is used, all read at one block — so an
        authorization whose nonce is used there is in that balance, whatever the relayer has seen yet."""
        owner = to_checksum_address(owner)
        block = int(self.w3.eth.block_number)
        calls = [self.contract.encode_abi("balanceOf", args=[owner])] + [
            self.contract.encode_abi("authorizationState", args=[owner, to_bytes32(nonce, "nonce")])
            for nonce in nonces]
        with self.w3.batch_requests() as batch:  # one round trip, however many transfers are in flight
            for data in calls:
                batch.add(self.w3.eth.call({"to": self.address, "data": data}, block))
            answers = [int.from_bytes(bytes(answer), "big") for answer in cast(list[Any], batch.execute())]
        return answers[0], [answer != 0 for answer in answers[1:]]

    def authorization_state(self, authorizer: str, nonce: bytes | str) -> bool:
        """Whether ``nonce`` of ``authorizer`` was used or cancelled."""
        nonce = to_bytes32(nonce, "nonce")
        return bool(self._read("authorizationState", to_checksum_address(authorizer), nonce))

    def domain(self) -> Eip712Domain:
        """The coin's EIP-712 domain, read once from ``eip712Domain()`` and cached."""
        if self._domain is None:
            _, name, version, chain_id, contract, _, _ = self._read("eip712Domain")
            self._domain = Eip712Domain(str(name), str(version), int(chain_id), to_checksum_address(contract))
        return self._domain

    def sign_authorization(
        self,
        account: LocalAccount,
        to: str,
        value: int,
        *,
        nonce: bytes,
        valid_before: int,
        valid_after: int = 0,
        ref: bytes = ZERO_BYTES32,
    ) -> Authorization:
        """Sign a ``TransferWithAuthorization`` for this coin (see ``sign_transfer_authorization``)."""
        domain = self.domain()
        return sign_transfer_authorization(
            account,
            domain.verifying_contract,
            domain.chain_id,
            domain.name,
            to,
            value,
            valid_after,
            valid_before,
            nonce,
            version=domain.version,
            ref=ref,
        )

    def screen_batch(self, auths: Iterable[Authorization], relayer: str) -> list[SkipReason]:
        """What a batch would do right now, per item, without sending it (``eth_call`` as ``relayer``).

        Raises:
            ContractLogicError: the batch as a whole would revert (paused, ``relayer`` lacks the role).
        """
        raw = self.simulate(self.batch_call(auths), relayer)
        (reasons,) = abi_decode(["uint8[]"], raw)
        return [SkipReason(r) for r in reasons]

    # ------------------------------------------------------------------ writes
    def transfer_call(self, to: str, amount: int) -> Call:
        """ERC-20 ``transfer`` from the signing account (city accounts that hold their own key)."""
        return self._call("transfer", to_checksum_address(to), amount)

    def approve_call(self, spender: str, amount: int) -> Call:
        """ERC-20 ``approve``: let ``spender`` move up to ``amount`` of the signer's coins."""
        return self._call("approve", to_checksum_address(spender), amount)

    def transfer_from_call(self, owner: str, to: str, amount: int) -> Call:
        """ERC-20 ``transferFrom`` by the signing spender (refused while the spender is frozen)."""
        return self._call("transferFrom", to_checksum_address(owner), to_checksum_address(to), amount)

    def mint_call(self, to: str, amount: int) -> Call:
        """Mint ``amount`` to ``to`` out of the sending minter's allowance (only residents, by policy)."""
        return self._call("mint", to_checksum_address(to), amount)

    def credit_points_call(self, to: str, amount: int, expiry_month: int) -> Call:
        """Credit ``amount`` points to resident ``to``, expiring at the end of JST month ``expiry_month``
        (``protocol.points``), out of the sending minter's allowance."""
        return self._call("creditPoints", to_checksum_address(to), amount, expiry_month)

    def sweep_expired_points_call(self, accounts: Iterable[str]) -> Call:
        """Give the expired points of ``accounts`` back to the fund (anyone may send it; idempotent)."""
        return self._call("sweepExpiredPoints", [to_checksum_address(a) for a in accounts])

    def redeem_call(self, amount: int, ref: bytes | str) -> Call:
        """Burn ``amount`` of the sender's coins to be paid out in yen against ``ref`` (merchants, city)."""
        return self._call("redeem", amount, to_bytes32(ref, "ref"))

    def request_recovery_call(self, lost_wallet: str, successor: str, evidence: bytes | str) -> Call:
        """Announce the recovery of ``lost_wallet`` to ``successor`` (RECOVERY_ROLE): it may run after the
        recovery delay and can be cancelled until then by the lost wallet or the freezer."""
        return self._call("requestRecovery", to_checksum_address(lost_wallet), to_checksum_address(successor),
                          to_bytes32(evidence, "evidence"))

    def cancel_recovery_call(self, lost_wallet: str) -> Call:
        """Cancel the pending recovery of ``lost_wallet`` (sent by the lost wallet itself or the freezer)."""
        return self._call("cancelRecovery", to_checksum_address(lost_wallet))

    def cancel_recovery_with_signature_call(self, lost_wallet: str, signature: bytes) -> Call:
        """Cancel with the lost wallet's 65-byte EIP-712 ``CancelRecovery`` signature (anyone relays it)."""
        if len(signature) != 65:
            raise ValueError("a cancellation signature is 65 bytes")
        return self._call("cancelRecoveryWithSignature", to_checksum_address(lost_wallet), signature[64],
                          signature[:32], signature[32:64])

    def execute_recovery_call(self, lost_wallet: str) -> Call:
        """Run a due recovery: the subject and the whole balance move to the successor (anyone)."""
        return self._call("executeRecovery", to_checksum_address(lost_wallet))

    def set_recovery_delay_call(self, delay: int) -> Call:
        """Set the delay of recoveries requested from now on (DEFAULT_ADMIN_ROLE)."""
        if not 0 <= delay < 2**40:
            raise ValueError("a recovery delay must fit uint40")
        return self._call("setRecoveryDelay", delay)

    def freeze_call(self, account: str) -> Call:
        """Block ``account`` from sending and receiving, and from being recovered (FREEZER_ROLE)."""
        return self._call("freeze", to_checksum_address(account))

    def freeze_as_lost_call(self, account: str) -> Call:
        """Freeze ``account`` as reported lost: blocked, but a recovery may still move it (FREEZER_ROLE)."""
        return self._call("freezeAsLost", to_checksum_address(account))

    def unfreeze_call(self, account: str) -> Call:
        """Lift a freeze (FREEZER_ROLE)."""
        return self._call("unfreeze", to_checksum_address(account))

    def pause_call(self) -> Call:
        """Stop every balance change (PAUSER_ROLE)."""
        return self._call("pause")

    def unpause_call(self) -> Call:
        """Resume balance changes (PAUSER_ROLE)."""
        return self._call("unpause")

    def configure_minter_call(self, minter: str, allowance: int) -> Call:
        """Make ``minter`` a minter with ``allowance`` left to mint, replacing any previous allowance
        (MASTER_MINTER_ROLE)."""
        return self._call("configureMinter", to_checksum_address(minter), allowance)

    def remove_minter_call(self, minter: str) -> Call:
        """Remove a minter and its allowance (MASTER_MINTER_ROLE)."""
        return self._call("removeMinter", to_checksum_address(minter))

    def set_transfer_rule_call(self, from_kind: Kind, to_kind: Kind, allowed: bool) -> Call:
        """Allow or forbid payments from ``from_kind`` to ``to_kind`` (DEFAULT_ADMIN_ROLE)."""
        return self._call("setTransferRule", Kind(from_kind), Kind(to_kind), allowed)

    def set_balance_cap_call(self, level: AssuranceLevel, cap: int) -> Call:
        """Set the residents' balance cap at ``level`` (DEFAULT_ADMIN_ROLE).

        Raises:
            ValueError: ``level`` is ``NONE`` or ``cap`` does not fit uint64.
        """
        if AssuranceLevel(level) is AssuranceLevel.NONE:
            raise ValueError("balance caps exist for CARD_AUTHENTICATED and RESIDENT_OF_CITY only")
        if not 0 <= cap < 2**64:
            raise ValueError("a balance cap must fit uint64")
        return self._call("setBalanceCap", AssuranceLevel(level), cap)

    def transfer_with_authorization_call(self, auth: Authorization) -> Call:
        """ERC-3009 ``transferWithAuthorization`` (v, r, s overload) for one signed authorization."""
        return self._call(
            "transferWithAuthorization",
            auth.from_,
            auth.to,
            auth.value,
            auth.valid_after,
            auth.valid_before,
            auth.nonce,
            auth.v,
            auth.r,
            auth.s,
        )

    def batch_call(self, auths: Iterable[Authorization]) -> Call:
        """``batchTransferWithAuthorization`` carrying ``auths`` in order (RELAYER_ROLE)."""
        return Call(self.address, batch_calldata([auth.encode() for auth in auths]))

    # ------------------------------------------------------------------ receipts
    def batch_outcomes(self, receipt: TxReceipt, auths: Sequence[Authorization]) -> list[BatchItemResult]:
        """Per-item results of a mined batch of ``auths`` (see ``decode_batch_outcomes``).

        Raises:
            BatchOutcomeError: the receipt does not match ``auths``.
        """
        return decode_batch_outcomes(receipt, [auth.encode() for auth in auths], self.address)
