"""RegionalCoin points (issue 15): credits backed by the fund, spent first at merchants (earliest expiry first),
never sent to residents or redeemed, expiring at the end of a JST month and swept back to the fund."""

from __future__ import annotations

import pytest
from eth_account.signers.local import LocalAccount

from chain.contracts.coin import SkipReason
from protocol.points import expiry_month, month_of, month_start
from tests.chain.contracts.helpers import RESIDENT_OF_CITY, Chain, random32

DAY = 86_400


def _credit(evm: Chain, to: str, amount: int, months_ahead: int = 0) -> int:
    """Credit ``amount`` points expiring ``months_ahead`` months after the current JST month (by the benefits
    minter); returns the expiry month."""
    month = month_of(evm.now()) + months_ahead
    evm.send(evm.coin.credit_points_call(to, amount, month), evm.benefits)
    return month


def _to_next_month(evm: Chain, months: int = 1) -> None:
    """Mine a block just after the start of the JST month ``months`` after the current one."""
    evm.mine_at(month_start(month_of(evm.now()) + months) + 1)


def _fund(evm: Chain) -> tuple[int, int]:
    fund = evm.coin.points_fund()
    assert fund.address == evm.coin.address and fund.coins == evm.coin.balance_of(evm.coin.address)
    return fund.coins, fund.reserved


def _transfers(evm: Chain, receipt: object) -> list[tuple[str, str, int]]:
    return [(e["args"]["from"], e["args"]["to"], e["args"]["value"])
            for e in evm.coin.events(receipt, "Transfer")]  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- credits
def test_a_credit_reserves_fund_coins_minting_what_the_fund_lacks(evm: Chain) -> None:
    resident = evm.resident(1_000)
    coins, reserved = _fund(evm)
    supply, allowance = evm.coin.total_supply(), evm.coin.minter_allowance(evm.benefits)
    month = month_of(evm.now()) + 6
    receipt = evm.send(evm.coin.credit_points_call(resident.address, 500, month), evm.benefits)

    (credited,) = evm.coin.events(receipt, "PointsCredited")
    assert (credited["args"]["account"], credited["args"]["amount"]) == (resident.address, 500)
    assert credited["args"]["expiresAt"] == month_start(month + 1)  # the first second they no longer count
    # the fund had no free coins: it minted the 500 it reserves; no Transfer names the resident
    assert _transfers(evm, receipt) == [("0x" + "0" * 40, evm.coin.address, 500)]
    (minted,) = evm.coin.events(receipt, "Minted")
    assert (minted["args"]["minter"], minted["args"]["to"], minted["args"]["amount"]) == (
        evm.benefits, evm.coin.address, 500)
    assert _fund(evm) == (coins + 500, reserved + 500)
    assert evm.coin.total_supply() == supply + 500
    assert evm.coin.minter_allowance(evm.benefits) == allowance - 500
    # points are not coins
    assert evm.coin.balance_of(resident.address) == 1_000
    points = evm.coin.points_of(resident.address)
    assert (points.unexpired, points.expired, points.next_expiry, points.next_amount) == (
        500, 0, month_start(month + 1), 500)
    word = evm.account_word(resident.address)
    assert word.points_by_month() == {month: 500} and word.points_base == month - 6 and word.rest == 0


def test_credits_use_the_funds_free_coins_first_and_always_count_against_the_allowance(evm: Chain) -> None:
    resident = evm.resident()
    _credit(evm, resident.address, 300)  # expires at the end of this month
    _to_next_month(evm)
    evm.send(evm.coin.sweep_expired_points_call([resident.address]), evm.operator)
    coins, reserved = _fund(evm)
    assert coins - reserved >= 300
    allowance, supply = evm.coin.minter_allowance(evm.benefits), evm.coin.total_supply()
    receipt = evm.send(evm.coin.credit_points_call(resident.address, 200, month_of(evm.now())), evm.benefits)
    assert _transfers(evm, receipt) == [] and evm.coin.events(receipt, "Minted") == []  # free coins, no mint
    assert _fund(evm) == (coins, reserved + 200) and evm.coin.total_supply() == supply
    assert evm.coin.minter_allowance(evm.benefits) == allowance - 200


def test_expiry_months_follow_the_180_day_rule(evm: Chain) -> None:
    resident = evm.resident()
    month = expiry_month(evm.now())
    receipt = evm.send(evm.coin.credit_points_call(resident.address, 10, month), evm.benefits)
    (credited,) = evm.coin.events(receipt, "PointsCredited")
    assert credited["args"]["expiresAt"] - evm.now() >= 180 * DAY


