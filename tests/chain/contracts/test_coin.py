"""RegionalCoin state paths: the transfer hook (kinds, policy, freeze, verification, pause, caps),
minters, redemption and lost-wallet recovery."""

from __future__ import annotations

import itertools

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from chain.contracts import AssuranceLevel, Kind
from chain.contracts.coin import FreezeKind
from protocol.eip712 import sign_typed
from protocol.recovery import cancel_recovery_typed_data
from tests.chain.contracts.helpers import CARD, RESIDENT_OF_CITY, Chain, random32, unchecked_call

PAYING_KINDS = (Kind.RESIDENT, Kind.MERCHANT, Kind.CITY)


def _holder(evm: Chain, kind: Kind, balance: int) -> LocalAccount:
    if kind is Kind.RESIDENT:
        return evm.resident(balance, level=RESIDENT_OF_CITY)
    if kind is Kind.MERCHANT:
        return evm.merchant(balance)
    return evm.city_account(balance)


# ---------------------------------------------------------------------------- kinds and policy
@pytest.mark.parametrize(
    ("from_kind", "to_kind"), list(itertools.product(PAYING_KINDS, PAYING_KINDS)), ids=lambda k: k.name.lower()
)
def test_transfers_between_every_pair_of_kinds_follow_the_policy(evm: Chain, from_kind: Kind, to_kind: Kind) -> None:
    sender, recipient = _holder(evm, from_kind, 1_000), _holder(evm, to_kind, 0)
    assert evm.coin.is_transfer_allowed(from_kind, to_kind)  # default: every paying kind pays every other
    receipt = evm.send(evm.coin.transfer_call(recipient.address, 300), sender)
    (event,) = evm.coin.events(receipt, "Transfer")
    assert (event["args"]["from"], event["args"]["to"], event["args"]["value"]) == (
        sender.address,
        recipient.address,
        300,
    )
    assert evm.coin.balance_of(sender.address) == 700 and evm.coin.balance_of(recipient.address) == 300

    evm.send(evm.coin.set_transfer_rule_call(from_kind, to_kind, False), evm.admin)
    assert not evm.coin.is_transfer_allowed(from_kind, to_kind)
    evm.reverts(
        evm.coin.transfer_call(recipient.address, 1),
        sender,
        "RegionalCoinTransferNotAllowed",
        fromKind=from_kind,
        toKind=to_kind,
    )
    # the other direction is a separate rule
    if from_kind is not to_kind:
        assert evm.coin.is_transfer_allowed(to_kind, from_kind)
        evm.send(evm.coin.transfer_call(sender.address, 1), recipient)

    evm.send(evm.coin.set_transfer_rule_call(from_kind, to_kind, True), evm.admin)
    evm.send(evm.coin.transfer_call(recipient.address, 1), sender)


def test_policy_bitmap_and_rule_events(evm: Chain) -> None:
    policy = evm.coin.transfer_policy()
    for from_kind, to_kind in itertools.product(Kind, Kind):
        bit = bool(policy >> (4 * from_kind + to_kind) & 1)
        assert bit == evm.coin.is_transfer_allowed(from_kind, to_kind)
    allowed = {(f, t) for f, t in itertools.product(Kind, Kind) if evm.coin.is_transfer_allowed(f, t)}
    expected = set(itertools.product(PAYING_KINDS, PAYING_KINDS)) | {
        (Kind.NONE, Kind.RESIDENT),
        (Kind.MERCHANT, Kind.NONE),
        (Kind.CITY, Kind.NONE),
    }
    assert allowed == expected
    receipt = evm.send(evm.coin.set_transfer_rule_call(Kind.NONE, Kind.CITY, True), evm.admin)
    (event,) = evm.coin.events(receipt, "TransferRuleSet")
    assert (event["args"]["fromKind"], event["args"]["toKind"], event["args"]["allowed"]) == (0, 3, True)
    assert evm.coin.transfer_policy() == policy | 1 << 3


