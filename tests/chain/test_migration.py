"""Moving a city from the v1 contracts (before the account word and the one-slot record) to the current ones.

A real v1 deployment (the bytecode of commit 657d341, tests/fixtures/legacy/city_v1.json) on its own anvil
lives through a small history — payments, a freeze, a revocation with coins left behind, a suspended merchant,
a wallet recovered twice, a pending recovery, an expired record, a changed policy and cap — then is paused,
snapshotted, and applied to a fresh deployment of the current contracts by the production plan. ``verify``
must find nothing, and the new deployment must behave as the old one did, with new signatures only.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from chain.compiler import CompileResult
from chain.contracts import AssuranceLevel, Kind, RevocationReason, SkipReason, load_city, sequence_nonce
from chain.contracts.coin import FreezeKind, RegionalCoinClient
from chain.deploy import deploy
from chain.migration import (
    EXPIRED_GRACE_S,
    MigrationError,
    MigrationKeys,
    Snapshot,
    apply_snapshot,
    take_snapshot,
    verify,
)
from chain.node import LocalNode, NodeConfig, free_port
from chain.plan import PlanParams, city_plan, plan_params
from chain.rpc import connect
from tests.conftest import Keys

LEGACY = Path(__file__).resolve().parents[1] / "fixtures" / "legacy" / "city_v1.json"
YEAR = 365 * 86400
CARD, RESIDENT = AssuranceLevel.CARD_AUTHENTICATED, AssuranceLevel.RESIDENT_OF_CITY


@pytest.fixture
def node() -> Iterator[LocalNode]:
    """An anvil of its own: the test moves time."""
    node = LocalNode(NodeConfig(port=free_port(), state_dir=None, chain_id=31338))
    node.start()
    yield node
    node.stop()


class V1City:
    """The v1 registry and coin, driven through their own (v1) ABI from the dev keys (anvil's accounts)."""

    def __init__(self, w3: Web3, keys: Keys) -> None:
        self.w3, self.keys = w3, keys
        legacy = json.loads(LEGACY.read_text())
        admin = keys.deployer.address
        self.registry = self._deploy(legacy["IdentityRegistry"], admin)
        self.coin = self._deploy(legacy["RegionalCoin"], "Kaga Coin", "KAGA", self.registry.address, admin, 72 * 3600)
        reg, coin = self.registry.functions, self.coin.functions
        self.tx(admin, reg.grantRole(reg.REGISTRAR_ROLE().call(), keys.registrar.address))
        self.tx(admin, reg.grantRole(reg.RECOVERY_ROLE().call(), self.coin.address))
        for role, who in (("MASTER_MINTER_ROLE", admin), ("PAUSER_ROLE", admin), ("FREEZER_ROLE", keys.freezer.address),
                          ("RECOVERY_ROLE", keys.recovery.address), ("RELAYER_ROLE", keys.relayer.address)):
            self.tx(admin, coin.grantRole(getattr(coin, role)().call(), who))
        self.tx(admin, coin.configureMinter(keys.topup.address, 10**9))

    def _deploy(self, artifact: dict[str, Any], *args: Any) -> Contract:
        factory = self.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        receipt = self.w3.eth.wait_for_transaction_receipt(factory.constructor(*args).transact(
            {"from": self.keys.deployer.address}))
        return self.w3.eth.contract(address=receipt["contractAddress"], abi=artifact["abi"])

    def tx(self, sender: str, fn: Any) -> None:
        receipt = self.w3.eth.wait_for_transaction_receipt(fn.transact({"from": sender}))
        assert receipt["status"] == 1

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def attest(self, level: AssuranceLevel = CARD, coins: int = 0, expires_in: int = YEAR) -> LocalAccount:
        account = Account.create()
        self.tx(self.keys.registrar.address, self.registry.functions.attest(
            account.address, Account.create().key, int(level), self.now() + expires_in, Account.create().key))
        if coins:
            self.tx(self.keys.topup.address, self.coin.functions.mint(account.address, coins))
        self.w3.provider.make_request("anvil_setBalance", [account.address, hex(10**18)])  # type: ignore[arg-type]
        return account

    def register(self, merchant: bool = True) -> LocalAccount:
        account = Account.create()
        fn = self.registry.functions.registerMerchant if merchant else self.registry.functions.registerCityAccount
        self.tx(self.keys.registrar.address, fn(account.address, Account.create().key, self.now() + YEAR,
                                                Account.create().key))
        return account

    def pay(self, payer: LocalAccount, to: str, amount: int) -> None:
        tx = self.coin.functions.transfer(to, amount).build_transaction({
            "from": payer.address, "nonce": self.w3.eth.get_transaction_count(payer.address)})
        self.w3.eth.wait_for_transaction_receipt(
            self.w3.eth.send_raw_transaction(payer.sign_transaction(tx).raw_transaction))

    def recover(self, lost: str, successor: str) -> None:
        self.tx(self.keys.recovery.address, self.coin.functions.requestRecovery(lost, successor, Account.create().key))
        self.w3.provider.make_request("evm_increaseTime", [72 * 3600])  # type: ignore[arg-type]
        self.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        self.tx(self.keys.recovery.address, self.coin.functions.executeRecovery(lost))


def _new_city(w3: Web3, compiled: CompileResult, keys: Keys, directory: Path) -> tuple[Any, RegionalCoinClient]:
    params = PlanParams(currency_name="Kaga Coin", currency_symbol="KAGA", relayer=keys.relayer.address,
                        registrar=keys.registrar.address, freezer=keys.freezer.address, recovery=keys.recovery.address,
                        topup_minter=keys.topup.address, benefits_minter=keys.benefits.address,
                        topup_allowance=1, benefits_allowance=1)
    manifest, _ = deploy(w3, keys.deployer, compiled, city_plan(), directory,
                         params=plan_params(params, keys.deployer.address))
    city = load_city(w3, manifest, compiled)
    return city.registry, city.coin


def test_a_v1_city_moves_to_the_current_contracts(node: LocalNode, compiled: CompileResult, keys: Keys,
                                                   tmp_path: Path) -> None:
    w3 = connect(node.url)
    old = V1City(w3, keys)
    reg, coin = old.registry.functions, old.coin.functions
    shop, closed, hall = old.register(), old.register(), old.register(merchant=False)
    alice = old.attest(CARD, 50_000)
    old.pay(alice, shop.address, 3_000)
    old.pay(alice, closed.address, 2_000)
    old.pay(alice, hall.address, 1_000)
    bob = old.attest(RESIDENT, 200_000)
    old.tx(keys.freezer.address, coin.freeze(bob.address))
    leaver = old.attest(CARD, 10_000)
    old.tx(keys.registrar.address, reg.revoke(leaver.address))  # coins left behind on a revoked wallet
    old.tx(keys.registrar.address, reg.suspendMerchant(closed.address))
    lost = old.attest(CARD, 7_000)
    first, second = Account.create(), Account.create()
    old.tx(keys.freezer.address, coin.freezeAsLost(lost.address))  # reported lost, then recovered
    old.recover(lost.address, first.address)
    old.recover(first.address, second.address)  # recovered twice: the subject moved lost → first → second
    renewed_until = old.now() + 3 * YEAR
    old.tx(keys.registrar.address, reg.renew(second.address, int(RESIDENT), renewed_until, b"\x09" * 32))
    waiting, successor = old.attest(CARD, 1_000), Account.create()
    old.tx(keys.recovery.address, coin.requestRecovery(waiting.address, successor.address, b"\x07" * 32))
    promised_eta = old.coin.functions.pendingRecovery(waiting.address).call()[1]
    gone, nobody = old.attest(CARD), Account.create()  # a recovery still pending after its wallet was revoked
    old.tx(keys.recovery.address, coin.requestRecovery(gone.address, nobody.address, b"\x08" * 32))
    old.tx(keys.registrar.address, reg.revoke(gone.address))
    again = old.attest(RESIDENT, 300)  # a resident who moved away and came back: revoked, attested again
    comeback_subject = old.registry.functions.recordOf(again.address).call()[6]
    old.tx(keys.registrar.address, reg.revoke(again.address))
    meanwhile = Account.create()  # the same person's other wallet in between, revoked too (the replay's order)
    old.tx(keys.registrar.address, reg.attest(meanwhile.address, comeback_subject, int(CARD), old.now() + YEAR,
                                              b"\x0b" * 32))
    old.tx(keys.registrar.address, reg.revoke(meanwhile.address))
    old.tx(keys.registrar.address, reg.attest(again.address, comeback_subject, int(CARD), old.now() + YEAR,
                                              b"\x0a" * 32))
    lapsed = old.attest(CARD, 500, expires_in=100)
    old.tx(keys.deployer.address, coin.setTransferRule(int(Kind.RESIDENT), int(Kind.RESIDENT), False))
    old.tx(keys.deployer.address, coin.setBalanceCap(int(CARD), 80_000))
    old_signature = RegionalCoinClient(w3, old.coin.address, old.coin.abi).sign_authorization(
        alice, shop.address, 10, nonce=sequence_nonce(0), valid_before=old.now() + 10 * YEAR)
    w3.provider.make_request("evm_increaseTime", [200])  # type: ignore[arg-type]
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]

    with pytest.raises(MigrationError, match="pause the old coin"):
        take_snapshot(w3, old.coin.address, old.registry.address, w3.eth.block_number)
    old.tx(keys.deployer.address, coin.pause())
    snapshot = take_snapshot(w3, old.coin.address, old.registry.address, w3.eth.block_number)
    snapshot = Snapshot.from_json(snapshot.to_json())  # what the ceremony files and signs is what it applies
    assert snapshot.supply == 50_000 + 200_000 + 10_000 + 7_000 + 1_000 + 300 + 500
    assert snapshot.rebinds == [(lost.address, first.address), (first.address, second.address)]

    registry, new = _new_city(w3, compiled, keys, tmp_path / "deployments")
    migration_keys = MigrationKeys(admin=keys.deployer, registrar=keys.registrar, freezer=keys.freezer,
                                   recovery=keys.recovery)
    report = apply_snapshot(w3, registry, new, snapshot, migration_keys)
    assert verify(snapshot, registry, new, report) == []
    assert report.grace_expiry == [lapsed.address] and report.coins == snapshot.supply
    assert report.pending_dropped == [(gone.address, "IdentityRegistryNotAttested")]
    with pytest.raises(MigrationError, match="fresh deployment"):
        apply_snapshot(w3, registry, new, snapshot, migration_keys)

    # the same city, account by account
    assert [new.balance_of(a.address) for a in (alice, bob, leaver, shop, closed, hall, second)] == [
        44_000, 200_000, 10_000, 3_000, 2_000, 1_000, 7_000]
    assert new.freeze_kind(bob.address) is FreezeKind.FROZEN
    assert registry.record_of(leaver.address).revocation_reason is RevocationReason.REVOKED
    assert registry.record_of(closed.address).revocation_reason is RevocationReason.SUSPENDED
    assert [registry.record_of(w).revocation_reason for w in (lost.address, first.address)] == [
        RevocationReason.REBOUND] * 2
    assert registry.successor_of(lost.address) == second.address and registry.is_verified(second.address)
    assert new.freeze_kind(lost.address) is FreezeKind.REPORTED_LOST
    after_recovery = registry.record_of(second.address)  # renewed after its recovery, as on the old registry
    assert (after_recovery.level, after_recovery.expires_at) == (RESIDENT, renewed_until)
    assert after_recovery.holds_evidence(b"\x09" * 32)
    assert registry.is_verified(again.address) and new.balance_of(again.address) == 300
    assert registry.record_of(meanwhile.address).revocation_reason is RevocationReason.REVOKED
    assert not new.is_transfer_allowed(Kind.RESIDENT, Kind.RESIDENT) and new.balance_cap(CARD) == 80_000
    assert new.minter_allowance(keys.topup.address) == 10**9 - snapshot.supply
    assert not new.is_minter(keys.deployer.address)  # the ceremony's one-off minter is gone
    pending = new.pending_recovery(waiting.address)
    assert pending.successor == successor.address and pending.eta >= promised_eta  # later, never earlier
    assert new.recovery_delay() == 72 * 3600

    # new signatures only: the old coin's are void here (another EIP-712 domain); key 1 starts at 0
    assert new.screen_batch([old_signature], keys.relayer.address) == [SkipReason.INVALID_SIGNATURE]
    fresh = new.sign_authorization(alice, shop.address, 10, nonce=sequence_nonce(0), valid_before=old.now() + 3600)
    assert new.screen_batch([fresh], keys.relayer.address) == [SkipReason.NONE]
    # the expired record had a grace for its coins, and is expired again after it
    assert registry.is_verified(lapsed.address)
    w3.provider.make_request("evm_increaseTime", [EXPIRED_GRACE_S])  # type: ignore[arg-type]
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    assert not registry.is_verified(lapsed.address) and registry.record_of(lapsed.address).live


def test_a_reserve_holding_coins_is_refused(node: LocalNode, keys: Keys) -> None:
    w3 = connect(node.url)
    old = V1City(w3, keys)
    holder = old.register(merchant=False)  # stands in for the offline reserve's account
    payer = old.attest(CARD, 900)
    old.pay(payer, holder.address, 400)
    old.tx(keys.deployer.address, old.coin.functions.pause())
    with pytest.raises(MigrationError, match="offline reserve still holds 400 coins"):
        take_snapshot(w3, old.coin.address, old.registry.address, w3.eth.block_number, reserve=holder.address)


def test_apply_takes_only_the_signed_file(tmp_path: Path) -> None:
    """``machi migrate apply`` checks the file against the SHA-256 two staff signed before it opens a key."""
    from click.testing import CliRunner

    from procedures.cli import main

    path = tmp_path / "snap.json"
    path.write_text('{"format": "machi-city-snapshot-v1"}', encoding="utf-8")
    result = CliRunner().invoke(main, ["migrate", "apply", str(path), "--sha256", "00" * 32])
    assert result.exit_code == 1 and "not the one given" in result.output
    assert "snapshot" in CliRunner().invoke(main, ["migrate", "--help"]).output