@pytest.mark.parametrize("months_ahead", [-1, 7, 100])
def test_an_expiry_outside_the_seven_buckets_is_refused(evm: Chain, months_ahead: int) -> None:
    resident = evm.resident()
    month = month_of(evm.now())
    evm.reverts(evm.coin.credit_points_call(resident.address, 10, month + months_ahead), evm.benefits,
                "RegionalCoinPointsExpiryOutOfRange", expiryMonth=month + months_ahead, currentMonth=month)


def test_credit_refusals(evm: Chain) -> None:
    resident, merchant = evm.resident(), evm.merchant()
    month = month_of(evm.now())
    credit = evm.coin.credit_points_call
    evm.reverts(credit(resident.address, 10, month), evm.operator, "AccessControlUnauthorizedAccount")
    evm.send(evm.coin.grant_role_call("POINTS_ISSUER_ROLE", evm.operator), evm.admin)
    evm.reverts(credit(resident.address, 10, month), evm.operator, "RegionalCoinNotMinter")  # the budget: an allowance
    evm.reverts(credit(resident.address, 10, month), evm.topup, "AccessControlUnauthorizedAccount")  # a minter only
    evm.reverts(credit(resident.address, 0, month), evm.benefits, "RegionalCoinPointsZeroAmount")
    evm.reverts(credit(merchant.address, 10, month), evm.benefits, "RegionalCoinPointsRecipientNotResident")
    evm.reverts(credit(evm.coin.address, 10, month), evm.benefits, "RegionalCoinUnverifiedAccount")
    stranger = "0x" + "12" * 20
    evm.reverts(credit(stranger, 10, month), evm.benefits, "RegionalCoinUnverifiedAccount")
    evm.send(evm.coin.freeze_call(resident.address), evm.operator)
    evm.reverts(credit(resident.address, 10, month), evm.benefits, "RegionalCoinFrozenAccount")
    evm.send(evm.coin.unfreeze_call(resident.address), evm.operator)
    # a bucket holds 2^19 - 1 points
    evm.send(credit(resident.address, 2**19 - 1, month), evm.benefits)
    evm.reverts(credit(resident.address, 1, month), evm.benefits, "RegionalCoinPointsBucketFull",
                account=resident.address, expiryMonth=month)
    evm.send(credit(resident.address, 1, month + 1), evm.benefits)  # the next month is another bucket
    # the allowance is the points budget
    evm.send(evm.coin.configure_minter_call(evm.benefits, 5), evm.admin)
    evm.reverts(credit(resident.address, 6, month + 1), evm.benefits, "RegionalCoinMinterAllowanceExceeded")
    evm.send(evm.coin.pause_call(), evm.admin)
    evm.reverts(credit(resident.address, 5, month + 1), evm.benefits, "EnforcedPause")


# ---------------------------------------------------------------------------- spending
def test_a_payment_to_a_merchant_spends_points_first_earliest_expiry_first(evm: Chain) -> None:
    payer, merchant = evm.resident(1_000), evm.merchant()
    later = _credit(evm, payer.address, 300, months_ahead=2)
    sooner = _credit(evm, payer.address, 200, months_ahead=1)
    coins, reserved = _fund(evm)

    receipt = evm.send(evm.coin.transfer_call(merchant.address, 250), payer)
    # the fund pays the points' part to the payer, then the payment moves ordinary coins to the merchant
    assert _transfers(evm, receipt) == [(evm.coin.address, payer.address, 250), (payer.address, merchant.address, 250)]
    assert evm.coin.balance_of(payer.address) == 1_000 and evm.coin.balance_of(merchant.address) == 250
    assert evm.account_word(payer.address).points_by_month() == {later: 250}  # all 200 of `sooner`, 50 of `later`
    assert _fund(evm) == (coins - 250, reserved - 250)

    # a payment larger than the points: all the points, then coins
    receipt = evm.send(evm.coin.transfer_call(merchant.address, 400), payer)
    assert _transfers(evm, receipt) == [(evm.coin.address, payer.address, 250), (payer.address, merchant.address, 400)]
    assert evm.coin.balance_of(payer.address) == 850 and evm.coin.balance_of(merchant.address) == 650
    assert evm.coin.points_of(payer.address).unexpired == 0 and sooner < later
    # the merchant's coins are ordinary coins: it redeems them
    evm.send(evm.coin.redeem_call(650, random32()), merchant)