def test_mint_goes_to_residents_only_unless_the_policy_says_otherwise(evm: Chain) -> None:
    merchant, city = evm.merchant(), evm.city_account()
    evm.reverts(
        evm.coin.mint_call(merchant.address, 1),
        evm.topup,
        "RegionalCoinTransferNotAllowed",
        fromKind=Kind.NONE,
        toKind=Kind.MERCHANT,
    )
    evm.reverts(
        evm.coin.mint_call(city.address, 1),
        evm.topup,
        "RegionalCoinTransferNotAllowed",
        fromKind=Kind.NONE,
        toKind=Kind.CITY,
    )
    evm.send(evm.coin.set_transfer_rule_call(Kind.NONE, Kind.CITY, True), evm.admin)
    evm.send(evm.coin.mint_call(city.address, 5), evm.benefits)
    assert evm.coin.balance_of(city.address) == 5


# ---------------------------------------------------------------------------- who may move coins
def test_unverified_parties_can_neither_send_nor_receive(evm: Chain) -> None:
    alice, stranger = evm.resident(1_000), Account.create()
    evm.reverts(
        evm.coin.transfer_call(stranger.address, 1), alice, "RegionalCoinUnverifiedAccount", account=stranger.address
    )
    evm.reverts(
        evm.coin.mint_call(stranger.address, 1), evm.topup, "RegionalCoinUnverifiedAccount", account=stranger.address
    )
    evm.reverts(
        evm.coin.transfer_call(alice.address, 0), stranger, "RegionalCoinUnverifiedAccount", account=stranger.address
    )


def test_revoked_wallets_are_locked_both_ways(evm: Chain) -> None:
    alice, bob = evm.resident(1_000), evm.resident(1_000)
    evm.send(evm.registry.revoke_call(bob.address), evm.operator)
    evm.reverts(evm.coin.transfer_call(bob.address, 1), alice, "RegionalCoinUnverifiedAccount", account=bob.address)
    evm.reverts(evm.coin.transfer_call(alice.address, 1), bob, "RegionalCoinUnverifiedAccount", account=bob.address)
    assert evm.coin.balance_of(bob.address) == 1_000  # revocation does not take coins away


def test_expired_wallets_are_locked_until_renewed(evm: Chain) -> None:
    alice, bob = evm.resident(1_000), evm.resident(1_000, expires_in=1000)
    evm.advance(1001)
    evm.reverts(evm.coin.transfer_call(bob.address, 1), alice, "RegionalCoinUnverifiedAccount", account=bob.address)
    evm.reverts(evm.coin.transfer_call(alice.address, 1), bob, "RegionalCoinUnverifiedAccount", account=bob.address)
    evm.reverts(evm.coin.mint_call(bob.address, 1), evm.topup, "RegionalCoinUnverifiedAccount")
    evm.send(evm.registry.renew_call(bob.address, CARD, evm.now() + 1000, random32()), evm.operator)
    evm.send(evm.coin.transfer_call(alice.address, 1), bob)


def test_frozen_accounts_can_neither_send_nor_receive_nor_spend_allowances(evm: Chain) -> None:
    alice, bob, merchant = evm.resident(1_000), evm.resident(1_000), evm.merchant()
    receipt = evm.send(evm.coin.freeze_call(alice.address), evm.operator)
    assert evm.coin.events(receipt, "AccountFrozen")[0]["args"]["account"] == alice.address
    assert evm.coin.is_frozen(alice.address)
    evm.reverts(evm.coin.transfer_call(merchant.address, 1), alice, "RegionalCoinFrozenAccount", account=alice.address)
    evm.reverts(evm.coin.transfer_call(alice.address, 1), bob, "RegionalCoinFrozenAccount", account=alice.address)
    evm.reverts(evm.coin.mint_call(alice.address, 1), evm.topup, "RegionalCoinFrozenAccount", account=alice.address)
    # a frozen spender cannot use an allowance it was given before
    evm.send(evm.coin.approve_call(alice.address, 100), bob)
    transfer_from = evm.coin.transfer_from_call(bob.address, merchant.address, 10)
    evm.reverts(transfer_from, alice, "RegionalCoinFrozenAccount", account=alice.address)
    evm.send(evm.coin.unfreeze_call(alice.address), evm.operator)
    assert not evm.coin.is_frozen(alice.address)
    evm.send(transfer_from, alice)
    evm.send(evm.coin.transfer_call(merchant.address, 1), alice)
    assert evm.coin.balance_of(merchant.address) == 11


