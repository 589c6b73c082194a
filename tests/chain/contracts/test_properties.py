"""Stateful property tests: random sequences of registry and coin operations on the real chain.

A small reference model predicts every operation's outcome (success, the custom error, or the batch
skip reason); the chain must agree. After every step the invariants are checked against the chain:

* ``totalSupply`` equals the sum of all balances (every holder is in the account pool);
* no wallet gains a balance unless it was verified and not frozen;
* minter allowances never go below zero, and equal the budget minus what was minted;
* one subject never maps to two live wallets;
* balances and identity statuses equal the model's.

Each example runs between its own ``evm_snapshot`` / ``evm_revert``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from chain.contracts import AssuranceLevel, Authorization, Call, Kind, RevocationReason, SkipReason, make_nonce
from chain.errors import ContractLogicError
from eth_account import Account
from tests.chain.contracts.conftest import CARD, RESIDENT_OF_CITY, Chain

WALLETS = 5  # resident wallets W0..W4
SUBJECTS = 3
SHORT, LONG = 1_000, 10 * 365 * 24 * 3600  # expiry offsets; time advances in steps of 2,000 s
BENEFITS_BUDGET = 300_000

ERROR_OF_SKIP = {
    SkipReason.SENDER_NOT_VERIFIED: "RegionalCoinUnverifiedAccount",
    SkipReason.RECIPIENT_NOT_VERIFIED: "RegionalCoinUnverifiedAccount",
    SkipReason.SENDER_FROZEN: "RegionalCoinFrozenAccount",
    SkipReason.RECIPIENT_FROZEN: "RegionalCoinFrozenAccount",
    SkipReason.TRANSFER_NOT_ALLOWED: "RegionalCoinTransferNotAllowed",
    SkipReason.INSUFFICIENT_BALANCE: "ERC20InsufficientBalance",
    SkipReason.BALANCE_CAP_EXCEEDED: "RegionalCoinBalanceCapExceeded",
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


class CityMachine(RuleBasedStateMachine):
    """Registry + coin operations against the chain and a reference model."""

    def __init__(self, evm: Chain, pool: Pool) -> None:
        super().__init__()
        self.evm, self.pool = evm, pool
        self.coin, self.registry = evm.coin, evm.registry
        self.snapshot = evm.rpc("evm_snapshot")
        self.now = evm.now()
        self.records: dict[str, Rec] = {}
        for account, kind in ((pool.merchant, Kind.MERCHANT), (pool.city, Kind.CITY)):
            record = self.registry.record_of(account.address)
            assert record.kind is kind
            self.records[account.address] = Rec(kind, AssuranceLevel.NONE, record.subject_key, record.expires_at)
        self.bound = {r.subject: a for a, r in self.records.items()}  # the registry's subject -> wallet map
        self.frozen: set[str] = set()
        self.paused = False
        self.balances = {a.address: 0 for a in pool.everyone}
        self.allowances = {m: self.coin.minter_allowance(m) for m in pool.minters}
        self.caps = {CARD: self.coin.balance_cap(CARD), RESIDENT_OF_CITY: self.coin.balance_cap(RESIDENT_OF_CITY)}
        self.policy = {(f, t) for f, t in itertools.product(Kind, Kind) if self.coin.is_transfer_allowed(f, t)}
        self.sequences = {a.address: 0 for a in pool.everyone}  # each account signs with one nonce key
        self.last_relayed: Authorization | None = None
        self.minted = 0
        self.burnt = 0
        self.supply0 = self.coin.total_supply()
        self.before = self._observe()

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
        if sender is not None and self.balances[sender] < value:
            return SkipReason.INSUFFICIENT_BALANCE
        if to_kind is Kind.RESIDENT and sender != recipient and self._over_cap(recipient, to_level, value):
            return SkipReason.BALANCE_CAP_EXCEEDED
        return SkipReason.NONE

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

    def _observe(self) -> dict[str, tuple[int, bool, bool]]:
        return {
            a.address: (self.coin.balance_of(a.address), self.registry.is_verified(a.address),
                        self.coin.is_frozen(a.address))
            for a in self.pool.everyone
        }  # fmt: skip

    # ------------------------------------------------------------------ registry rules
    @rule(w=st.integers(0, WALLETS - 1), s=st.integers(0, SUBJECTS - 1), level=st.sampled_from([CARD, RESIDENT_OF_CITY]),
          short=st.booleans())  # fmt: skip
    def attest(self, w: int, s: int, level: AssuranceLevel, short: bool) -> None:
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

    @rule(w=st.integers(0, WALLETS - 1), reason=st.sampled_from(sorted(
        [RevocationReason.MOVED_OUT, RevocationReason.DECEASED, RevocationReason.CARD_REVOKED, RevocationReason.REQUESTED])))  # fmt: skip
    def revoke(self, w: int, reason: RevocationReason) -> None:
        wallet = self.pool.wallets[w].address
        rec = self.records.get(wallet)
        expected = None if rec is not None and not rec.revoked else "IdentityRegistryNotAttested"
        if self._check(self.registry.revoke_call(wallet, reason), self.evm.operator, expected):
            assert rec is not None
            self.records[wallet] = replace(rec, revoked=True, reason=reason)

    @rule(w=st.integers(0, WALLETS - 1), level=st.sampled_from([CARD, RESIDENT_OF_CITY]), short=st.booleans())
    def renew(self, w: int, level: AssuranceLevel, short: bool) -> None:
        wallet = self.pool.wallets[w].address
        rec = self.records.get(wallet)
        self.now = self.evm.now()
        expires = self.now + (SHORT if short else LONG)
        expected = None if rec is not None and not rec.revoked else "IdentityRegistryNotAttested"
        if self._check(self.registry.renew_call(wallet, level, expires, bytes(32)), self.evm.operator, expected):
            assert rec is not None
            self.records[wallet] = replace(rec, level=level, expires_at=expires)

    @rule(s=st.integers(0, SUBJECTS - 1), w=st.integers(0, WALLETS - 1))
    def rebind(self, s: int, w: int) -> None:
        subject, new = self.pool.subjects[s], self.pool.wallets[w].address
        old = self._live_wallet(subject)
        expected = "IdentityRegistrySubjectNotBound" if old is None else self._fresh_wallet_error(new)
        if self._check(self.registry.rebind_call(subject, new, bytes(32)), self.evm.operator, expected):
            assert old is not None
            rec = self.records[old]
            self.records[old] = replace(rec, revoked=True, reason=RevocationReason.REBOUND)
            self.records[new] = Rec(rec.kind, rec.level, subject, rec.expires_at)
            self.bound[subject] = new

    @rule()
    def advance_time(self) -> None:
        self.evm.advance(2_000)
        self.now = self.evm.now()

    # ------------------------------------------------------------------ coin rules
    @rule(a=st.integers(0, WALLETS + 1), frozen=st.booleans())
    def freeze(self, a: int, frozen: bool) -> None:
        account = self.pool.everyone[a].address
        call = self.coin.freeze_call(account) if frozen else self.coin.unfreeze_call(account)
        self._check(call, self.evm.operator, None)
        (self.frozen.add if frozen else self.frozen.discard)(account)

    @rule()
    def toggle_pause(self) -> None:
        call = self.coin.unpause_call() if self.paused else self.coin.pause_call()
        self._check(call, self.evm.admin, None)
        self.paused = not self.paused

    @rule(f=st.sampled_from([Kind.NONE, Kind.RESIDENT, Kind.MERCHANT]), t=st.sampled_from([Kind.RESIDENT, Kind.MERCHANT]))
    def toggle_rule(self, f: Kind, t: Kind) -> None:
        allowed = (f, t) not in self.policy
        self._check(self.coin.set_transfer_rule_call(f, t, allowed), self.evm.admin, None)
        (self.policy.add if allowed else self.policy.discard)((f, t))

    @rule(level=st.sampled_from([CARD, RESIDENT_OF_CITY]), cap=st.sampled_from([50_000, 100_000, 2_000_000]))
    def set_cap(self, level: AssuranceLevel, cap: int) -> None:
        self._check(self.coin.set_balance_cap_call(level, cap), self.evm.admin, None)
        self.caps[level] = cap

    @rule(m=st.integers(0, 1), a=st.integers(0, WALLETS + 1),
          amount=st.one_of(st.integers(1, 5_000), st.integers(40_000, 250_000)))  # fmt: skip
    def mint(self, m: int, a: int, amount: int) -> None:
        minter, to = self.pool.minters[m], self.pool.everyone[a].address
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
            self.minted += amount

    @rule(f=st.integers(0, WALLETS + 1), t=st.integers(0, WALLETS + 1),
          amount=st.one_of(st.integers(0, 2_000), st.integers(10_000, 120_000)))  # fmt: skip
    def transfer(self, f: int, t: int, amount: int) -> None:
        sender, to = self.pool.everyone[f].address, self.pool.everyone[t].address
        self.now = self.evm.now()
        expected = "EnforcedPause" if self.paused else ERROR_OF_SKIP.get(self._screen(sender, to, amount))
        if self._check(self.coin.transfer_call(to, amount), sender, expected):
            self.balances[sender] -= amount
            self.balances[to] += amount

    @rule(f=st.integers(0, WALLETS + 1), t=st.integers(0, WALLETS + 1),
          amount=st.one_of(st.integers(0, 2_000), st.integers(10_000, 120_000)))  # fmt: skip
    def relay(self, f: int, t: int, amount: int) -> None:
        payer, to = self.pool.everyone[f], self.pool.everyone[t].address
        self.now = self.evm.now()
        nonce = make_nonce(f + 1, self.sequences[payer.address])
        auth = self.coin.sign_authorization(payer, to, amount, nonce=nonce, valid_before=self.now + 3_600)
        if self.paused:
            self._check(self.coin.batch_call([auth]), self.evm.operator, "EnforcedPause")
            return
        expected = self._screen(payer.address, to, amount)
        self.now = self.evm.now()
        receipt = self.evm.send(self.coin.batch_call([auth]), self.evm.operator)
        (result,) = self.coin.batch_outcomes(receipt, [auth])
        assert result.reason is expected, f"batch said {result.reason.name}, the model expected {expected.name}"
        if result.relayed:
            self.sequences[payer.address] += 1
            self.balances[payer.address] -= amount
            self.balances[to] += amount
            self.last_relayed = auth

    @rule()
    def replay(self) -> None:
        if self.last_relayed is None:
            return
        auth = self.last_relayed.with_ref(keccak(text="replay"))
        if self.paused:
            self._check(self.coin.batch_call([auth]), self.evm.operator, "EnforcedPause")
            return
        receipt = self.evm.send(self.coin.batch_call([auth]), self.evm.operator)
        assert [r.reason for r in self.coin.batch_outcomes(receipt, [auth])] == [SkipReason.NONCE_USED]

    @rule(a=st.integers(0, WALLETS + 1), amount=st.integers(1, 30_000))
    def redeem(self, a: int, amount: int) -> None:
        holder = self.pool.everyone[a].address
        self.now = self.evm.now()
        expected = "EnforcedPause" if self.paused else ERROR_OF_SKIP.get(self._screen(holder, None, amount))
        if self._check(self.coin.redeem_call(amount, keccak(text="payout")), holder, expected):
            self.balances[holder] -= amount
            self.burnt += amount

    @rule(w=st.integers(0, WALLETS - 1))
    def recover(self, w: int) -> None:
        lost = self.pool.wallets[w].address
        self.now = self.evm.now()
        rec = self.records.get(lost)
        current = self._wallet_of(rec.subject) if rec is not None else None
        successor = None if current == lost else current
        amount = self.balances[lost]
        expected: str | None = None
        if self.paused:
            expected = "EnforcedPause"
        elif successor is None:
            expected = "RegionalCoinNoSuccessor"
        elif not self._verified(successor):
            expected = "RegionalCoinUnverifiedAccount"
        elif successor in self.frozen:
            expected = "RegionalCoinFrozenAccount"
        elif self.records[successor].kind is Kind.RESIDENT and self._over_cap(
            successor, self.records[successor].level, amount
        ):
            expected = "RegionalCoinBalanceCapExceeded"
        if self._check(self.coin.recover_call(lost), self.evm.operator, expected):
            assert successor is not None
            self.balances[lost] = 0
            self.balances[successor] += amount

    # ------------------------------------------------------------------ invariants
    @invariant()
    def supply_is_the_sum_of_balances(self) -> None:
        supply = self.coin.total_supply()
        assert supply == sum(self.coin.balance_of(a.address) for a in self.pool.everyone) + self.supply0 * 0
        assert supply == self.supply0 + self.minted - self.burnt

    @invariant()
    def balances_match_and_only_verified_unfrozen_wallets_gain(self) -> None:
        after = self._observe()
        for address, (balance, _, _) in after.items():
            before_balance, was_verified, was_frozen = self.before[address]
            if balance > before_balance:
                assert was_verified and not was_frozen, f"{address} gained coins while unverified or frozen"
            assert balance == self.balances[address], f"{address}: chain {balance}, model {self.balances[address]}"
        self.before = after

    @invariant()
    def minter_allowances_never_go_below_zero(self) -> None:
        for minter, expected in self.allowances.items():
            allowance = self.coin.minter_allowance(minter)
            assert allowance >= 0 and allowance == expected

    @invariant()
    def one_subject_has_at_most_one_live_wallet(self) -> None:
        live: dict[bytes, list[str]] = {}
        for account in self.pool.wallets:
            record = self.registry.record_of(account.address)
            if record.live:
                live.setdefault(record.subject_key, []).append(account.address)
            model = self.records.get(account.address)
            assert record.live == (model is not None and not model.revoked)
            assert self.registry.is_verified(account.address) == self._verified(account.address)
        for subject, wallets in live.items():
            assert len(wallets) == 1, f"subject {subject.hex()} is bound to {wallets}"
            assert self.registry.wallet_of(subject) == wallets[0]


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
    expires = evm.now() + 100 * 365 * 24 * 3600
    evm.send(evm.registry.register_merchant_call(pool.merchant.address, keccak(text="m"), expires, bytes(32)), evm.operator)
    evm.send(evm.registry.register_city_account_call(pool.city.address, keccak(text="c"), expires, bytes(32)), evm.operator)
    evm.send(evm.coin.configure_minter_call(evm.benefits, BENEFITS_BUDGET), evm.admin)
    for holder in pool.everyone:
        evm.impersonate(holder.address)

    run_state_machine_as_test(
        lambda: CityMachine(evm, pool),
        settings=settings(
            max_examples=20,
            stateful_step_count=15,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