def test_points_and_coins_together_pay_what_neither_covers_alone(evm: Chain) -> None:
    payer, merchant = evm.resident(100), evm.merchant()
    _credit(evm, payer.address, 100)
    evm.reverts(evm.coin.transfer_call(merchant.address, 201), payer, "ERC20InsufficientBalance")
    evm.send(evm.coin.transfer_call(merchant.address, 200), payer)
    assert evm.coin.balance_of(payer.address) == 0 and evm.coin.balance_of(merchant.address) == 200


@pytest.mark.parametrize("recipient", ["resident", "city"])
def test_points_never_go_to_a_resident_or_a_city_account(evm: Chain, recipient: str) -> None:
    payer = evm.resident(100, level=RESIDENT_OF_CITY)
    to = evm.resident() if recipient == "resident" else evm.city_account()
    _credit(evm, payer.address, 500)
    # coins alone pay, and the points stay
    receipt = evm.send(evm.coin.transfer_call(to.address, 60), payer)
    assert _transfers(evm, receipt) == [(payer.address, to.address, 60)]
    assert evm.coin.points_of(payer.address).unexpired == 500
    # beyond the coins the points would be needed: refused with the points' own error
    evm.reverts(evm.coin.transfer_call(to.address, 41), payer, "RegionalCoinPointsNotTransferable",
                account=payer.address, coins=40, value=41)
    auth = evm.sign(payer, to.address, 41)
    assert evm.coin.screen_batch([auth], evm.operator) == [SkipReason.POINTS_NOT_TRANSFERABLE]
    # more than coins and points together: the plain shortage
    evm.reverts(evm.coin.transfer_call(to.address, 541), payer, "ERC20InsufficientBalance")


def test_the_fund_cannot_be_paid_into_and_residents_cannot_redeem_points(evm: Chain) -> None:
    payer = evm.resident(100)
    _credit(evm, payer.address, 100)
    evm.reverts(evm.coin.transfer_call(evm.coin.address, 10), payer, "RegionalCoinUnverifiedAccount",
                account=evm.coin.address)
    evm.reverts(evm.coin.redeem_call(10, random32()), payer, "RegionalCoinTransferNotAllowed")


def test_a_relayed_payment_spends_points_like_a_direct_one(evm: Chain) -> None:
    payer, merchant = evm.resident(50), evm.merchant()
    _credit(evm, payer.address, 120)
    auth = evm.sign(payer, merchant.address, 150)
    assert evm.coin.screen_batch([auth], evm.operator) == [SkipReason.NONE]
    receipt = evm.send(evm.coin.batch_call([auth]), evm.operator)
    assert [r.reason for r in evm.coin.batch_outcomes(receipt, [auth])] == [SkipReason.NONE]
    assert _transfers(evm, receipt) == [(evm.coin.address, payer.address, 120), (payer.address, merchant.address, 150)]
    assert evm.coin.balance_of(payer.address) == 20 and evm.coin.points_of(payer.address).unexpired == 0


# ---------------------------------------------------------------------------- expiry and sweep
def test_points_stop_counting_at_the_start_of_the_month_after_their_expiry(evm: Chain) -> None:
    payer, merchant = evm.resident(10), evm.merchant()
    month = _credit(evm, payer.address, 100)
    evm.mine_at(month_start(month + 1) - 10)  # the month's last seconds
    assert evm.coin.screen_batch([evm.sign(payer, merchant.address, 110)], evm.operator) == [SkipReason.NONE]
    evm.mine_at(month_start(month + 1))
    points = evm.coin.points_of(payer.address)
    assert (points.unexpired, points.expired, points.next_expiry) == (0, 100, 0)
    evm.reverts(evm.coin.transfer_call(merchant.address, 110), payer, "RegionalCoinPointsExpired",
                account=payer.address, available=10, value=110)
    assert evm.coin.screen_batch([evm.sign(payer, merchant.address, 110)], evm.operator) == [
        SkipReason.POINTS_EXPIRED]
    evm.send(evm.coin.transfer_call(merchant.address, 10), payer)  # the coins still pay