def test_pause_stops_every_balance_change(evm: Chain) -> None:
    alice, merchant = evm.resident(1_000), evm.merchant(500)
    lost = evm.resident(10)
    evm.request_recovery(lost.address, Account.create().address)
    evm.advance(evm.coin.recovery_delay())
    auth = evm.sign(alice, merchant.address, 5)
    evm.send(evm.coin.pause_call(), evm.admin)
    assert evm.coin.paused()
    for call, sender in [
        (evm.coin.transfer_call(merchant.address, 1), alice.address),
        (evm.coin.mint_call(alice.address, 1), evm.topup),
        (evm.coin.redeem_call(1, random32()), merchant.address),
        (evm.coin.transfer_with_authorization_call(auth), evm.operator),
        (evm.coin.batch_call([auth]), evm.operator),
        (evm.coin.execute_recovery_call(lost.address), evm.operator),
    ]:
        evm.reverts(call, sender, "EnforcedPause")
    evm.send(evm.coin.unpause_call(), evm.admin)
    evm.send(evm.coin.transfer_with_authorization_call(auth), evm.operator)
    assert evm.coin.balance_of(merchant.address) == 505


# ---------------------------------------------------------------------------- caps
@pytest.mark.parametrize(("level", "cap"), [(CARD, 100_000), (RESIDENT_OF_CITY, 2_000_000)])
def test_balance_caps_per_level(evm: Chain, level: AssuranceLevel, cap: int) -> None:
    assert evm.coin.balance_cap(level) == cap
    alice = evm.resident(cap - 10, level=level)
    evm.reverts(
        evm.coin.mint_call(alice.address, 11),
        evm.topup,
        "RegionalCoinBalanceCapExceeded",
        account=alice.address,
        balance=cap - 10,
        value=11,
        cap=cap,
    )
    payer = evm.resident(1_000)
    evm.reverts(evm.coin.transfer_call(alice.address, 11), payer, "RegionalCoinBalanceCapExceeded")
    evm.send(evm.coin.transfer_call(alice.address, 10), payer)  # exactly up to the cap
    assert evm.coin.balance_of(alice.address) == cap
    evm.send(evm.coin.transfer_call(alice.address, 0), alice)  # paying oneself never trips the cap


def test_lowering_a_cap_blocks_receiving_but_takes_nothing(evm: Chain) -> None:
    alice, merchant = evm.resident(50_000), evm.merchant(1_000)
    receipt = evm.send(evm.coin.set_balance_cap_call(CARD, 40_000), evm.admin)
    assert evm.coin.events(receipt, "BalanceCapSet")[0]["args"]["cap"] == 40_000
    assert evm.coin.balance_of(alice.address) == 50_000
    evm.reverts(
        evm.coin.transfer_call(alice.address, 1),
        merchant,
        "RegionalCoinBalanceCapExceeded",
        account=alice.address,
        balance=50_000,
        value=1,
        cap=40_000,
    )
    evm.send(evm.coin.transfer_call(merchant.address, 20_000), alice)  # spending is never blocked
    evm.send(evm.coin.transfer_call(alice.address, 10_000), merchant)
    with pytest.raises(ValueError):
        evm.coin.set_balance_cap_call(AssuranceLevel.NONE, 1)
    evm.reverts(
        unchecked_call(evm.coin, "setBalanceCap", 0, 1),
        evm.admin,
        "RegionalCoinInvalidLevel",
        level=AssuranceLevel.NONE,
    )


def test_merchants_and_city_accounts_are_uncapped(evm: Chain) -> None:
    evm.send(evm.coin.set_balance_cap_call(RESIDENT_OF_CITY, 10), evm.admin)
    merchant, city = evm.merchant(), evm.city_account()
    payer = evm.resident(1_000, level=CARD)
    evm.send(evm.coin.transfer_call(merchant.address, 500), payer)
    evm.send(evm.coin.transfer_call(city.address, 500), payer)
    assert evm.coin.balance_of(merchant.address) == evm.coin.balance_of(city.address) == 500


