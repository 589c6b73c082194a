"""Contract-test helpers: a sender for ``Call``s, decoded-revert assertions, and ready-made actors.

Operators are anvil's unlocked dev accounts (``keys``); fresh wallets are impersonated so tests can
send from them without signing. Reverts are always asserted by their decoded custom-error name.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from web3 import Web3
from web3.types import TxReceipt

from chain.contracts import (
    AssuranceLevel,
    Authorization,
    Call,
    CityContracts,
    ContractClient,
    random_nonce,
)
from chain.contracts.authorization import TRANSFER_WITH_AUTHORIZATION_TYPES, make_nonce
from chain.errors import DECODER, ContractLogicError
from chain.node import LocalNode

YEAR = 365 * 24 * 3600
CARD = AssuranceLevel.CARD_AUTHENTICATED
RESIDENT_OF_CITY = AssuranceLevel.RESIDENT_OF_CITY


@dataclass(frozen=True)
class AccountWord:
    """RegionalCoin's account word: coins (bits 0-39), key-1 sequence (40-63), freeze (102-103), the points'
    base month (104-119) and seven 19-bit buckets (120-252); the rest reserved and zero (``rest``: every
    other bit, as found)."""

    coins: int
    sequence: int
    freeze: int
    rest: int
    points_base: int = 0
    buckets: tuple[int, ...] = (0,) * 7

    COINS_MASK = 2**40 - 1
    SEQUENCE_SHIFT, SEQUENCE_MASK = 40, 2**24 - 1
    FREEZE_SHIFT = 102
    BASE_SHIFT, BASE_MASK = 104, 2**16 - 1
    BUCKETS_SHIFT, BUCKET_BITS, BUCKET_MASK = 120, 19, 2**19 - 1

    @classmethod
    def decode(cls, word: int) -> AccountWord:
        known = (cls.COINS_MASK | cls.SEQUENCE_MASK << cls.SEQUENCE_SHIFT | 3 << cls.FREEZE_SHIFT
                 | cls.BASE_MASK << cls.BASE_SHIFT | (2 ** (7 * cls.BUCKET_BITS) - 1) << cls.BUCKETS_SHIFT)
        buckets = tuple((word >> (cls.BUCKETS_SHIFT + i * cls.BUCKET_BITS)) & cls.BUCKET_MASK for i in range(7))
        return cls(word & cls.COINS_MASK, (word >> cls.SEQUENCE_SHIFT) & cls.SEQUENCE_MASK,
                   (word >> cls.FREEZE_SHIFT) & 3, word & ~known, (word >> cls.BASE_SHIFT) & cls.BASE_MASK, buckets)

    def points_by_month(self) -> dict[int, int]:
        """Expiry month → points, for the non-empty buckets."""
        return {self.points_base + i: amount for i, amount in enumerate(self.buckets) if amount}


def account_word_key(account: str, slot: int) -> bytes:
    """The storage key of ``account``'s entry in a mapping at ``slot`` (Solidity's keccak(key ‖ slot))."""
    return keccak(bytes(12) + bytes.fromhex(account[2:]) + slot.to_bytes(32, "big"))


def random32() -> bytes:
    """A random 32-byte value (subject keys, evidence commitments, refs)."""
    return secrets.token_bytes(32)


def unchecked_call(client: ContractClient, function: str, *args: Any) -> Call:
    """Calldata the typed client would refuse to build (to prove the chain refuses it too)."""
    data = client.contract.encode_abi(function, args=list(args))
    return Call(client.address, bytes.fromhex(data.removeprefix("0x")))


#: anvil's development account 8 (unlocked on every anvil), no role of its own.
OPERATOR = "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f"


def sign_key_zero(coin: Any, payer: LocalAccount, to: str, value: int, valid_before: int,
                  sequence: int = 0) -> Authorization:
    """An authorization on nonce key 0 (the permit's), which ``sign_transfer_authorization`` refuses to make:
    signed here by hand, to prove the chain and the API refuse it too."""
    domain = coin.domain()
    unsigned = Authorization(payer.address, to, value, 0, valid_before, make_nonce(0, sequence), 0,
                             bytes(32), bytes(32), random32())
    signed = payer.sign_typed_data(domain.as_dict(), TRANSFER_WITH_AUTHORIZATION_TYPES, unsigned.message())
    return replace(unsigned, v=int(signed.v), r=int(signed.r).to_bytes(32, "big"), s=int(signed.s).to_bytes(32, "big"))


class Chain:
    """Sends ``Call``s as any account and asserts decoded reverts."""

    def grant_operator(self) -> None:
        """Give ``operator`` every service role but the minters' (reverted with the test's chain state)."""
        for client, role in ((self.registry, "REGISTRAR_ROLE"), (self.coin, "RELAYER_ROLE"),
                             (self.coin, "FREEZER_ROLE"), (self.coin, "RECOVERY_ROLE"), (self.ledger, "ANCHOR_ROLE")):
            self.send(client.grant_role_call(role, self.operator), self.admin)

    def __init__(self, w3: Web3, node: LocalNode, city: CityContracts, keys: Any) -> None:
        self.w3 = w3
        self.url = node.url
        self.registry = city.registry
        self.coin = city.coin
        self.ledger = city.ledger
        self.keys = keys
        self.admin = keys.deployer.address  # DEFAULT_ADMIN everywhere, master minter, pauser
        # the service's keys, one per role (chain.roles.KEY_ROLES)
        self.relayer = keys.relayer.address
        self.registrar = keys.registrar.address
        self.freezer = keys.freezer.address
        self.recovery = keys.recovery.address
        self.settlement = keys.settlement.address
        self.topup = keys.topup.address
        self.benefits = keys.benefits.address
        #: anvil's account 8, which ``grant_operator`` makes registrar, relayer, freezer, recovery and
        #: anchorer at once: contract tests about a function's logic call it as this one account.
        self.operator = OPERATOR
        self._impersonated: set[str] = set()
        self._accounts_slot: int | None = None

    # ------------------------------------------------------------------ node
    def rpc(self, method: str, *params: Any) -> Any:
        """A node-control call over web3's pooled connection (``chain.node.rpc_call`` opens one per call)."""
        response = self.w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
        if "error" in response:
            raise AssertionError(f"{method} failed: {response['error']}")
        return response.get("result")

    def now(self) -> int:
        """Timestamp of the latest block (what ``eth_call`` views see)."""
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def advance(self, seconds: int) -> None:
        """Move time forward and mine a block."""
        self.rpc("evm_increaseTime", seconds)
        self.rpc("evm_mine")

    def mine_at(self, timestamp: int) -> None:
        """Mine one block with exactly this timestamp."""
        self.rpc("evm_mine", timestamp)

    def impersonate(self, address: str) -> None:
        """Let tests send from ``address`` without its key, and give it ETH for gas (once per test)."""
        if address not in self._impersonated:
            self.rpc("anvil_impersonateAccount", address)
            self.rpc("anvil_setBalance", address, hex(10**20))
            self._impersonated.add(address)

    # ------------------------------------------------------------------ transactions
    def send(self, call: Call, sender: str | LocalAccount) -> TxReceipt:
        """Send ``call`` from ``sender`` and wait; a revert raises the decoded ``ContractLogicError``."""
        address = sender if isinstance(sender, str) else sender.address
        if address not in (self.admin, self.operator, self.topup, self.benefits, self.relayer, self.registrar,
                           self.freezer, self.recovery, self.settlement):
            self.impersonate(address)
        try:
            tx_hash = self.w3.eth.send_transaction(call.as_transaction(address))  # type: ignore[arg-type]
        except Exception as exc:
            decoded = DECODER.from_exception(exc)
            if decoded is not None:
                raise decoded from None
            raise
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, poll_latency=0.01)
        assert receipt["status"] == 1, receipt
        return receipt

    def reverts(self, call: Call, sender: str | LocalAccount, error: str, /, **args: Any) -> ContractLogicError:
        """Assert that ``call`` from ``sender`` reverts with custom error ``error`` (and these args)."""
        address = sender if isinstance(sender, str) else sender.address
        try:
            self.registry.simulate(call, address)
        except ContractLogicError as exc:
            assert exc.name == error, f"expected {error}, got {exc}"
            for name, want in args.items():
                got = exc.args_by_name[name]
                assert got == want, f"{error}.{name}: expected {want!r}, got {got!r}"
            return exc
        raise AssertionError(f"expected {error}, but the call succeeded")

    def account_word(self, account: str) -> AccountWord:
        """The coin's raw account word for ``account`` (storage, not the views), decoded."""
        return AccountWord.decode(self.raw_account_word(account, self.accounts_slot()))

    def raw_account_word(self, account: str, slot: int) -> int:
        key = account_word_key(account, slot)
        return int.from_bytes(self.w3.eth.get_storage_at(self.coin.address, key), "big")  # type: ignore[arg-type]

    def accounts_slot(self) -> int:
        """The storage slot of the coin's ``_accounts`` mapping, found once: the one slot whose entry for a
        resident with a distinctive balance holds that balance in its coins field."""
        if self._accounts_slot is None:
            probe = self.resident(98_765)
            slots = [slot for slot in range(32)
                     if AccountWord.decode(self.raw_account_word(probe.address, slot)).coins == 98_765]
            assert len(slots) == 1, slots
            self._accounts_slot = slots[0]
        return self._accounts_slot

    def subject_of(self, wallet: str) -> bytes:
        """The whole subject key ``wallet`` was last bound to, from the registry's ``Attested`` events (the
        record keeps only its first 16 bytes)."""
        attested = self.registry.contract.events.Attested.get_logs(
            from_block=0, argument_filters={"wallet": wallet})
        assert attested, f"{wallet} was never attested"
        return bytes(attested[-1]["args"]["subjectKey"])

    # ------------------------------------------------------------------ actors
    def resident(
        self,
        balance: int = 0,
        level: AssuranceLevel = CARD,
        expires_in: int = YEAR,
        subject: bytes | None = None,
    ) -> LocalAccount:
        """A fresh attested resident, topped up with ``balance``."""
        account = Account.create()
        self.send(
            self.registry.attest_call(
                account.address, subject or random32(), level, self.now() + expires_in, random32()
            ),
            self.operator,
        )
        if balance:
            self.send(self.coin.mint_call(account.address, balance), self.topup)
        return account

    def merchant(self, balance: int = 0) -> LocalAccount:
        """A fresh registered merchant with ``balance`` (paid in by a resident: merchants are not minted to)."""
        account = Account.create()
        self.send(
            self.registry.register_merchant_call(account.address, random32(), self.now() + YEAR, random32()),
            self.operator,
        )
        if balance:
            self.fund_by_payment(account.address, balance)
        return account

    def city_account(self, balance: int = 0) -> LocalAccount:
        """A fresh registered city account with ``balance``."""
        account = Account.create()
        self.send(
            self.registry.register_city_account_call(account.address, random32(), self.now() + YEAR, random32()),
            self.operator,
        )
        if balance:
            self.fund_by_payment(account.address, balance)
        return account

    def fund_by_payment(self, to: str, amount: int) -> None:
        """Give a non-resident coins the only way it can get them: a resident pays it."""
        payer = self.resident(amount, level=RESIDENT_OF_CITY)
        self.send(self.coin.transfer_call(to, amount), payer)

    def sign(
        self,
        payer: LocalAccount,
        to: str,
        value: int,
        *,
        nonce: bytes | None = None,
        valid_after: int = 0,
        valid_before: int | None = None,
        ref: bytes | None = None,
    ) -> Authorization:
        """An authorization from ``payer`` valid for an hour, with a one-off nonce unless given."""
        return self.coin.sign_authorization(
            payer,
            to,
            value,
            nonce=nonce if nonce is not None else random_nonce(),
            valid_after=valid_after,
            valid_before=valid_before if valid_before is not None else self.now() + 3600,
            ref=ref if ref is not None else random32(),
        )

    def sign_key_zero(self, payer: LocalAccount, to: str, value: int, sequence: int = 0) -> Authorization:
        """An authorization on nonce key 0 (see ``sign_key_zero``), valid for an hour of chain time."""
        return sign_key_zero(self.coin, payer, to, value, self.now() + 3600, sequence)

    # ------------------------------------------------------------------ recovery
    def request_recovery(self, lost: str, new: str, evidence: bytes | None = None) -> TxReceipt:
        """``requestRecovery`` by the recovery agent."""
        return self.send(self.coin.request_recovery_call(lost, new, evidence or random32()), self.operator)

    def recover(self, lost: str, new: str, evidence: bytes | None = None) -> TxReceipt:
        """A whole recovery: requested, the delay passed (anvil time travel), executed by anyone."""
        self.request_recovery(lost, new, evidence)
        self.advance(self.coin.recovery_delay())
        return self.send(self.coin.execute_recovery_call(lost), self.operator)

    def rebind(self, lost: str, new: str, evidence: bytes | None = None) -> TxReceipt:
        """The registry's half of a recovery, sent as the coin contract (the only holder of RECOVERY_ROLE)."""
        call = unchecked_call(self.registry, "rebind", lost, new, evidence or random32())
        self.impersonate(self.coin.address)
        return self.send(call, self.coin.address)