def test_the_sweep_gives_expired_points_back_to_the_fund_once(evm: Chain) -> None:
    first, second, untouched = evm.resident(), evm.resident(), evm.resident()
    _credit(evm, first.address, 100)
    _credit(evm, first.address, 40, months_ahead=3)
    _credit(evm, second.address, 70)
    _credit(evm, untouched.address, 5, months_ahead=1)
    _to_next_month(evm)
    coins, reserved = _fund(evm)

    accounts = [first.address, second.address, untouched.address, evm.resident().address]
    swept = evm.coin.simulate(evm.coin.sweep_expired_points_call(accounts), evm.operator)
    assert int.from_bytes(swept, "big") == 170
    receipt = evm.send(evm.coin.sweep_expired_points_call(accounts), evm.operator)  # anyone may send it
    expired = {e["args"]["account"]: e["args"]["amount"] for e in evm.coin.events(receipt, "PointsExpired")}
    assert expired == {first.address: 100, second.address: 70}
    assert _fund(evm) == (coins, reserved - 170)  # the coins stay in the fund, now free
    assert evm.coin.points_of(first.address).unexpired == 40 and evm.coin.points_of(untouched.address).unexpired == 5
    word = evm.account_word(first.address)
    assert word.points_base == month_of(evm.now()) and word.points_by_month() == {month_of(evm.now()) + 2: 40}

    again = evm.send(evm.coin.sweep_expired_points_call(accounts), evm.operator)
    assert again["logs"] == [] and _fund(evm) == (coins, reserved - 170)


def test_points_older_than_every_bucket_all_expire(evm: Chain) -> None:
    resident = evm.resident()
    _credit(evm, resident.address, 10, months_ahead=6)
    _to_next_month(evm, 9)
    assert evm.coin.points_of(resident.address).expired == 10
    evm.send(evm.coin.sweep_expired_points_call([resident.address]), evm.operator)
    assert evm.account_word(resident.address).buckets == (0,) * 7
    # a new credit starts from the current month
    month = _credit(evm, resident.address, 3, months_ahead=6)
    assert evm.account_word(resident.address).points_by_month() == {month: 3}


def test_a_credit_sweeps_the_recipients_expired_points(evm: Chain) -> None:
    resident = evm.resident()
    _credit(evm, resident.address, 100)
    _to_next_month(evm)
    _, reserved = _fund(evm)
    month = month_of(evm.now())
    receipt = evm.send(evm.coin.credit_points_call(resident.address, 30, month), evm.benefits)
    (expired,) = evm.coin.events(receipt, "PointsExpired")
    assert expired["args"]["amount"] == 100
    assert evm.coin.events(receipt, "Minted") == []  # the expired 100 are free again: they back the new 30
    assert _fund(evm)[1] == reserved - 100 + 30
    assert evm.account_word(resident.address).points_by_month() == {month: 30}


# ---------------------------------------------------------------------------- recovery
def _recover(evm: Chain, lost: LocalAccount, successor: LocalAccount) -> object:
    evm.send(evm.coin.freeze_as_lost_call(lost.address), evm.operator)
    return evm.recover(lost.address, successor.address)


def _revoked_with_points(evm: Chain, amount: int, months_ahead: int) -> LocalAccount:
    """A wallet that got points and was then revoked: it may become a recovery's successor (with its points)."""
    wallet = evm.resident()
    _credit(evm, wallet.address, amount, months_ahead)
    evm.send(evm.registry.revoke_call(wallet.address), evm.operator)
    return wallet


def test_a_recovery_moves_the_unexpired_points_with_their_months(evm: Chain) -> None:
    lost = evm.resident(100)
    kept = _credit(evm, lost.address, 80, months_ahead=2)
    _credit(evm, lost.address, 20, months_ahead=0)
    successor = _revoked_with_points(evm, 5, months_ahead=2)
    _to_next_month(evm)  # the 20 expire before the recovery runs
    _, reserved = _fund(evm)
    receipt = _recover(evm, lost, successor)
    (moved,) = evm.coin.events(receipt, "PointsRecovered")
    assert (moved["args"]["lostWallet"], moved["args"]["successor"], moved["args"]["amount"]) == (
        lost.address, successor.address, 80)
    (expired,) = evm.coin.events(receipt, "PointsExpired")
    assert (expired["args"]["account"], expired["args"]["amount"]) == (lost.address, 20)
    assert evm.account_word(successor.address).points_by_month() == {kept: 85}
    assert evm.account_word(lost.address).buckets == (0,) * 7
    assert evm.coin.balance_of(successor.address) == 100 and _fund(evm)[1] == reserved - 20


def test_a_recovery_that_would_overflow_a_bucket_reverts_and_stays_pending(evm: Chain) -> None:
    lost = evm.resident()
    _credit(evm, lost.address, 2**18, months_ahead=1)
    successor = _revoked_with_points(evm, 2**18, months_ahead=1)
    evm.send(evm.coin.freeze_as_lost_call(lost.address), evm.operator)
    evm.request_recovery(lost.address, successor.address)
    evm.advance(evm.coin.recovery_delay())
    evm.reverts(evm.coin.execute_recovery_call(lost.address), evm.operator, "RegionalCoinPointsBucketFull",
                account=successor.address)
    assert evm.coin.pending_recovery(lost.address).pending