def test_insufficient_balance(evm: Chain) -> None:
    alice, merchant = evm.resident(100), evm.merchant()
    evm.reverts(
        evm.coin.transfer_call(merchant.address, 101),
        alice,
        "ERC20InsufficientBalance",
        sender=alice.address,
        balance=100,
        needed=101,
    )


# ---------------------------------------------------------------------------- minters
def test_minting_spends_the_minters_own_allowance(evm: Chain) -> None:
    alice = evm.resident()
    topup_before, benefits_before = evm.coin.minter_allowance(evm.topup), evm.coin.minter_allowance(evm.benefits)
    supply = evm.coin.total_supply()
    receipt = evm.send(evm.coin.mint_call(alice.address, 700), evm.benefits)
    (minted,) = evm.coin.events(receipt, "Minted")
    assert (minted["args"]["minter"], minted["args"]["to"], minted["args"]["amount"]) == (
        evm.benefits,
        alice.address,
        700,
    )
    assert evm.coin.minter_allowance(evm.benefits) == benefits_before - 700
    assert evm.coin.minter_allowance(evm.topup) == topup_before
    assert evm.coin.total_supply() == supply + 700 and evm.coin.balance_of(alice.address) == 700


def test_minter_allowance_is_a_hard_budget(evm: Chain) -> None:
    alice = evm.resident()
    evm.send(evm.coin.configure_minter_call(evm.benefits, 500), evm.admin)
    evm.reverts(
        evm.coin.mint_call(alice.address, 501),
        evm.benefits,
        "RegionalCoinMinterAllowanceExceeded",
        minter=evm.benefits,
        allowance=500,
        amount=501,
    )
    evm.send(evm.coin.mint_call(alice.address, 500), evm.benefits)
    assert evm.coin.minter_allowance(evm.benefits) == 0
    evm.reverts(evm.coin.mint_call(alice.address, 1), evm.benefits, "RegionalCoinMinterAllowanceExceeded")
    # a failed mint (policy) does not spend allowance
    evm.send(evm.coin.configure_minter_call(evm.benefits, 100), evm.admin)
    evm.reverts(evm.coin.mint_call(evm.merchant().address, 50), evm.benefits, "RegionalCoinTransferNotAllowed")
    assert evm.coin.minter_allowance(evm.benefits) == 100


def test_configure_and_remove_minters(evm: Chain) -> None:
    minter, alice = Account.create().address, evm.resident()
    receipt = evm.send(evm.coin.configure_minter_call(minter, 42), evm.admin)
    assert evm.coin.events(receipt, "MinterConfigured")[0]["args"]["allowance"] == 42
    assert evm.coin.is_minter(minter) and evm.coin.minter_allowance(minter) == 42
    evm.send(evm.coin.mint_call(alice.address, 40), minter)
    evm.send(evm.coin.remove_minter_call(minter), evm.admin)
    assert not evm.coin.is_minter(minter) and evm.coin.minter_allowance(minter) == 0
    evm.reverts(evm.coin.mint_call(alice.address, 1), minter, "RegionalCoinNotMinter", account=minter)
    evm.reverts(evm.coin.remove_minter_call(minter), evm.admin, "RegionalCoinNotMinter", account=minter)
    zero = "0x" + "00" * 20
    evm.reverts(evm.coin.configure_minter_call(zero, 1), evm.admin, "RegionalCoinInvalidAddress")


