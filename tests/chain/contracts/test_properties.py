"""Stateful property tests: random sequences of registry and coin operations on the real chain.

A small reference model predicts every operation's outcome (success, the custom error, or the batch
skip reason); the chain must agree. After every step the invariants are checked against the chain:

* ``totalSupply`` equals the sum of all balances (every holder is in the account pool, or holds
  coins that no operation of the machine can move);
* no wallet gains a balance unless it was verified and not frozen;
* minter allowances never go below zero, and equal the budget minus what was minted;
* one subject never maps to two live wallets;
* balances, identity statuses, freezes and pending recoveries equal the model's;
* the coin's raw account words (read with ``eth_getStorageAt``, not through the views) hold each
  account's coins, key-1 sequence, freeze and points (base month and seven buckets) where the layout puts
  them and zero elsewhere, and the key-1 sequence counts exactly the relayed key-1 payments (never reset by
  revocation, re-attestation or recovery; a number one ahead is skipped as ``NonceAhead``);
* points: total supply = the pool's coins + the fund's coins (+ coins outside the pool); the fund's reserve
  = every account's points (expired, unswept ones included) <= the fund's coins; a point reaches a merchant
  only as a coin the fund paid (the fund's coins fall by exactly the points spent); no payment ever spends
  an expired point (the model refuses it as ``PointsExpired`` and the chain must agree), and a second sweep
  moves nothing.

Recovery is modelled as the contracts run it: requested (delayed), cancelled by the lost wallet or the
freezer, executed by anyone once due — refused while the lost wallet is frozen unless "reported lost".

Each example runs between its own ``evm_snapshot`` / ``evm_revert``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.abi import function_signature_to_4byte_selector
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from chain.contracts import AssuranceLevel, Authorization, Call, Kind, RevocationReason, SkipReason, make_nonce
from chain.contracts.authorization import SEQUENCE_KEY
from chain.contracts.coin import FreezeKind
from chain.errors import ContractLogicError
from protocol.points import month_of, month_start
from tests.chain.contracts.helpers import CARD, RESIDENT_OF_CITY, AccountWord, Chain, account_word_key

WALLETS = 6  # resident wallets W0..W5 (W0..W2 attested in the base state)
SUBJECTS = 4  # S0..S2 bound to W0..W2, S3 free
SHORT, LONG = 1_000, 10 * 365 * 24 * 3600  # expiry offsets; time advances in steps of 2,000 s
BENEFITS_BUDGET = 300_000
RECOVERY_DELAY = 3_000  # set in the base state: due after two time steps, not after one
ZERO_ADDRESS = "0x" + "00" * 20
BUCKET_MAX = 2**19 - 1

ERROR_OF_SKIP = {
    SkipReason.SENDER_NOT_VERIFIED: "RegionalCoinUnverifiedAccount",
    SkipReason.RECIPIENT_NOT_VERIFIED: "RegionalCoinUnverifiedAccount",
    SkipReason.SENDER_FROZEN: "RegionalCoinFrozenAccount",
    SkipReason.RECIPIENT_FROZEN: "RegionalCoinFrozenAccount",
    SkipReason.TRANSFER_NOT_ALLOWED: "RegionalCoinTransferNotAllowed",
    SkipReason.INSUFFICIENT_BALANCE: "ERC20InsufficientBalance",
    SkipReason.BALANCE_CAP_EXCEEDED: "RegionalCoinBalanceCapExceeded",
    SkipReason.POINTS_EXPIRED: "RegionalCoinPointsExpired",
    SkipReason.POINTS_NOT_TRANSFERABLE: "RegionalCoinPointsNotTransferable",
}


@dataclass(frozen=True)
class Rec:
    """The model of one registry record."""

    kind: Kind
    level: AssuranceLevel
    subject: bytes
    expires_at: int
    revoked: bool = False
    reason: RevocationReason = RevocationReason.NONE


@dataclass(frozen=True)
class Observation:
    """One batched read of the chain after a step.

    Attributes:
        accounts: per pool account, (balance, verified, freeze kind).
        records: per pool account, (live, subject key).
        wallets: ``walletOf`` of each pool subject.
        allowances: per minter, its remaining allowance.
        supply: ``totalSupply``.
        pending: per pool wallet, its pending recovery (successor, eta); (zero address, 0) when none.
    """

    accounts: dict[str, tuple[int, bool, FreezeKind]]
    records: dict[str, tuple[bool, bytes]]
    wallets: dict[bytes, str]
    allowances: dict[str, int]
    supply: int
    pending: dict[str, tuple[str, int]]
    words: dict[str, AccountWord]  # the coin's raw account word per pool account (storage, not views)
    key_one: dict[str, int]  # nonces(account, 1): the next key-1 nonce
    fund: tuple[int, int]  # pointsFund(): the fund's coins and reserve


@dataclass
class Pool:
    """The accounts every example works with (the merchant and city account are registered once)."""

    wallets: list[LocalAccount]
    merchant: LocalAccount
    city: LocalAccount
    subjects: list[bytes]
    minters: list[str]

    @property
    def everyone(self) -> list[LocalAccount]:
        return [*self.wallets, self.merchant, self.city]


@dataclass(frozen=True)
class BaseState:
    """The model of the state the test arranged, read from the chain once (every example starts here)."""

    records: dict[str, Rec]
    bound: dict[bytes, str]  # the registry's subject -> wallet map
    frozen: dict[str, FreezeKind]
    paused: bool
    balances: dict[str, int]
    allowances: dict[str, int]
    caps: dict[AssuranceLevel, int]
    policy: frozenset[tuple[Kind, Kind]]
    supply: int
    fund: tuple[int, int]  # the fund's coins and reserve
    points: dict[str, tuple[int, dict[int, int]]]  # account -> (base month, expiry month -> points)

    @classmethod
    def read(cls, evm: Chain, pool: Pool) -> BaseState:
        coin, registry = evm.coin, evm.registry
        records = {}
        for account in pool.everyone:
            record = registry.record_of(account.address)
            if record.exists:
                records[account.address] = Rec(
                    record.kind,
                    record.level,
                    # the chain keeps the subject key's first 16 bytes: map them back to the pool's whole key
                    next((s for s in pool.subjects if record.holds_subject(s)), record.subject_tag),
                    record.expires_at,
                    not record.live,
                    record.revocation_reason,
                )
        return cls(
            records=records,
            bound={r.subject: a for a, r in records.items()},
            frozen={a.address: coin.freeze_kind(a.address) for a in pool.everyone
                    if coin.freeze_kind(a.address) is not FreezeKind.NONE},
            paused=coin.paused(),
            balances={a.address: coin.balance_of(a.address) for a in pool.everyone},
            allowances={m: coin.minter_allowance(m) for m in pool.minters},
            caps={level: coin.balance_cap(level) for level in (CARD, RESIDENT_OF_CITY)},
            policy=frozenset((f, t) for f, t in itertools.product(Kind, Kind) if coin.is_transfer_allowed(f, t)),
            supply=coin.total_supply(),
            fund=(coin.points_fund().coins, coin.points_fund().reserved),
            points={a.address: (evm.account_word(a.address).points_base, evm.account_word(a.address).points_by_month())
                    for a in pool.everyone},
        )


class BatchReader:
    """Reads everything the invariants need in one JSON-RPC batch, encoding the calls by hand: with ~40
    reads per step, web3's per-call overhead would dominate the test's run time."""

    RECORD = "(uint8,uint8,uint8,uint40,bytes16,bytes8)"

    def __init__(self, evm: Chain, pool: Pool) -> None:
        self.w3, self.pool = evm.w3, pool
        coin, registry = evm.coin.address, evm.registry.address
        everyone = [a.address for a in pool.everyone]
        self.calls: list[tuple[str, str, list[str], list[object], str]] = []
        for address in everyone:
            self.calls += [
                (coin, "balanceOf", ["address"], [address], "uint256"),
                (registry, "isVerified", ["address"], [address], "bool"),
                (coin, "freezeKindOf", ["address"], [address], "uint8"),
                (registry, "recordOf", ["address"], [address], self.RECORD),
                (coin, "nonces", ["address", "uint192"], [address, SEQUENCE_KEY], "uint256"),
            ]
        self.calls += [(coin, "pendingRecovery", ["address"], [w.address], "(address,uint40,bytes32)")
                       for w in pool.wallets]
        self.calls += [(registry, "walletOf", ["bytes32"], [s], "address") for s in pool.subjects]
        self.calls += [(coin, "minterAllowance", ["address"], [m], "uint256") for m in pool.minters]
        self.calls.append((coin, "totalSupply", [], [], "uint256"))
        self.calls.append((coin, "pointsFund", [], [], "(address,uint256,uint256)"))
        self.requests = [
            (
                "eth_call",
                [{"to": to, "data": "0x" + (selector(name, types) + abi_encode(types, args)).hex()}, "latest"],
            )
            for to, name, types, args, _ in self.calls
        ]
        slot = evm.accounts_slot()
        self.requests += [
            ("eth_getStorageAt",
             [coin, "0x" + account_word_key(a, slot).hex(), "latest"])
            for a in everyone
        ]

    def observe(self) -> Observation:
        responses = self.w3.provider.make_batch_request(self.requests)  # type: ignore[arg-type,attr-defined]
        assert isinstance(responses, list) and len(responses) == len(self.requests), responses
        ordered = sorted(responses, key=lambda r: r["id"])
        calls, storage = ordered[: len(self.calls)], ordered[len(self.calls):]
        results = iter(
            abi_decode([out], bytes.fromhex(r["result"][2:]))[0]
            for (_, _, _, _, out), r in zip(self.calls, calls, strict=True)
        )
        words = {account.address: AccountWord.decode(int(r["result"], 16))
                 for account, r in zip(self.pool.everyone, storage, strict=True)}
        accounts, records, key_one = {}, {}, {}
        for account in self.pool.everyone:
            balance, verified, frozen, record = next(results), next(results), next(results), next(results)
            key_one[account.address] = int(next(results))
            accounts[account.address] = (int(balance), bool(verified), FreezeKind(frozen))
            # live = a kind and no revocation reason; the chain keeps the subject key's first 16 bytes
            subject = next((s for s in self.pool.subjects if s[:16] == record[4]), bytes(record[4]))
            records[account.address] = (record[0] != Kind.NONE and record[2] == 0, subject)
        pending = {}
        for wallet in self.pool.wallets:
            successor, eta, _ = next(results)
            pending[wallet.address] = (to_checksum_address(successor), int(eta))
        wallets = {subject: to_checksum_address(next(results)) for subject in self.pool.subjects}
        allowances = {minter: int(next(results)) for minter in self.pool.minters}
        supply = int(next(results))
        _, fund_coins, reserved = next(results)
        return Observation(accounts, records, wallets, allowances, supply, pending, words, key_one,
                           (int(fund_coins), int(reserved)))


def selector(name: str, types: list[str]) -> bytes:
    return function_signature_to_4byte_selector(f"{name}({','.join(types)})")


class CityMachine(RuleBasedStateMachine):
    """Registry + coin operations against the chain and a reference model."""

    def __init__(self, evm: Chain, pool: Pool, base: BaseState) -> None:
        super().__init__()
        self.evm, self.pool = evm, pool
        self.coin, self.registry = evm.coin, evm.registry
        self.reader = BatchReader(evm, pool)
        self.snapshot = evm.rpc("evm_snapshot")
        self.now = evm.now()
        # the model starts from the state the test arranged (the records are immutable values)
        self.records = dict(base.records)
        self.bound = dict(base.bound)
        self.frozen = dict(base.frozen)  # account -> FROZEN or REPORTED_LOST
        self.pending: dict[str, tuple[str, int]] = {}  # lost wallet -> (successor, eta)
        self.paused = base.paused
        self.balances = dict(base.balances)
        self.allowances = dict(base.allowances)
        self.caps = dict(base.caps)
        self.policy = set(base.policy)
        self.supply = base.supply
        self.fund_coins, self.reserve = base.fund
        self.outside = base.supply - sum(base.balances.values()) - self.fund_coins
        # points per account: the word's base month and expiry month -> points (expired, unswept ones too)
        self.points_base = {a: b for a, (b, _) in base.points.items()}
        self.points = {a: dict(p) for a, (_, p) in base.points.items()}
        self.reserve_outside = self.reserve - sum(sum(p.values()) for p in self.points.values())
        # next sequence number per (account, nonce key): key 1 (the account word's) and one other key each
        self.sequences: dict[tuple[str, int], int] = {}
        self.last_relayed: Authorization | None = None
        self.recovered_to: set[str] = set()  # successors of the recoveries run in this step
        self.before = self.reader.observe()

    def teardown(self) -> None:
        self.evm.rpc("evm_revert", self.snapshot)

    # ------------------------------------------------------------------ model
    def _verified(self, address: str) -> bool:
        rec = self.records.get(address)
        return rec is not None and not rec.revoked and self.now < rec.expires_at

    def _live_wallet(self, subject: bytes) -> str | None:
        wallet = self.bound.get(subject)
        if wallet is None:
            return None
        rec = self.records[wallet]
        return wallet if not rec.revoked and rec.subject == subject else None

    def _wallet_of(self, subject: bytes) -> str | None:
        wallet = self.bound.get(subject)
        return wallet if wallet is not None and self.records[wallet].subject == subject else None

    def _fresh_wallet_error(self, wallet: str) -> str | None:
        rec = self.records.get(wallet)
        if rec is None:
            return None
        if not rec.revoked:
            return "IdentityRegistryWalletAlreadyAttested"
        if rec.reason is RevocationReason.REBOUND:
            return "IdentityRegistryWalletRetired"
        return None

    def _screen(self, sender: str | None, recipient: str | None, value: int) -> SkipReason:
        from_kind = to_kind = Kind.NONE
        to_level = AssuranceLevel.NONE
        if sender is not None:
            if not self._verified(sender):
                return SkipReason.SENDER_NOT_VERIFIED
            if sender in self.frozen:
                return SkipReason.SENDER_FROZEN
            from_kind = self.records[sender].kind
        if recipient is not None:
            if not self._verified(recipient):
                return SkipReason.RECIPIENT_NOT_VERIFIED
            if recipient in self.frozen:
                return SkipReason.RECIPIENT_FROZEN
            to_kind, to_level = self.records[recipient].kind, self.records[recipient].level
        if (from_kind, to_kind) not in self.policy:
            return SkipReason.TRANSFER_NOT_ALLOWED
        if sender is not None:
            coins, held = self.balances[sender], sum(self.points[sender].values())
            if held == 0 and coins < value:
                return SkipReason.INSUFFICIENT_BALANCE
            if held and coins < value - self._points_used(sender, recipient, value):
                # short of coins: would the points (expired or not for this recipient) have covered it?
                if coins + held < value:
                    return SkipReason.INSUFFICIENT_BALANCE
                if (from_kind, to_kind) == (Kind.RESIDENT, Kind.MERCHANT):
                    return SkipReason.POINTS_EXPIRED
                return SkipReason.POINTS_NOT_TRANSFERABLE
        if to_kind is Kind.RESIDENT and sender != recipient and self._over_cap(recipient, to_level, value):
            return SkipReason.BALANCE_CAP_EXCEEDED
        return SkipReason.NONE

    def _month(self) -> int:
        return month_of(self.now)

    def _month_uncertain(self) -> bool:
        """Whether the next block may fall in another JST month than the model's clock (the rule is skipped)."""
        return month_of(self.now) != month_of(self.now + 30)

    def _live_points(self, account: str) -> int:
        return sum(amount for month, amount in self.points[account].items() if month >= self._month())

    def _points_used(self, sender: str | None, recipient: str | None, value: int) -> int:
        """Points a payment spends: a resident paying a merchant, points first; nobody else spends any."""
        if sender is None or recipient is None:
            return 0
        kinds = (self.records[sender].kind, self.records[recipient].kind)
        return min(self._live_points(sender), value) if kinds == (Kind.RESIDENT, Kind.MERCHANT) else 0

    def _pay(self, sender: str, recipient: str, value: int) -> None:
        """Apply a payment the model let through: points earliest expiry first, then coins; the fund pays the
        points' part, so the recipient gets ``value`` coins."""
        used = remaining = self._points_used(sender, recipient, value)
        for month in sorted(m for m in self.points[sender] if m >= self._month()):
            take = min(self.points[sender][month], remaining)
            self.points[sender][month] -= take
            remaining -= take
            if not self.points[sender][month]:
                del self.points[sender][month]
        assert remaining == 0
        self.fund_coins -= used
        self.reserve -= used
        self.balances[sender] -= value - used
        self.balances[recipient] += value

    def _sweep(self, account: str) -> int:
        """The contract's normalisation of ``account`` to the current month: expired points back to the fund."""
        month = self._month()
        expired = sum(amount for m, amount in self.points[account].items() if m < month)
        self.points[account] = {m: a for m, a in self.points[account].items() if m >= month}
        self.reserve -= expired
        self.points_base[account] = month
        return expired

    def _over_cap(self, account: str | None, level: AssuranceLevel, value: int) -> bool:
        assert account is not None
        cap = self.caps.get(level, 0)
        return self.balances[account] + value > cap

    # ------------------------------------------------------------------ chain
    def _outcome(self, call: Call, sender: str) -> str | None:
        """Send ``call``; None when it went through, else the decoded custom error's name."""
        self.now = self.evm.now()
        try:
            self.evm.send(call, sender)
        except ContractLogicError as exc:
            return exc.name
        return None

    def _check(self, call: Call, sender: str, expected: str | None) -> bool:
        actual = self._outcome(call, sender)
        assert actual == expected, f"chain said {actual}, the model expected {expected}"
        return actual is None

    # ------------------------------------------------------------------ choosing
    def _pick(self, data: st.DataObject, likely: list[int], count: int | None = None) -> int:
        """Mostly an index the model expects to work (so that state actually moves), sometimes any of
        ``count`` (default: every pool account), to exercise the refusals."""
        if likely and data.draw(st.integers(0, 3), label="likely") > 0:
            return data.draw(st.sampled_from(likely))
        return data.draw(st.integers(0, (count or len(self.pool.everyone)) - 1))

    def _fresh_wallets(self) -> list[int]:
        return [i for i, w in enumerate(self.pool.wallets) if self._fresh_wallet_error(w.address) is None]

    def _live_wallets(self) -> list[int]:
        return [
            i
            for i, w in enumerate(self.pool.wallets)
            if w.address in self.records and not self.records[w.address].revoked
        ]

    def _subjects(self, bound: bool) -> list[int]:
        return [i for i, s in enumerate(self.pool.subjects) if (self._live_wallet(s) is not None) == bound]

    # ------------------------------------------------------------------ registry rules
    @rule(data=st.data(), level=st.sampled_from([CARD, RESIDENT_OF_CITY]), short=st.booleans())
    def attest(self, data: st.DataObject, level: AssuranceLevel, short: bool) -> None:
        w = self._pick(data, self._fresh_wallets(), WALLETS)
        s = self._pick(data, self._subjects(bound=False), SUBJECTS)
        wallet, subject = self.pool.wallets[w].address, self.pool.subjects[s]
        self.now = self.evm.now()
        expires = self.now + (SHORT if short else LONG)
        expected = self._fresh_wallet_error(wallet)
        if expected is None and self._live_wallet(subject) is not None:
            expected = "IdentityRegistrySubjectAlreadyBound"
        call = self.registry.attest_call(wallet, subject, level, expires, keccak(text=f"evidence-{w}-{s}"))
        if self._check(call, self.evm.operator, expected):
            self.records[wallet] = Rec(Kind.RESIDENT, level, subject, expires)
            self.bound[subject] = wallet

    @rule(data=st.data())
    def revoke(self, data: st.DataObject) -> None:
        wallet = self.pool.wallets[self._pick(data, self._live_wallets(), WALLETS)].address
        rec = self.records.get(wallet)
        expected = None if rec is not None and not rec.revoked else "IdentityRegistryNotAttested"
        if self._check(self.registry.revoke_call(wallet), self.evm.operator, expected):
            assert rec is not None
            self.records[wallet] = replace(rec, revoked=True, reason=RevocationReason.REVOKED)

    @rule(data=st.data(), level=st.sampled_from([CARD, RESIDENT_OF_CITY]), short=st.booleans())
    def renew(self, data: st.DataObject, level: AssuranceLevel, short: bool) -> None:
        wallet = self.pool.wallets[self._pick(data, self._live_wallets(), WALLETS)].address
        rec = self.records.get(wallet)
        self.now = self.evm.now()
        expires = self.now + (SHORT if short else LONG)
        expected = None if rec is not None and not rec.revoked else "IdentityRegistryNotAttested"
        if self._check(self.registry.renew_call(wallet, level, expires, bytes(32)), self.evm.operator, expected):
            assert rec is not None
            self.records[wallet] = replace(rec, level=level, expires_at=expires)

    @rule()
    def advance_time(self) -> None:
        self.evm.advance(2_000)
        self.now = self.evm.now()

    # ------------------------------------------------------------------ coin rules
    @rule(a=st.integers(0, WALLETS + 1), kind=st.sampled_from(FreezeKind))
    def freeze(self, a: int, kind: FreezeKind) -> None:
        account = self.pool.everyone[a].address
        call = {FreezeKind.NONE: self.coin.unfreeze_call, FreezeKind.FROZEN: self.coin.freeze_call,
                FreezeKind.REPORTED_LOST: self.coin.freeze_as_lost_call}[kind](account)
        self._check(call, self.evm.operator, None)
        if kind is FreezeKind.NONE:
            self.frozen.pop(account, None)
        else:
            self.frozen[account] = kind

    @rule()
    def toggle_pause(self) -> None:
        call = self.coin.unpause_call() if self.paused else self.coin.pause_call()
        self._check(call, self.evm.admin, None)
        self.paused = not self.paused

    @rule(
        f=st.sampled_from([Kind.NONE, Kind.RESIDENT, Kind.MERCHANT]), t=st.sampled_from([Kind.RESIDENT, Kind.MERCHANT])
    )
    def toggle_rule(self, f: Kind, t: Kind) -> None:
        allowed = (f, t) not in self.policy
        self._check(self.coin.set_transfer_rule_call(f, t, allowed), self.evm.admin, None)
        (self.policy.add if allowed else self.policy.discard)((f, t))

    @rule(level=st.sampled_from([CARD, RESIDENT_OF_CITY]), cap=st.sampled_from([50_000, 100_000, 2_000_000]))
    def set_cap(self, level: AssuranceLevel, cap: int) -> None:
        self._check(self.coin.set_balance_cap_call(level, cap), self.evm.admin, None)
        self.caps[level] = cap

    def _usable(self, kinds: tuple[Kind, ...] = (Kind.RESIDENT, Kind.MERCHANT, Kind.CITY)) -> list[int]:
        """Pool indices the model expects to pass the coin's checks: verified, not frozen, of these kinds."""
        return [
            i
            for i, a in enumerate(self.pool.everyone)
            if self._verified(a.address) and a.address not in self.frozen and self.records[a.address].kind in kinds
        ]

    def _amount(self, data: st.DataObject, balance: int) -> int:
        """Part of ``balance`` (usually affordable) or anything up to over the cards' cap."""
        return data.draw(st.one_of(st.integers(0, max(balance, 0)), st.integers(0, 150_000)), label="amount")

    @rule(m=st.integers(0, 1), data=st.data())
    def mint(self, m: int, data: st.DataObject) -> None:
        minter = self.pool.minters[m]
        to = self.pool.everyone[self._pick(data, self._usable((Kind.RESIDENT,)))].address
        amount = data.draw(st.one_of(st.integers(1, 5_000), st.integers(40_000, 250_000)), label="amount")
        self.now = self.evm.now()
        expected: str | None
        if amount > self.allowances[minter]:
            expected = "RegionalCoinMinterAllowanceExceeded"
        elif self.paused:
            expected = "EnforcedPause"
        else:
            expected = ERROR_OF_SKIP.get(self._screen(None, to, amount))
        if self._check(self.coin.mint_call(to, amount), minter, expected):
            self.allowances[minter] -= amount
            self.balances[to] += amount
            self.supply += amount

    def _payment(self, data: st.DataObject) -> tuple[int, str, int]:
        def means(i: int) -> int:
            address = self.pool.everyone[i].address
            return self.balances[address] + sum(self.points[address].values())

        payers = [i for i in self._usable() if means(i) > 0]
        f = self._pick(data, payers)
        to = self.pool.everyone[self._pick(data, self._usable())].address
        return f, to, self._amount(data, means(f))

    @rule(data=st.data())
    def transfer(self, data: st.DataObject) -> None:
        f, to, amount = self._payment(data)
        sender = self.pool.everyone[f].address
        self.now = self.evm.now()
        if self._month_uncertain():
            return
        expected = "EnforcedPause" if self.paused else ERROR_OF_SKIP.get(self._screen(sender, to, amount))
        if self._check(self.coin.transfer_call(to, amount), sender, expected):
            self._pay(sender, to, amount)

    @rule(data=st.data())
    def relay(self, data: st.DataObject) -> None:
        f, to, amount = self._payment(data)
        payer = self.pool.everyone[f]
        self.now = self.evm.now()
        if self._month_uncertain():
            return
        key = data.draw(st.sampled_from([SEQUENCE_KEY, f + 2]), label="nonce key")
        nonce = make_nonce(key, self.sequences.get((payer.address, key), 0))
        auth = self.coin.sign_authorization(payer, to, amount, nonce=nonce, valid_before=self.now + 3_600)
        if self.paused:
            self._check(self.coin.batch_call([auth]), self.evm.operator, "EnforcedPause")
            return
        expected = self._screen(payer.address, to, amount)
        receipt = self.evm.send(self.coin.batch_call([auth]), self.evm.operator)
        (result,) = self.coin.batch_outcomes(receipt, [auth])
        assert result.reason is expected, f"batch said {result.reason.name}, the model expected {expected.name}"
        if result.relayed:
            self.sequences[(payer.address, key)] = self.sequences.get((payer.address, key), 0) + 1
            self._pay(payer.address, to, amount)
            self.last_relayed = auth

    # ------------------------------------------------------------------ points rules
    @rule(data=st.data(), months_ahead=st.integers(-1, 7),
          amount=st.one_of(st.integers(1, 5_000), st.integers(200_000, 300_000)))
    def credit_points(self, data: st.DataObject, months_ahead: int, amount: int) -> None:
        to = self.pool.everyone[self._pick(data, self._usable((Kind.RESIDENT,)))].address
        minter = self.pool.minters[1]  # the benefits key, the only points issuer
        self.now = self.evm.now()
        if self._month_uncertain():
            return
        month = self._month()
        expiry = month + months_ahead
        rec = self.records.get(to)
        expected: str | None = None
        if self.paused:
            expected = "EnforcedPause"
        elif not 0 <= months_ahead < 7:
            expected = "RegionalCoinPointsExpiryOutOfRange"
        elif not self._verified(to):
            expected = "RegionalCoinUnverifiedAccount"
        elif to in self.frozen:
            expected = "RegionalCoinFrozenAccount"
        elif rec is None or rec.kind is not Kind.RESIDENT:
            expected = "RegionalCoinPointsRecipientNotResident"
        elif amount > self.allowances[minter]:
            expected = "RegionalCoinMinterAllowanceExceeded"
        elif self.points[to].get(expiry, 0) + amount > BUCKET_MAX:
            expected = "RegionalCoinPointsBucketFull"
        if self._check(self.coin.credit_points_call(to, amount, expiry), minter, expected):
            self.allowances[minter] -= amount
            self._sweep(to)
            self.points[to][expiry] = self.points[to].get(expiry, 0) + amount
            minted = max(0, amount - (self.fund_coins - self.reserve))
            self.fund_coins += minted
            self.supply += minted
            self.reserve += amount

    @rule(data=st.data())
    def sweep_points(self, data: st.DataObject) -> None:
        chosen = data.draw(st.lists(st.sampled_from(self.pool.everyone), max_size=4), label="accounts")
        self.now = self.evm.now()
        if self._month_uncertain():
            return
        accounts = [a.address for a in chosen]
        if self.paused:
            self._check(self.coin.sweep_expired_points_call(accounts), self.pool.merchant.address, "EnforcedPause")
            return
        receipt = self.evm.send(self.coin.sweep_expired_points_call(accounts), self.pool.merchant.address)
        expected = []
        for account in dict.fromkeys(accounts):  # an account listed twice is swept once
            if any(m < self._month() for m in self.points[account]):
                expected.append((account, self._sweep(account)))
        events = [(e["args"]["account"], e["args"]["amount"]) for e in self.coin.events(receipt, "PointsExpired")]
        assert sorted(events) == sorted(expected)
        again = self.evm.send(self.coin.sweep_expired_points_call(accounts), self.pool.merchant.address)
        assert self.coin.events(again, "PointsExpired") == []  # a second sweep moves nothing

    @rule(months=st.integers(1, 8))
    def advance_month(self, months: int) -> None:
        """Jump to just after the start of a later JST month (points expire at month ends)."""
        self.evm.mine_at(month_start(month_of(self.evm.now()) + months) + 60)
        self.now = self.evm.now()

    @rule(data=st.data())
    def relay_ahead(self, data: st.DataObject) -> None:
        """A key-1 payment one number past the account's next: skipped (nonce before balance or identity)."""
        f, to, amount = self._payment(data)
        payer = self.pool.everyone[f]
        self.now = self.evm.now()
        nonce = make_nonce(SEQUENCE_KEY, self.sequences.get((payer.address, SEQUENCE_KEY), 0) + 1)
        auth = self.coin.sign_authorization(payer, to, amount, nonce=nonce, valid_before=self.now + 3_600)
        if self.paused:
            self._check(self.coin.batch_call([auth]), self.evm.operator, "EnforcedPause")
            return
        receipt = self.evm.send(self.coin.batch_call([auth]), self.evm.operator)
        assert [r.reason for r in self.coin.batch_outcomes(receipt, [auth])] == [SkipReason.NONCE_AHEAD]

    @rule()
    def replay(self) -> None:
        if self.last_relayed is None:
            return
        auth = self.last_relayed.with_ref(keccak(text="replay"))
        if self.paused:
            self._check(self.coin.batch_call([auth]), self.evm.operator, "EnforcedPause")
            return
        self.now = self.evm.now()
        # the validity window is checked before the nonce
        expected = SkipReason.EXPIRED if self.now >= auth.valid_before else SkipReason.NONCE_USED
        receipt = self.evm.send(self.coin.batch_call([auth]), self.evm.operator)
        assert [r.reason for r in self.coin.batch_outcomes(receipt, [auth])] == [expected]

    @rule(data=st.data())
    def redeem(self, data: st.DataObject) -> None:
        holder = self.pool.everyone[self._pick(data, self._usable((Kind.MERCHANT, Kind.CITY)))].address
        amount = self._amount(data, self.balances[holder])
        self.now = self.evm.now()
        expected = "EnforcedPause" if self.paused else ERROR_OF_SKIP.get(self._screen(holder, None, amount))
        if self._check(self.coin.redeem_call(amount, keccak(text="payout")), holder, expected):
            self.balances[holder] -= amount
            self.supply -= amount

    def _pending_wallets(self) -> list[int]:
        return [i for i, w in enumerate(self.pool.wallets) if w.address in self.pending]

    @rule(data=st.data())
    def request_recovery(self, data: st.DataObject) -> None:
        lost = self.pool.wallets[self._pick(data, self._live_wallets(), WALLETS)].address
        successor = self.pool.wallets[self._pick(data, self._fresh_wallets(), WALLETS)].address
        rec = self.records.get(lost)
        expected: str | None
        if lost in self.pending:
            expected = "RegionalCoinRecoveryPending"
        elif self.frozen.get(lost) is FreezeKind.FROZEN:
            expected = "RegionalCoinFrozenAccount"
        elif rec is None or rec.revoked:
            expected = "IdentityRegistryNotAttested"
        else:
            expected = self._fresh_wallet_error(successor)
        call = self.coin.request_recovery_call(lost, successor, keccak(text=f"evidence-{successor}"))
        if self._check(call, self.evm.operator, expected):
            self.now = self.evm.now()  # the block the request was mined in
            self.pending[lost] = (successor, self.now + RECOVERY_DELAY)

    @rule(data=st.data(), by=st.sampled_from(["lost", "freezer", "stranger"]))
    def cancel_recovery(self, data: st.DataObject, by: str) -> None:
        lost = self.pool.wallets[self._pick(data, self._pending_wallets(), WALLETS)].address
        sender = {"lost": lost, "freezer": self.evm.operator, "stranger": self.pool.merchant.address}[by]
        expected: str | None = None
        if by == "stranger":
            expected = "RegionalCoinRecoveryCancelNotAllowed"
        elif lost not in self.pending:
            expected = "RegionalCoinNoPendingRecovery"
        if self._check(self.coin.cancel_recovery_call(lost), sender, expected):
            del self.pending[lost]

    @rule(data=st.data())
    def execute_recovery(self, data: st.DataObject) -> None:
        lost = self.pool.wallets[self._pick(data, self._pending_wallets(), WALLETS)].address
        self.now = self.evm.now()
        successor, eta = self.pending.get(lost, (ZERO_ADDRESS, 0))
        rec = self.records.get(lost)
        amount = self.balances[lost]
        if lost in self.pending and not self.paused and abs(self.now - eta) <= 5:
            return  # too close to the eta to know which block runs it; the unit tests pin the edge
        expected: str | None = None
        if self.paused:
            expected = "EnforcedPause"
        elif lost not in self.pending:
            expected = "RegionalCoinNoPendingRecovery"
        elif self.now < eta:
            expected = "RegionalCoinRecoveryNotDue"
        elif self.frozen.get(lost) is FreezeKind.FROZEN:
            expected = "RegionalCoinFrozenAccount"
        elif rec is None or rec.revoked:
            expected = "IdentityRegistryNotAttested"
        elif self._fresh_wallet_error(successor) is not None:
            expected = self._fresh_wallet_error(successor)
        elif self.now >= rec.expires_at:
            expected = "RegionalCoinUnverifiedAccount"
        elif successor in self.frozen:
            expected = "RegionalCoinFrozenAccount"
        elif rec.kind is Kind.RESIDENT and self._over_cap(successor, rec.level, amount):
            expected = "RegionalCoinBalanceCapExceeded"
        elif self._month_uncertain():
            return
        elif any(m >= self._month() and self.points[successor].get(m, 0) + a > BUCKET_MAX
                 for m, a in self.points[lost].items()):
            expected = "RegionalCoinPointsBucketFull"
        if self._check(self.coin.execute_recovery_call(lost), self.pool.merchant.address, expected):
            assert rec is not None
            del self.pending[lost]
            self.records[lost] = replace(rec, revoked=True, reason=RevocationReason.REBOUND)
            self.records[successor] = Rec(rec.kind, rec.level, rec.subject, rec.expires_at)
            self.bound[rec.subject] = successor
            self.balances[lost] = 0
            self.balances[successor] += amount
            self.recovered_to.add(successor)
            if self.points[lost]:  # unexpired points move with their months; expired ones go to the fund
                self._sweep(lost)
                self._sweep(successor)
                for month, points in self.points[lost].items():
                    self.points[successor][month] = self.points[successor].get(month, 0) + points
                self.points[lost] = {}

    # ------------------------------------------------------------------ invariants
    @invariant()
    def chain_keeps_the_invariants(self) -> None:
        """One observation per step; every invariant below reads it."""
        after = self.reader.observe()
        self._supply_is_the_sum_of_balances(after)
        self._only_verified_unfrozen_wallets_gain(after)
        self._minter_allowances_never_go_below_zero(after)
        self._one_subject_has_at_most_one_live_wallet(after)
        self._identities_match_the_model(after)
        self._account_words_match_the_model(after)
        self._points_are_backed_by_the_fund(after)
        self.before = after

    def _supply_is_the_sum_of_balances(self, after: Observation) -> None:
        # coins held outside the pool (by nobody, on a fresh deployment) never move during an example
        assert after.supply == self.outside + after.fund[0] + sum(balance for balance, _, _ in after.accounts.values())
        assert after.supply == self.supply
        for address, (balance, _, _) in after.accounts.items():
            assert balance == self.balances[address], f"{address}: chain {balance}, model {self.balances[address]}"

    def _only_verified_unfrozen_wallets_gain(self, after: Observation) -> None:
        recovered_to, self.recovered_to = self.recovered_to, set()
        for address, (balance, verified, frozen) in after.accounts.items():
            before_balance, was_verified, was_frozen = self.before.accounts[address]
            if address in recovered_to:  # a recovery's successor is bound and paid in the same transaction
                assert verified and frozen is FreezeKind.NONE, f"{address} recovered into while unverified or frozen"
            elif balance > before_balance:
                assert was_verified and was_frozen is FreezeKind.NONE, f"{address} gained coins unverified or frozen"

    def _account_words_match_the_model(self, after: Observation) -> None:
        """The raw storage: coins, the key-1 sequence (never reset: not by revocation, re-attestation or
        recovery) and the freeze where the layout puts them, every other bit zero; the views agree."""
        for address, word in after.words.items():
            sequence = self.sequences.get((address, SEQUENCE_KEY), 0)
            assert word.coins == self.balances[address], address
            assert word.sequence == sequence and after.key_one[address] == SEQUENCE_KEY << 64 | sequence, address
            assert word.freeze == self.frozen.get(address, FreezeKind.NONE), address
            assert word.rest == 0, f"{address}: reserved bits {word.rest:#x}"
            points = self.points[address]
            if points or self.points_base[address]:  # a word never given points keeps its base at zero
                assert word.points_base == self.points_base[address], address
            assert word.points_by_month() == points, f"{address}: chain {word.points_by_month()}, model {points}"

    def _points_are_backed_by_the_fund(self, after: Observation) -> None:
        """The fund's reserve is every account's points (expired, unswept ones included) and never more than its
        coins; the fund's coins fell by exactly the points spent (the model's fund follows every payment)."""
        coins, reserved = after.fund
        assert (coins, reserved) == (self.fund_coins, self.reserve)
        assert reserved == sum(sum(p.values()) for p in self.points.values()) + self.reserve_outside
        assert reserved <= coins

    def _minter_allowances_never_go_below_zero(self, after: Observation) -> None:
        for minter, allowance in after.allowances.items():
            assert allowance >= 0 and allowance == self.allowances[minter]

    def _one_subject_has_at_most_one_live_wallet(self, after: Observation) -> None:
        live: dict[bytes, list[str]] = {}
        for address, (is_live, subject) in after.records.items():
            if is_live:
                live.setdefault(subject, []).append(address)
        for subject, wallets in live.items():
            assert len(wallets) == 1, f"subject {subject.hex()} is bound to {wallets}"
            if subject in after.wallets:
                assert after.wallets[subject] == wallets[0]

    def _identities_match_the_model(self, after: Observation) -> None:
        for address, (is_live, _) in after.records.items():
            model = self.records.get(address)
            assert is_live == (model is not None and not model.revoked), address
            _, verified, frozen = after.accounts[address]
            assert verified == self._verified(address), address
            assert frozen == self.frozen.get(address, FreezeKind.NONE), address
        for wallet, (successor, eta) in after.pending.items():
            assert (successor, eta) == self.pending.get(wallet, (ZERO_ADDRESS, 0)), wallet