# ---------------------------------------------------------------------------- redemption
@pytest.mark.parametrize("kind", [Kind.MERCHANT, Kind.CITY])
def test_merchants_and_city_accounts_redeem(evm: Chain, kind: Kind) -> None:
    holder = _holder(evm, kind, 5_000)
    supply, ref = evm.coin.total_supply(), random32()
    receipt = evm.send(evm.coin.redeem_call(1_200, ref), holder)
    (event,) = evm.coin.events(receipt, "Redeemed")
    assert (event["args"]["merchant"], event["args"]["amount"], event["args"]["ref"]) == (holder.address, 1_200, ref)
    (burn,) = evm.coin.events(receipt, "Transfer")
    assert burn["args"]["to"] == "0x" + "00" * 20
    assert evm.coin.balance_of(holder.address) == 3_800
    assert evm.coin.total_supply() == supply - 1_200
    evm.reverts(evm.coin.redeem_call(3_801, ref), holder, "ERC20InsufficientBalance")


def test_residents_cannot_redeem_and_suspended_merchants_neither(evm: Chain) -> None:
    alice, merchant = evm.resident(100), evm.merchant(100)
    evm.reverts(
        evm.coin.redeem_call(1, random32()),
        alice,
        "RegionalCoinTransferNotAllowed",
        fromKind=Kind.RESIDENT,
        toKind=Kind.NONE,
    )
    evm.send(evm.registry.suspend_merchant_call(merchant.address), evm.operator)
    evm.reverts(evm.coin.redeem_call(1, random32()), merchant, "RegionalCoinUnverifiedAccount")
    evm.send(evm.coin.freeze_call(merchant.address), evm.operator)
    evm.send(
        evm.registry.register_merchant_call(merchant.address, random32(), evm.now() + 1000, random32()), evm.operator
    )
    evm.reverts(evm.coin.redeem_call(1, random32()), merchant, "RegionalCoinFrozenAccount")


# ---------------------------------------------------------------------------- recovery
DAY = 24 * 3600


def test_the_default_recovery_delay_is_72_hours(evm: Chain) -> None:
    assert evm.coin.recovery_delay() == 72 * 3600


def test_request_then_execute_after_the_delay_moves_identity_and_balance(evm: Chain) -> None:
    lost = evm.resident(12_345, level=RESIDENT_OF_CITY)
    subject = evm.subject_of(lost.address)
    new, evidence = Account.create(), random32()
    receipt = evm.request_recovery(lost.address, new.address, evidence)
    eta = evm.now() + 72 * 3600
    (event,) = evm.coin.events(receipt, "RecoveryRequested")
    assert (event["args"]["lostWallet"], event["args"]["successor"], event["args"]["eta"]) == (
        lost.address, new.address, eta)
    pending = evm.coin.pending_recovery(lost.address)
    assert (pending.successor, pending.eta, pending.evidence, pending.pending) == (new.address, eta, evidence, True)
    # announced, nothing moved: the lost wallet still holds identity and coins
    assert evm.registry.wallet_of(subject) == lost.address and evm.coin.balance_of(lost.address) == 12_345

    evm.advance(72 * 3600)
    supply = evm.coin.total_supply()
    stranger = Account.create().address  # anyone may run a due recovery
    receipt = evm.send(evm.coin.execute_recovery_call(lost.address), stranger)
    (event,) = evm.coin.events(receipt, "Recovered")
    assert (event["args"]["lostWallet"], event["args"]["successor"], event["args"]["amount"]) == (
        lost.address, new.address, 12_345)
    assert evm.coin.balance_of(lost.address) == 0 and evm.coin.balance_of(new.address) == 12_345
    assert evm.coin.total_supply() == supply
    assert evm.registry.wallet_of(subject) == new.address and evm.registry.record_of(lost.address).retired
    assert evm.registry.record_of(new.address).holds_evidence(evidence)
    assert not evm.coin.pending_recovery(lost.address).pending
    evm.reverts(evm.coin.execute_recovery_call(lost.address), stranger, "RegionalCoinNoPendingRecovery")
    evm.send(evm.coin.transfer_call(evm.merchant().address, 45), new)  # the new wallet can pay


def test_execute_before_the_eta_is_refused(evm: Chain) -> None:
    lost = evm.resident(500)
    new = Account.create().address
    evm.reverts(evm.coin.execute_recovery_call(lost.address), evm.operator, "RegionalCoinNoPendingRecovery",
                lostWallet=lost.address)
    evm.request_recovery(lost.address, new)
    eta = evm.coin.pending_recovery(lost.address).eta
    evm.reverts(evm.coin.execute_recovery_call(lost.address), evm.operator, "RegionalCoinRecoveryNotDue",
                lostWallet=lost.address, eta=eta)
    evm.mine_at(eta - 2)  # one block before the eta: still refused (the next block is at eta - 1 at most)
    evm.reverts(evm.coin.execute_recovery_call(lost.address), evm.operator, "RegionalCoinRecoveryNotDue")
    evm.mine_at(eta)
    evm.send(evm.coin.execute_recovery_call(lost.address), evm.operator)
    assert evm.coin.balance_of(new) == 500


def test_the_lost_wallet_cancels_directly_or_by_a_relayed_signature(evm: Chain) -> None:
    lost = evm.resident(700)
    new = Account.create().address
    evm.request_recovery(lost.address, new)
    receipt = evm.send(evm.coin.cancel_recovery_call(lost.address), lost)
    (event,) = evm.coin.events(receipt, "RecoveryCancelled")
    assert (event["args"]["lostWallet"], event["args"]["successor"]) == (lost.address, new)
    evm.advance(73 * 3600)
    evm.reverts(evm.coin.execute_recovery_call(lost.address), evm.operator, "RegionalCoinNoPendingRecovery")

    # again, cancelled by the old wallet's signature, relayed by the city's hot key (the owner holds no gas)
    evm.request_recovery(lost.address, new)
    pending = evm.coin.pending_recovery(lost.address)
    domain = evm.coin.domain()
    typed = cancel_recovery_typed_data(
        {"name": domain.name, "version": domain.version, "chainId": domain.chain_id,
         "verifyingContract": domain.verifying_contract}, lost.address, new, pending.eta, pending.evidence)
    signature = bytes.fromhex(sign_typed(lost, typed)[2:])
    forged = bytes.fromhex(sign_typed(Account.create(), typed)[2:])
    evm.reverts(evm.coin.cancel_recovery_with_signature_call(lost.address, forged), evm.operator,
                "RegionalCoinInvalidSigner", lostWallet=lost.address)
    evm.send(evm.coin.cancel_recovery_with_signature_call(lost.address, signature), evm.operator)
    assert not evm.coin.pending_recovery(lost.address).pending
    # the signature named that request: it cannot cancel a later one
    evm.request_recovery(lost.address, new)
    evm.reverts(evm.coin.cancel_recovery_with_signature_call(lost.address, signature), evm.operator,
                "RegionalCoinInvalidSigner")
    assert evm.coin.balance_of(lost.address) == 700


def test_the_freezer_cancels_and_a_stranger_cannot(evm: Chain) -> None:
    lost, other = evm.resident(100), evm.resident(100)
    evm.request_recovery(lost.address, Account.create().address)
    for stranger in (Account.create().address, other.address, evm.admin, evm.topup):
        evm.reverts(evm.coin.cancel_recovery_call(lost.address), stranger, "RegionalCoinRecoveryCancelNotAllowed",
                    caller=stranger)
    evm.send(evm.coin.cancel_recovery_call(lost.address), evm.operator)  # FREEZER_ROLE
    assert not evm.coin.pending_recovery(lost.address).pending
    evm.reverts(evm.coin.cancel_recovery_call(lost.address), evm.operator, "RegionalCoinNoPendingRecovery")


def test_one_pending_recovery_per_wallet(evm: Chain) -> None:
    lost = evm.resident(100)
    evm.request_recovery(lost.address, Account.create().address)
    evm.reverts(evm.coin.request_recovery_call(lost.address, Account.create().address, random32()), evm.operator,
                "RegionalCoinRecoveryPending", lostWallet=lost.address)


def test_request_checks_the_registry_at_once(evm: Chain) -> None:
    lost, taken = evm.resident(), evm.resident()
    stranger = Account.create().address
    evm.reverts(evm.coin.request_recovery_call(stranger, Account.create().address, random32()), evm.operator,
                "IdentityRegistryNotAttested", wallet=stranger)
    evm.reverts(evm.coin.request_recovery_call(lost.address, taken.address, random32()), evm.operator,
                "IdentityRegistryWalletAlreadyAttested", wallet=taken.address)