def test_random_operation_sequences_keep_the_invariants(evm: Chain) -> None:
    def account(label: str) -> LocalAccount:
        return Account.from_key(keccak(text=f"machi-property-{label}"))

    pool = Pool(
        wallets=[account(f"wallet-{i}") for i in range(WALLETS)],
        merchant=account("merchant"),
        city=account("city"),
        subjects=[keccak(text=f"machi-property-subject-{i}") for i in range(SUBJECTS)],
        minters=[evm.topup, evm.benefits],
    )
    # the world every example starts from: three funded residents (two with points), a merchant and a city
    # account with coins, three unattested wallets, a free subject, and a benefits minter with a small budget
    expires = evm.now() + 100 * 365 * 24 * 3600
    registry, coin = evm.registry, evm.coin
    w0, w1, w2 = (w.address for w in pool.wallets[:3])
    for wallet, subject, level in zip((w0, w1, w2), pool.subjects[:3], (CARD, RESIDENT_OF_CITY, CARD), strict=True):
        evm.send(registry.attest_call(wallet, subject, level, expires, bytes(32)), evm.operator)
    evm.send(registry.register_merchant_call(pool.merchant.address, keccak(text="m"), expires, bytes(32)), evm.operator)
    evm.send(registry.register_city_account_call(pool.city.address, keccak(text="c"), expires, bytes(32)), evm.operator)
    for wallet, amount in ((w0, 60_000), (w1, 400_000), (w2, 10_000)):
        evm.send(coin.mint_call(wallet, amount), evm.topup)
    evm.send(coin.transfer_call(pool.merchant.address, 5_000), w1)
    evm.send(coin.transfer_call(pool.city.address, 1_000), w1)
    month = month_of(evm.now())
    for wallet, points, expiry in ((w0, 3_000, month + 1), (w2, 500, month), (w2, 700, month + 6)):
        evm.send(coin.credit_points_call(wallet, points, expiry), evm.benefits)
    evm.send(coin.configure_minter_call(evm.benefits, BENEFITS_BUDGET), evm.admin)
    evm.send(coin.set_recovery_delay_call(RECOVERY_DELAY), evm.admin)
    for holder in pool.everyone:
        evm.impersonate(holder.address)  # funded with gas inside the base state every example reverts to

    evm.accounts_slot()  # found once, outside the examples (it makes and funds a probe resident)
    base = BaseState.read(evm, pool)
    run_state_machine_as_test(
        lambda: CityMachine(evm, pool, base),
        settings=settings(
            max_examples=30,
            stateful_step_count=15,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