def test_refused_while_frozen_unless_reported_lost(evm: Chain) -> None:
    lost = evm.resident(900)
    new = Account.create().address
    evm.send(evm.coin.freeze_call(lost.address), evm.operator)
    evm.reverts(evm.coin.request_recovery_call(lost.address, new, random32()), evm.operator,
                "RegionalCoinFrozenAccount", account=lost.address)
    # frozen after the request: the execution is refused too (a freeze stops a recovery on its way)
    evm.send(evm.coin.unfreeze_call(lost.address), evm.operator)
    evm.request_recovery(lost.address, new)
    evm.send(evm.coin.freeze_call(lost.address), evm.operator)
    evm.advance(evm.coin.recovery_delay())
    evm.reverts(evm.coin.execute_recovery_call(lost.address), evm.operator, "RegionalCoinFrozenAccount",
                account=lost.address)
    assert evm.coin.balance_of(lost.address) == 900


def test_allowed_while_frozen_as_reported_lost(evm: Chain) -> None:
    lost = evm.resident(900)
    new = Account.create().address
    receipt = evm.send(evm.coin.freeze_as_lost_call(lost.address), evm.operator)
    assert evm.coin.events(receipt, "AccountFrozen")[0]["args"]["kind"] == FreezeKind.REPORTED_LOST
    assert evm.coin.is_frozen(lost.address) and evm.coin.freeze_kind(lost.address) is FreezeKind.REPORTED_LOST
    # frozen all the same: a thief holding the lost key cannot spend meanwhile
    evm.reverts(evm.coin.transfer_call(evm.merchant().address, 1), lost, "RegionalCoinFrozenAccount")
    evm.recover(lost.address, new)
    assert evm.coin.balance_of(new) == 900 and evm.coin.balance_of(lost.address) == 0


def test_execute_still_checks_the_successor_and_stays_pending(evm: Chain) -> None:
    lost = evm.resident(60_000)
    new = Account.create().address
    evm.request_recovery(lost.address, new)
    evm.advance(evm.coin.recovery_delay())
    evm.send(evm.coin.freeze_call(new), evm.operator)
    evm.reverts(evm.coin.execute_recovery_call(lost.address), evm.operator, "RegionalCoinFrozenAccount", account=new)
    evm.send(evm.coin.unfreeze_call(new), evm.operator)
    evm.send(evm.coin.set_balance_cap_call(CARD, 50_000), evm.admin)
    evm.reverts(evm.coin.execute_recovery_call(lost.address), evm.operator, "RegionalCoinBalanceCapExceeded",
                account=new, balance=0, value=60_000, cap=50_000)
    # nothing moved, not even the identity, and it is still pending
    assert evm.registry.record_of(lost.address).live and evm.coin.pending_recovery(lost.address).pending
    evm.send(evm.coin.set_balance_cap_call(CARD, 100_000), evm.admin)
    evm.send(evm.coin.execute_recovery_call(lost.address), evm.operator)
    assert evm.coin.balance_of(new) == 60_000


def test_recovery_powers_by_role(evm: Chain) -> None:
    lost = evm.resident(10)
    new = Account.create().address
    for key in (evm.admin, evm.topup, Account.create().address):
        evm.reverts(evm.coin.request_recovery_call(lost.address, new, random32()), key,
                    "AccessControlUnauthorizedAccount")
    evm.reverts(evm.coin.set_recovery_delay_call(1), evm.operator, "AccessControlUnauthorizedAccount")
    receipt = evm.send(evm.coin.set_recovery_delay_call(DAY), evm.admin)
    assert evm.coin.events(receipt, "RecoveryDelaySet")[0]["args"]["delay"] == DAY
    evm.request_recovery(lost.address, new)
    assert evm.coin.pending_recovery(lost.address).eta == evm.now() + DAY
    assert not any(f.get("name") in ("recover", "rebind") for f in evm.coin.contract.abi)  # the one-block paths went
